"""Write the records with an Apache Beam pipeline: the local writer's output, on any Beam runner.

The launcher plans the run with tfemo.records.plan, as the local runner does (`plan_run`:
items, shards, word vectors, build options; the ledger of finished shards), and hands the
pipeline only what is still to be written:

    staged files of each shard's items -> (shard, item) pairs, reshuffled over the workers
    -> BuildFn: build_serialized, the local writer's item-to-example code; bad items
        (InputError) go to the tagged output "skipped"
    -> CoGroupByKey by shard -> WriteShardFn: sort by item id, write the shard's entries
        (tfemo.records.plan) and then the shard under a temporary name, renamed when
        complete (writer.write_shard).

The launcher then records the finished shards (.progress.json), writes records.json and each
fold's partition (tfemo.records.partitions) from the entries, as the local runner does.

Locally it runs on the DirectRunner (multi_processing, `workers` SDK workers); pipeline options
alone move it to Dataflow, Flink or Spark (docs/scaling.md). The output folder (shards,
.progress.json, description.json) and the staging folder in it (`.beam-staging-<pid>/`) are
written through tfemo.core.storage: a local path every worker sees, or a tf.io.gfile URL
(gs://; ram:// in tests; any scheme tf.io.gfile has registered) with the same temp names,
renames, resume and clean-up. The corpus is read on the launcher only; its audio and label
files are local paths a worker must see too, unless `stage_inputs` (the default for a URL
output) puts them into the staging folder (tfemo.records.staging) for workers that cannot see
them, like Dataflow's.
"""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tfemo.core import storage
from tfemo.core.errors import InputError, TfemoError
from tfemo.core.storage import Location
from tfemo.corpora.base import Corpus, Item
from tfemo.corpora.partition import Fold
from tfemo.records.description import DatasetDescription
from tfemo.records.example import BuildOptions, BuildResult, build_serialized
from tfemo.records.partitions import remove_other_views, write_partition
from tfemo.records.plan import (
    EXAMPLES,
    MakeOptions,
    RunPlan,
    RunReport,
    ShardPlan,
    Skip,
    as_skip,
    check_folds,
    describe_records,
    fingerprint,
    item_entry,
    load_progress,
    pending_shards,
    plan_run,
    read_entries,
    save_progress,
    skip_entry,
    write_entries,
    write_records_file,
)
from tfemo.records.staging import StagedItem, build_staged, stage_items
from tfemo.records.writer import remove_stale_temp_files, write_shard

try:  # an extra: pip install "tfemo[beam]" (tools/install.sh installs it)
    import apache_beam as beam
    from apache_beam.metrics import Metrics
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions
except ImportError:  # pragma: no cover - reported by make_tfrecords_beam
    beam = None

METRICS_NAMESPACE = "tfemo.records"
STAGING_PREFIX = ".beam-staging-"  # <output_dir>/.beam-staging-<pid>/: items and vectors
SKIPPED = "skipped"
_MICROSECONDS = 1e6


def beam_available() -> bool:
    """Whether apache-beam is installed (the `beam` extra)."""
    return beam is not None


def default_options(workers: int) -> list[str]:
    """The DirectRunner with `workers` processes; options given later override these."""
    return ["--runner=DirectRunner", "--direct_running_mode=multi_processing",
            f"--direct_num_workers={max(1, workers)}", "--default_sdk_harness_log_level=WARNING"]


@dataclass(frozen=True)
class _Built:
    """One item built in a worker, on its way to its shard."""

    item: Item
    data: bytes
    result: BuildResult


if beam is not None:

    class BuildFn(beam.DoFn):
        """Item -> serialized example (main output) or Skip (tagged output "skipped")."""

        def __init__(self, options: BuildOptions, table_file: str) -> None:
            self.options, self.table_file, self.table = options, table_file, None

        def setup(self) -> None:
            self.table = _read_staged(self.table_file)

        def process(self, element: tuple[str, Item | StagedItem]) -> Iterator:
            shard, item = element
            if isinstance(item, StagedItem):  # its inputs come from the staging folder
                outcome = build_staged(item, self.options, self.table)
                item = item.item
            else:
                outcome = build_serialized(item, self.options, self.table)
            if isinstance(outcome, InputError):
                skip = Skip(item.id, outcome.path, outcome.reason, outcome.detail)
                yield beam.pvalue.TaggedOutput(SKIPPED, (shard, skip_entry(item, skip)))
                return
            data, result = outcome
            for stage, seconds in result.stage_seconds.items():
                Metrics.counter(METRICS_NAMESPACE, stage).inc(round(seconds * _MICROSECONDS))
            yield shard, _Built(item, data, result)

    class WriteShardFn(beam.DoFn):
        """One shard's built items and skips -> its entries and the shard file; its key."""

        def __init__(self, output_dir: str, oov: set[str]) -> None:
            self.output_dir, self.oov = output_dir, oov

        def process(self, element: tuple[str, dict[str, Iterable]]) -> Iterator:
            shard, groups = element
            output_dir = storage.location(self.output_dir)
            built = sorted(groups["built"], key=lambda b: b.item.id)  # the plan's order
            skips = sorted(groups[SKIPPED], key=lambda s: s["item_id"])
            started = time.perf_counter()
            write_entries(output_dir, shard,
                          [item_entry(b.item, b.result, self.oov) for b in built], skips)
            write_shard([b.data for b in built], storage.join(output_dir, shard))
            Metrics.counter(METRICS_NAMESPACE, "write").inc(
                round((time.perf_counter() - started) * _MICROSECONDS))
            Metrics.counter(METRICS_NAMESPACE, "shards_written").inc()
            yield shard


def _stage(path: Location, value: object) -> str:
    """Pickle `value` to `path` (in the output folder, which every worker sees)."""
    storage.write_bytes(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    return str(path)


def _read_staged(path: str) -> object:
    """What `_stage` wrote (files this run made itself)."""
    return pickle.loads(storage.read_bytes(path))


def _shard_items(element: tuple[str, str]) -> Iterator[tuple[str, Item | StagedItem]]:
    """(shard, staged file of its items) -> (shard, item) for each item."""
    shard, path = element
    for item in _read_staged(path):
        yield shard, item


def build_pipeline(pipeline: beam.Pipeline, run: RunPlan, output_dir: Location,
                   todo: list[tuple[str, ShardPlan]], staging: Location,
                   stage_inputs: bool = False) -> None:
    """Add the record-writing transforms to `pipeline` (see the module docstring).

    The items and the word-vector table reach the workers as files in `staging` (one per shard,
    and one table), so the pipeline itself holds paths only, whatever the corpus's size. With
    `stage_inputs`, each item's audio and labels go there too (`inputs/<n>/`, StagedItem).
    """
    table_file = _stage(storage.join(staging, "vectors.pkl"), run.table)
    staged, first = [], 0
    for number, (relative, plan) in enumerate(todo):
        items = plan.items
        if stage_inputs:
            items = stage_items(plan.items, storage.join(staging, "inputs"), first)
            first += len(items)
        staged.append((relative, _stage(storage.join(staging, f"items-{number:06d}.pkl"),
                                        items)))
    built = (pipeline | "Items" >> beam.Create(staged)
             | "ReadItems" >> beam.FlatMap(_shard_items)
             | "Spread" >> beam.Reshuffle()  # a shard's items go to many workers
             | "Build" >> beam.ParDo(BuildFn(run.build_options, table_file)).with_outputs(
                 SKIPPED, main="built"))
    shards = pipeline | "Shards" >> beam.Create([(relative, None) for relative, _ in todo])
    _ = ({"shard": shards, "built": built.built, SKIPPED: built[SKIPPED]}
         | "ByShard" >> beam.CoGroupByKey()
         | "WriteShards" >> beam.ParDo(WriteShardFn(str(output_dir), run.oov)))


def make_tfrecords_beam(corpus: Corpus, output_dir: str | Path, options: MakeOptions, *,
                        workers: int = 1, beam_options: Sequence[str] = (),
                        strict: bool = False, command: Sequence[str] = (),
                        on_progress: Callable[[int], None] | None = None,
                        on_skip: Callable[[Skip], None] | None = None,
                        items: Sequence[Item] | None = None,
                        folds: Sequence[Fold] | None = None,
                        stage_inputs: bool | None = None,
                        ) -> tuple[DatasetDescription, RunReport]:
    """`build.make_tfrecords` on Apache Beam: the same files, partitions and skip reports.

    `output_dir` is a local folder or a tf.io.gfile URL (gs://...). `beam_options` are
    pipeline options appended to the DirectRunner defaults (so `--runner DataflowRunner ...`
    replaces them). Finished shards of an earlier run with the same fingerprint are kept, as
    by the local writer. `stage_inputs` copies the items' audio (and reads their labels) into
    the staging folder for workers that cannot see the corpus; None: when `output_dir` is a
    URL. `strict` is refused: a pipeline does not stop at the first bad item.
    """
    if beam is None:
        raise TfemoError("--runner beam needs apache-beam: pip install 'tfemo[beam]' "
                         "(tools/install.sh installs it)")
    if strict:
        raise TfemoError("--strict works with --runner local only; with --runner beam bad "
                         "items are reported and skipped")
    started = time.perf_counter()
    output_dir = storage.absolute(output_dir)
    if stage_inputs is None:
        stage_inputs = storage.is_url(output_dir)
    run = plan_run(corpus, options, items)
    folds = check_folds(corpus, run, folds)
    key = fingerprint(corpus, run.items, options, run.vectors_name)
    progress = load_progress(output_dir, key)
    remove_stale_temp_files(storage.join(output_dir, EXAMPLES))
    for stale in storage.glob(output_dir, f"{STAGING_PREFIX}*"):  # a killed run's staging
        storage.rmtree(stale)
    todo, done = pending_shards(run, output_dir, progress)
    if on_progress:
        for _, plan in done:
            on_progress(len(plan.items))

    pipeline_options = PipelineOptions([*default_options(workers), *beam_options])
    pipeline = beam.Pipeline(options=pipeline_options)
    staging = storage.join(output_dir, f"{STAGING_PREFIX}{os.getpid()}")
    try:
        build_pipeline(pipeline, run, output_dir, todo, staging, stage_inputs)
        result = pipeline.run()
        result.wait_until_finish()
    finally:
        storage.rmtree(staging)

    for relative, plan in todo:
        if not storage.isfile(storage.join(output_dir, relative)):
            raise TfemoError(f"{output_dir}: the pipeline wrote no {relative}")
        for skip in read_entries(output_dir, relative)["skipped"]:
            if on_skip:
                on_skip(as_skip(skip))
        if on_progress:
            on_progress(len(plan.items))
    progress["shards"] = [*progress["shards"], *(relative for relative, _ in todo)]
    save_progress(output_dir, progress)
    base = describe_records(corpus, run, options, command)
    write_records_file(output_dir, base)
    report = RunReport(written_shards=len(todo), reused_shards=len(done))
    remove_other_views(output_dir, folds)
    report.views = write_partition(output_dir, folds, base=base)
    report.stage_seconds.update(stage_seconds(result))
    report.wall_seconds = time.perf_counter() - started
    return report.views[0][2], report


def stage_seconds(result: beam.runners.runner.PipelineResult) -> dict[str, float]:
    """Seconds per build stage summed over the workers (the pipeline's counters)."""
    counters = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    seconds = {}
    for counter in counters["counters"]:
        name = counter.key.metric.name
        value = counter.committed if counter.committed is not None else counter.attempted
        if name != "shards_written":
            seconds[name] = seconds.get(name, 0.0) + value / _MICROSECONDS
    return seconds


__all__ = ["beam_available", "build_pipeline", "default_options", "make_tfrecords_beam",
           "stage_seconds"]
