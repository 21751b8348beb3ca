#!/usr/bin/env python
"""Training throughput with 1 and 2 workers (`tfemo.train --strategy multi_worker` on localhost).

Each configuration trains twice from scratch, to --short and --long steps, with the same global
batch; the step rate is (long - short) steps over the difference in wall time, so process start,
graph tracing and the cluster handshake cancel out. On one machine the workers share its cores,
so this measures the cost of the all-reduce and the input split, not a speed-up: a figure for
separate machines needs separate machines.

    python benchmarks/scale_training.py [--tfrecords DIR] [--short 10] [--long 40]

Without --tfrecords it writes synthetic records (tests/records_factory.py: one train shard, so
two workers shard by DATA) into a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run(args: argparse.Namespace, workers: int, steps: int, train_dir: Path) -> float:
    """Wall seconds of one training run to `steps` with `workers` processes."""
    command = [sys.executable, "-m", "tfemo.train", "--tfrecords", str(args.tfrecords),
               "--train_dir", str(train_dir), "--max_steps", str(steps), "--verbose", "0",
               "--device", "-1", "--hidden", str(args.hidden), "--batch_size",
               str(args.batch_size), "--sequence_length", str(args.sequence_length),
               "--save_interval_secs", "100000", "--save_summaries_secs", "100000"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(workers)]}
    started = time.perf_counter()
    processes = []
    try:
        for index in range(workers):
            extra, worker_env = [], env
            if workers > 1:
                extra = ["--strategy", "multi_worker"]
                worker_env = {**env, "TF_CONFIG": json.dumps(
                    {"cluster": cluster, "task": {"type": "worker", "index": index}})}
            processes.append(subprocess.Popen(command + extra, env=worker_env,
                                              stdout=subprocess.DEVNULL,
                                              stderr=subprocess.PIPE, text=True))
        for process in processes:
            _, err = process.communicate(timeout=args.timeout)
            if process.returncode:
                raise SystemExit(f"training failed:\n{err[-2000:]}")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tfrecords", type=Path)
    parser.add_argument("--short", type=int, default=10)
    parser.add_argument("--long", type=int, default=40)
    parser.add_argument("--batch_size", type=int, default=8, help="the global batch")
    parser.add_argument("--sequence_length", type=int, default=150)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        if args.tfrecords is None:
            sys.path.insert(0, str(ROOT))
            from tests.records_factory import write_synthetic_records

            args.tfrecords = scratch / "records"
            write_synthetic_records(args.tfrecords, {"train": [300] * 24, "devel": [200] * 2,
                                                     "test": [200]})
        table = Table(title=f"tfemo.train on {os.cpu_count()} cores, global batch "
                            f"{args.batch_size} x {args.sequence_length} frames, semantic_fusion "
                            f"--hidden {args.hidden}")
        for column in ("workers", "strategy", f"wall {args.short} steps (s)",
                       f"wall {args.long} steps (s)", "s / step", "frames / s", "vs 1 worker"):
            table.add_column(column, justify="right")
        base = None
        for workers in (1, 2):
            short = run(args, workers, args.short, scratch / f"w{workers}-short")
            long = run(args, workers, args.long, scratch / f"w{workers}-long")
            per_step = (long - short) / (args.long - args.short)
            rate = args.batch_size * args.sequence_length / per_step
            base = base or rate
            table.add_row(str(workers), "default" if workers == 1 else "multi_worker",
                          f"{short:.1f}", f"{long:.1f}", f"{per_step:.3f}", f"{rate:,.0f}",
                          f"{rate / base:.2f} x")
        Console(width=130).print(table)


if __name__ == "__main__":
    main()
