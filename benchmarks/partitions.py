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
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
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


def run(tree: Path, partition: str, args: argparse.Namespace,
        output: Path) -> tuple[float, float]:
    """Wall and CPU seconds (the command and its workers) of one make_tfrecords run with
    tfemo imported from `tree`."""
    command = [sys.executable, "-m", "tfemo.make_tfrecords", "--corpus", args.corpus,
               "--data_dir", str(args.data_dir), "--partition", partition, "--embeddings",
               "none", "--features", args.features, "--output_dir", str(output), "--workers",
               str(args.workers), "--quiet"]
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
    args = parser.parse_args()
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
