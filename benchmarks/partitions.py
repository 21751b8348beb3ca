#!/usr/bin/env python
"""Folds as views: wall time and bytes of make_tfrecords for one partition and for LOSO.

Runs `python -m tfemo.make_tfrecords` on a corpus (EMO-DB by default, the issue's command:
no word vectors, eight feature families) once with `--partition official` (a single
partition) and once with `--partition loso`, for this tree and, with `--baseline_tree`, for
another checkout of tfemo (e.g. the commit before partitions became views), each in a fresh
output folder, and prints a table: wall seconds, bytes on disk, and LOSO over the single
partition. Targets (issue 21): LOSO at most 1.5 x a single partition, and at most 40 s on
2 cores.

    nice -n 10 python benchmarks/partitions.py --baseline_tree /tmp/old-tfemo
    nice -n 10 python benchmarks/partitions.py --kill 5    # the kill test instead

`--kill N`: build LOSO once uninterrupted (`--kill_shard` examples to a shard), then N times:
start the same build in a fresh folder, SIGKILL it (and its workers) at a random moment
between the first shard's entries and the last partition file of the uninterrupted build
(most of a run is starting up: importing TensorFlow in the command and its workers), run it
again to the end, and compare every file with the uninterrupted build's (the recorded command
names the output folder, so it is left out of the comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parents[1]
FEATURES = "zcr,rms,mfcc,chroma,mel_db,contrast,entropy,pitch"


def disk_bytes(folder: Path) -> int:
    """Bytes of every file under `folder`."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def command_of(partition: str, args: argparse.Namespace, output: Path,
               *extra: str) -> list[str]:
    """The make_tfrecords command line of one run."""
    return [sys.executable, "-m", "tfemo.make_tfrecords", "--corpus", args.corpus,
            "--data_dir", str(args.data_dir), "--partition", partition, "--embeddings",
            "none", "--features", args.features, "--output_dir", str(output), "--workers",
            str(args.workers), "--quiet", *extra]


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file's bytes; JSON without its `command` (it names the output folder)."""
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name in ("description.json", "records.json"):
            parsed = json.loads(data)
            parsed.pop("command")
            data = json.dumps(parsed, sort_keys=True).encode()
        found[path.relative_to(folder).as_posix()] = data
    return found


def kill_test(args: argparse.Namespace) -> None:
    """SIGKILL a LOSO build at random moments, rerun it, compare with an uninterrupted one."""
    table = Table(title=f"make_tfrecords --corpus {args.corpus} --partition loso: SIGKILL at a "
                        "random moment, then a rerun")
    for column in ("attempt", "killed after (s)", "shards before rerun", "partitions before",
                   "files", "identical"):
        table.add_column(column, justify="right")
    rng = random.Random(args.seed)
    extra = ("--examples_per_shard", str(args.kill_shard))
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    with tempfile.TemporaryDirectory(prefix="partitions-kill-") as folder:
        whole = Path(folder) / "whole"
        started = time.time()
        subprocess.run(command_of("loso", args, whole, *extra), env=env, cwd=HERE, check=True,
                       stdout=subprocess.DEVNULL)
        times = [p.stat().st_mtime - started for p in whole.rglob("*") if p.is_file()]
        first = min(p.stat().st_mtime for p in whole.glob("examples/*.items.json")) - started
        window = (max(first - 1.0, 0.0), max(times))
        expected = files_of(whole)
        same = 0
        for attempt in range(1, args.kill + 1):
            output = Path(folder) / f"killed-{attempt}"
            command = command_of("loso", args, output, *extra)
            process = subprocess.Popen(command, env=env, cwd=HERE, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True)
            delay = rng.uniform(*window)
            time.sleep(delay)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            shards = len(list(output.glob("examples/*.tfrecord")))
            views = len(list(output.glob("fold-*/description.json")))
            subprocess.run(command, env=env, cwd=HERE, check=True, stdout=subprocess.DEVNULL)
            found = files_of(output)
            identical = found == expected
            same += identical
            table.add_row(str(attempt), f"{delay:.1f}", str(shards), str(views),
                          str(len(found)), "yes" if identical else "NO")
    Console(width=140).print(table)
    print(f"{same} of {args.kill} reruns identical to the uninterrupted build (kill moments "
          f"drawn from {window[0]:.1f}-{window[1]:.1f} s: first shard to last partition)")


def run(tree: Path, partition: str, args: argparse.Namespace,
        output: Path) -> tuple[float, float]:
    """Wall and CPU seconds (the command and its workers) of one make_tfrecords run with
    tfemo imported from `tree`."""
    command = command_of(partition, args, output)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=tree, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="emodb")
    parser.add_argument("--data_dir", type=Path, default=HERE.parent.parent / "shared/data/emodb")
    parser.add_argument("--features", default=FEATURES)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline_tree", type=Path, default=None,
                        help="another tfemo checkout to measure first (the 'before' rows)")
    parser.add_argument("--kill", type=int, default=0,
                        help="run the kill test N times instead of the timing table")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--kill_shard", type=int, default=32,
                        help="--examples_per_shard of the kill test (more shards, more moments)")
    args = parser.parse_args()
    if args.kill:
        kill_test(args)
        return
    trees = [("before", args.baseline_tree)] if args.baseline_tree else []
    trees.append(("after", HERE))
    table = Table(title=f"make_tfrecords --corpus {args.corpus} --embeddings none --features "
                        f"{args.features} --workers {args.workers}")
    for column in ("code", "partition", "wall (s)", "CPU (s)", "MB on disk", "time vs single",
                   "CPU vs single", "bytes vs single"):
        table.add_column(column, justify="left" if column in ("code", "partition") else "right")
    for label, tree in trees:
        single = None
        for partition in ("official", "loso"):
            output = Path(tempfile.mkdtemp(prefix=f"partitions-{label}-{partition}-"))
            try:
                seconds, cpu = run(tree, partition, args, output)
                size = disk_bytes(output)
            finally:
                shutil.rmtree(output)
            single = single or (seconds, cpu, size)
            table.add_row(label, partition, f"{seconds:.1f}", f"{cpu:.1f}", f"{size / 1e6:.1f}",
                          f"{seconds / single[0]:.2f} x", f"{cpu / single[1]:.2f} x",
                          f"{size / single[2]:.2f} x")
    Console(width=160).print(table)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores shared: wall times "
          "grow with it; the CPU column does not)")


if __name__ == "__main__":
    main()
