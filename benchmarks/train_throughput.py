#!/usr/bin/env python
"""Training throughput in frames per second: is the input pipeline the bottleneck?

(a) the tf.data input pipeline alone (read, parse, chunk, shuffle, batch), (b) a training step
fed from memory (one batch repeated), (c) the full training loop (Model.fit on the pipeline).
The pipeline should deliver at least 3 x what a step consumes: (a) / (b) >= 3.

    python benchmarks/train_throughput.py [--tfrecords tfrecords] [--steps 40]
    python benchmarks/train_throughput.py --cache no --pipeline_only   # reading and parsing

`--cache no` reads and parses the records on every step (tfemo.train's default caches them);
`--pipeline_only` stops after (a).
"""

from __future__ import annotations

import tfemo.core.quiet  # noqa: F401  (before TensorFlow loads)

import argparse
import time

import keras
import tensorflow as tf
from rich.console import Console
from rich.table import Table

from tfemo.models.registry import build_model
from tfemo.records.description import DatasetDescription
from tfemo.records.reader import make_dataset
from tfemo.scoring.losses import MaskedCCCLoss


def pipeline(args: argparse.Namespace) -> tf.data.Dataset:
    """The training input pipeline exactly as tfemo.train builds it."""
    data = make_dataset(args.tfrecords, "train", sequence_length=args.sequence_length,
                        batch_size=args.batch_size, shuffle=True, seed=1, repeat=True,
                        drop_remainder=True, features=("audio", "words", "labels"),
                        cache=args.cache == "yes")
    return data.map(lambda batch: (batch, batch["labels"], batch["mask"]))


def compiled_model(description: DatasetDescription) -> keras.Model:
    keras.utils.set_random_seed(1)
    model = build_model("semantic_fusion", description)
    model.compile(optimizer=keras.optimizers.Adam(3e-4), loss=MaskedCCCLoss())
    return model


def frames_per_second(steps: int, seconds: float, args: argparse.Namespace) -> float:
    return steps * args.batch_size * args.sequence_length / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tfrecords", default="tfrecords")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per measurement")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--sequence_length", type=int, default=150)
    parser.add_argument("--cache", choices=("yes", "no"), default="yes",
                        help="cache the parsed records in memory, as tfemo.train does")
    parser.add_argument("--pipeline_only", action="store_true", help="measure (a) only")
    args = parser.parse_args()
    description = DatasetDescription.read(args.tfrecords)

    data = pipeline(args)
    iterator = iter(data)
    for _ in range(args.steps):  # first pass fills the cache: time the steady state
        next(iterator)
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        next(iterator)
    input_only = frames_per_second(args.steps, time.perf_counter() - started, args)
    input_cpu = frames_per_second(args.steps, time.process_time() - cpu, args)
    if args.pipeline_only:  # CPU: frames per CPU second of this process (all its threads)
        Console().print(f"(a) input pipeline alone, cache {args.cache}: {input_only:,.0f} "
                        f"frames / s, {input_cpu:,.0f} frames / CPU s")
        return

    model = compiled_model(description)
    batch = next(iter(data))
    in_memory = tf.data.Dataset.from_tensors(batch).repeat()
    model.fit(in_memory, steps_per_epoch=3, epochs=1, verbose=0)  # trace
    started = time.perf_counter()
    model.fit(in_memory, steps_per_epoch=args.steps, epochs=1, verbose=0)
    step_only = frames_per_second(args.steps, time.perf_counter() - started, args)

    model = compiled_model(description)
    model.fit(data, steps_per_epoch=3, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
    full = frames_per_second(args.steps, time.perf_counter() - started, args)

    table = Table(title=f"training throughput, semantic_fusion audio+text, batch "
                        f"{args.batch_size} x {args.sequence_length} frames, {args.steps} steps")
    table.add_column("measurement")
    table.add_column("frames / s", justify="right")
    table.add_column("x (b)", justify="right")
    for name, value in (("(a) input pipeline alone", input_only),
                        ("(b) training step from memory", step_only),
                        ("(c) full training loop", full)):
        table.add_row(name, f"{value:,.0f}", f"{value / step_only:.2f}")
    Console().print(table)
    verdict = "not the bottleneck" if input_only >= 3 * step_only else "TOO SLOW"
    Console().print(f"pipeline / step = {input_only / step_only:.1f} (needs >= 3): {verdict}")


if __name__ == "__main__":
    main()
