"""The local runner: write a corpus into sharded TFRecords with this machine's process pool.

Items are built in worker processes (tfemo.records.example) and written shard by shard. Each
shard is written under a temporary name and renamed when complete, and the ledger
(tfemo.records.plan, `.progress.json`) records the finished shards with their statistics, so a
run that is killed and started again skips what is done and ends with the same files as an
uninterrupted run. The description is written last.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tfemo.core import storage
from tfemo.core.errors import InputError, UserError
from tfemo.core.parallel import ordered_map
from tfemo.corpora.base import Corpus, Item
from tfemo.records.description import DatasetDescription, description_path
from tfemo.records.example import BuildOptions, BuildResult, build_serialized
from tfemo.records.plan import (
    MakeOptions,
    RunReport,
    Skip,
    add_skip,
    add_to_record,
    describe,
    empty_record,
    fingerprint,
    load_progress,
    pending_shards,
    plan_run,
    save_progress,
)
from tfemo.records.writer import remove_stale_temp_files, write_shard

__all__ = ["MakeOptions", "RunReport", "Skip", "check_local_output", "make_tfrecords"]


def check_local_output(output_dir: str | Path) -> None:
    """The local writer writes local folders only; a URL (gs://...) needs the Beam pipeline."""
    if storage.is_url(output_dir):
        raise UserError(f"--output_dir {output_dir}: the local runner writes to local folders "
                        "only", "use --runner beam to write to gs:// and other URLs")


def make_tfrecords(corpus: Corpus, output_dir: str | Path, options: MakeOptions, *,
                   workers: int = 1, strict: bool = False, command: Sequence[str] = (),
                   on_progress: Callable[[int], None] | None = None,
                   on_skip: Callable[[Skip], None] | None = None,
                   items: Sequence[Item] | None = None,
                   ) -> tuple[DatasetDescription, RunReport]:
    """Write `corpus` (for `options.task`) to `output_dir`; return its description.

    `items` replaces the corpus's own items (a fold of a partition protocol). on_progress(n)
    is called as n more items are done; on_skip for each skipped item. With `strict`, the
    first bad input raises InputError after the finished shards are kept.
    """
    started = time.perf_counter()
    check_local_output(output_dir)
    output_dir = Path(output_dir)
    run = plan_run(corpus, options, items)
    progress = load_progress(output_dir, fingerprint(corpus, run.items, options,
                                                     run.vectors_name))
    report = RunReport()
    for portion in {p.portion for p in run.plans}:
        remove_stale_temp_files(output_dir / portion)
    todo, done = pending_shards(run, output_dir, progress)
    report.reused_shards = len(done)
    if on_progress:
        for key in done:
            on_progress(done[key]["examples"] + len(done[key]["skipped"]))

    results = _build_all([it for _, plan in todo for it in plan.items], run.build_options,
                         run.table, workers)
    try:
        for key, plan in todo:
            serialized, record = [], empty_record()
            for item in plan.items:
                outcome = next(results)
                if isinstance(outcome, InputError):
                    skip = Skip(item.id, outcome.path, outcome.reason, outcome.detail)
                    if strict:
                        raise outcome
                    add_skip(record, skip)
                    if on_skip:
                        on_skip(skip)
                else:
                    data, result = outcome
                    serialized.append(data)
                    add_to_record(record, item, result, run.oov)
                    report.stage_seconds.update(result.stage_seconds)
                if on_progress:
                    on_progress(1)
            write_started = time.perf_counter()
            write_shard(serialized, output_dir / key)
            report.stage_seconds["write"] += time.perf_counter() - write_started
            progress["shards"][key] = record
            save_progress(output_dir, progress)
            report.written_shards += 1
    finally:
        results.close()

    description = describe(corpus, run, options, progress, output_dir, command)
    description.write(description_path(output_dir))
    report.wall_seconds = time.perf_counter() - started
    return description, report


# --- building in workers -----------------------------------------------------------------

_worker_state: dict = {}


def _init_worker(options: BuildOptions, table: dict) -> None:
    """Give a worker process the run's options and word vectors once."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _worker_state["options"], _worker_state["table"] = options, table


def _build_one(item: Item) -> tuple[bytes, BuildResult] | InputError:
    """Build and serialize one item in a worker; a bad input comes back as its error."""
    return build_serialized(item, _worker_state["options"], _worker_state["table"])


def _build_all(items: list[Item], options: BuildOptions, table: dict,
               workers: int) -> Iterator[tuple[bytes, BuildResult] | InputError]:
    """Outcomes of `items` in order, built by `workers` processes with a bounded look-ahead."""
    return ordered_map(_build_one, items, workers, _init_worker, (options, table))
