"""The local runner: write a corpus into sharded TFRecords with this machine's process pool.

Items are built in worker processes (tfemo.records.example) and written shard by shard, every
item once (tfemo.records.plan). Each shard's entries, then the shard itself, are written under
a temporary name and renamed when complete, and the ledger (`.progress.json`) records the
finished shards, so a run that is killed and started again skips what is done and ends with
the same files as an uninterrupted run. `records.json`, then each fold's partition
(tfemo.records.partitions), are written last.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tfemo.core import storage
from tfemo.core.errors import InputError, UserError
from tfemo.core.parallel import ordered_map
from tfemo.corpora.base import Corpus, Item
from tfemo.corpora.partition import Fold
from tfemo.records.description import DatasetDescription
from tfemo.records.example import BuildOptions, BuildResult, build_serialized
from tfemo.records.partitions import remove_other_views, write_partition
from tfemo.records.plan import (
    EXAMPLES,
    MakeOptions,
    RunReport,
    Skip,
    check_folds,
    describe_records,
    fingerprint,
    item_entry,
    load_progress,
    pending_shards,
    plan_run,
    save_progress,
    skip_entry,
    write_entries,
    write_records_file,
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
                   folds: Sequence[Fold] | None = None,
                   ) -> tuple[DatasetDescription, RunReport]:
    """Write `corpus` (for `options.task`) to `output_dir` once, then each fold's partition;
    return the first fold's description (`report.views` has them all).

    `items` replaces the corpus's own items; `folds` are partitions of them (default: one,
    the items' own portions). on_progress(n) is called as n more items are done; on_skip for
    each skipped item. With `strict`, the first bad input raises InputError after the
    finished shards are kept.
    """
    started = time.perf_counter()
    check_local_output(output_dir)
    output_dir = Path(output_dir)
    run = plan_run(corpus, options, items)
    folds = check_folds(corpus, run, folds)
    progress = load_progress(output_dir, fingerprint(corpus, run.items, options,
                                                     run.vectors_name))
    report = RunReport()
    remove_stale_temp_files(output_dir / EXAMPLES)
    todo, done = pending_shards(run, output_dir, progress)
    report.reused_shards = len(done)
    if on_progress:
        for _, plan in done:
            on_progress(len(plan.items))

    results = _build_all([it for _, plan in todo for it in plan.items], run.build_options,
                         run.table, workers)
    try:
        for key, plan in todo:
            serialized, entries, skips = [], [], []
            for item in plan.items:
                outcome = next(results)
                if isinstance(outcome, InputError):
                    skip = Skip(item.id, outcome.path, outcome.reason, outcome.detail)
                    if strict:
                        raise outcome
                    skips.append(skip_entry(item, skip))
                    if on_skip:
                        on_skip(skip)
                else:
                    data, result = outcome
                    serialized.append(data)
                    entries.append(item_entry(item, result, run.oov))
                    report.stage_seconds.update(result.stage_seconds)
                if on_progress:
                    on_progress(1)
            write_started = time.perf_counter()
            write_entries(output_dir, key, entries, skips)
            write_shard(serialized, output_dir / key)
            report.stage_seconds["write"] += time.perf_counter() - write_started
            progress["shards"].append(key)
            save_progress(output_dir, progress)
            report.written_shards += 1
    finally:
        results.close()

    base = describe_records(corpus, run, options, command)
    write_records_file(output_dir, base)
    remove_other_views(output_dir, folds)
    report.views = write_partition(output_dir, folds, base=base)
    report.wall_seconds = time.perf_counter() - started
    return report.views[0][2], report


# --- building in workers -----------------------------------------------------------------

_worker_state: dict = {}


def _init_worker(options: BuildOptions, table: dict) -> None:
    """Give a worker process the run's options and word vectors once."""
    _worker_state["options"], _worker_state["table"] = options, table


def _build_one(item: Item) -> tuple[bytes, BuildResult] | InputError:
    """Build and serialize one item in a worker; a bad input comes back as its error."""
    return build_serialized(item, _worker_state["options"], _worker_state["table"])


def _build_all(items: list[Item], options: BuildOptions, table: dict,
               workers: int) -> Iterator[tuple[bytes, BuildResult] | InputError]:
    """Outcomes of `items` in order, built by `workers` processes with a bounded look-ahead."""
    return ordered_map(_build_one, items, workers, _init_worker, (options, table))
