#!/usr/bin/env python
"""Benchmark the ways past one process: records (local writer against Beam's DirectRunner).

Records: the demo corpus written by the local writer and by `--runner beam` (DirectRunner,
multi_processing) with 1 and 2 workers, in one session, each against the local writer with the
same number of workers and against the local writer with 1 worker; every Beam output is checked
byte for byte against the local writer's. A second table gives each build stage's speed per
core (seconds of audio per second of one worker's time) from the local 1-worker run: the
figures docs/scaling.md sizes a Dataflow job with.

    python benchmarks/scale.py [--task continuous] [--alignment aeneas] [--workers 1,2]
                               [--limit N]
"""

from __future__ import annotations

import tfemo.core.quiet  # noqa: F401  (before TensorFlow loads)

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tfemo.corpora.base import TASKS
from tfemo.corpora.demo import DemoCorpus, ensure_demo_corpus
from tfemo.records.beam_pipeline import make_tfrecords_beam
from tfemo.records.build import MakeOptions, make_tfrecords
from tfemo.records.example import ALIGNMENTS

STAGES = ("load", "features", "align", "embed", "labels", "serialize", "write")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (pool and SDK workers, espeak)."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def records_runs(corpus: DemoCorpus, options: MakeOptions, workers: list[int], limit: int | None,
                 scratch: Path) -> list[dict]:
    """Write the records with every (writer, workers) pair; wall time, report, same bytes."""
    items = corpus.items(options.task)[:limit] if limit else None
    runs, reference = [], None
    for count in workers:
        for writer in ("local", "beam"):
            output = scratch / f"{writer}-{count}"
            started, cpu = time.perf_counter(), cpu_seconds()
            if writer == "local":
                description, report = make_tfrecords(corpus, output, options, workers=count,
                                                     command=["bench"], items=items)
            else:
                description, report = make_tfrecords_beam(corpus, output, options,
                                                           workers=count, command=["bench"],
                                                           items=items)
            wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
            files = _files(output)
            reference = reference or files
            runs.append({"writer": writer, "workers": count, "wall": wall, "cpu": cpu,
                         "report": report,
                         "audio": sum(p["seconds"] for p in description.portions.values()),
                         "same": files == reference})
    return runs


def records_table(runs: list[dict], title: str) -> Table:
    """One row per run: throughput and ratios against the local writer."""
    table = Table(title=title)
    for column in ("writer", "workers", "audio (min)", "wall (s)", "audio s / wall s",
                   "vs local, same workers", "vs local, 1 worker", "CPU (s)", "audio s / CPU s",
                   "same bytes as local"):
        table.add_column(column, justify="left" if column == "writer" else "right")
    local = {r["workers"]: r["audio"] / r["wall"] for r in runs if r["writer"] == "local"}
    for run in runs:
        rate = run["audio"] / run["wall"]
        name = run["writer"]
        table.add_row(name, str(run["workers"]), f"{run['audio'] / 60:.1f}", f"{run['wall']:.1f}",
                      f"{rate:.1f}", f"{rate / local[run['workers']]:.2f} x",
                      f"{rate / local[min(local)]:.2f} x", f"{run['cpu']:.1f}",
                      f"{run['audio'] / run['cpu']:.1f}", "yes" if run["same"] else "NO")
    return table


def stage_table(run: dict, title: str) -> Table:
    """Per stage: wall seconds inside it, its share, and seconds of audio per second of a core.

    Two per-core figures: audio over the stage's wall seconds (inflated by other processes
    on the cores), and audio over the stage's share of the run's CPU seconds (what sizes a
    cluster; it also charges the run's overhead, word vectors and planning, to the stages).
    """
    table = Table(title=title)
    for column in ("stage", "worker s", "share", "x real time per core (wall)",
                   "x real time per CPU s"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    stage_seconds = run["report"].stage_seconds
    total = sum(stage_seconds[s] for s in STAGES)
    for stage in STAGES:
        seconds = stage_seconds[stage]
        if seconds:
            share = seconds / total
            table.add_row(stage, f"{seconds:.2f}", f"{100 * share:.1f} %",
                          f"{run['audio'] / seconds:.0f}",
                          f"{run['audio'] / (share * run['cpu']):.0f}")
    table.add_row("all stages", f"{total:.2f}", "100 %", f"{run['audio'] / total:.1f}",
                  f"{run['audio'] / run['cpu']:.1f}")
    return table


# --- training rows -------------------------------------------------------------------------
# Issue 16, item 2: `tfemo.train --strategy default|mirrored|multi_worker` is being written
# separately. Its rows (steps per second with 1 and 2 workers on this 2-core machine, ratios
# against 1 worker) go in a `training_runs` / `training_table` pair here, printed after the
# records tables in main().
# -------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=TASKS, default="continuous")
    parser.add_argument("--alignment", choices=ALIGNMENTS, default="aeneas",
                        help="aeneas (default) runs every stage; auto uses the demo's timings")
    parser.add_argument("--workers", default="1,2", help="worker counts to run, comma-separated")
    parser.add_argument("--limit", type=int, default=None, help="only the first N items")
    args = parser.parse_args()
    console = Console(width=140)
    corpus = DemoCorpus(ensure_demo_corpus())
    options = MakeOptions(task=args.task, alignment=args.alignment)
    workers = [int(w) for w in args.workers.split(",")]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        runs = records_runs(corpus, options, workers, args.limit, Path(scratch))
    load_after = os.getloadavg()[0]
    console.print(records_table(runs, f"records: demo corpus, {args.task} task, --alignment "
                                      f"{args.alignment} ({os.cpu_count()} cores)"))
    baseline = runs[0]
    console.print(stage_table(baseline, f"build stages, local writer, {baseline['workers']} "
                                        "worker"))
    console.print("(beam: --runner beam on the DirectRunner, --direct_running_mode "
                  "multi_processing, --direct_num_workers = workers; each run starts its own "
                  "SDK workers. Stage seconds are wall time inside each stage, so they grow "
                  "when other processes share the cores; CPU (s) does not. 1-minute load "
                  f"average {load_before:.1f} before, {load_after:.1f} after.)")


if __name__ == "__main__":
    main()
