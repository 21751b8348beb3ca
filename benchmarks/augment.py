#!/usr/bin/env python
"""Train-stream augmentation: does the pipeline keep up, and does it help on EMO-DB?

throughput (as benchmarks/train_throughput.py measures it): (a) the training stream of
tfemo.training.loop with augmentation on, alone, after a first pass that fills the cache;
(b) a training step fed from memory. The pipeline must feed training >= 10 x faster than a
step consumes: (a) / (b) >= 10. Two streams: SpecAugment masks on conv1d's features
(categorical records) and speed + gain + noise on semantic_fusion's raw audio (continuous).

loso: EMO-DB leave-one-speaker-out with conv1d, without and with each feature augmentation
(the masks; waveform augmentation does not apply: the features are computed by
make_tfrecords, and no raw-audio classifier exists). Hyperparameters are fixed below, before
any test score was seen, the same for every fold and every row.

    python benchmarks/augment.py throughput --categorical RECORDS --continuous RECORDS
    python benchmarks/augment.py loso [--data_dir ../shared/data/emodb] [--steps 400]
"""

from __future__ import annotations

import tfemo.core.quiet  # noqa: F401  (before TensorFlow loads)

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import keras
import tensorflow as tf

from tfemo.models.registry import build_model
from tfemo.records.description import DatasetDescription
from tfemo.training.config import TrainConfig
from tfemo.training.loop import _loss_and_metrics, training_stream

FEATURES = "zcr,rms,mfcc,chroma,mel_db,contrast,entropy,pitch"  # as benchmarks/classify.py
# Fixed in advance (SpecAugment's basic policy scaled to these sizes: a feature band of up to
# about a fifth of the dimensions, up to 0.4 s of frames, two masks of each kind).
AUGMENTATIONS = {
    "none": [],
    "freq_mask": ["--freq_mask", "10", "--mask_count", "2"],
    "time_mask": ["--time_mask", "10", "--mask_count", "2"],
    "freq+time": ["--freq_mask", "10", "--time_mask", "10", "--mask_count", "2"],
}
TRAIN = ["--model", "conv1d", "--variant", "frames", "--batch_size", "16", "--learning_rate",
         "1e-3", "--weight_decay", "1e-4", "--balance", "weights", "--train_portions",
         "train+devel", "--save_interval_secs", "100000", "--device", "-1", "--verbose", "0"]
WAVEFORM = {"speed": (90, 100, 110), "gain_db": (-6, 6), "noise_snr": (10, 30)}


def frames_in(batch: dict) -> int:
    return int(tf.reduce_sum(tf.cast(batch["mask"], tf.int32)))


def measure(records: Path, model_name: str, train: TrainConfig, steps: int) -> dict:
    """Real frames per second of the augmented stream alone and of a step from memory."""
    description = DatasetDescription.read(records)
    keras.utils.set_random_seed(1)
    model = build_model(model_name, description)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), **_loss_and_metrics(description))
    data, _ = training_stream(train, records, description, model)
    iterator = iter(data)
    for _ in range(steps):  # fills the cache: time the steady state
        next(iterator)
    started, frames = time.perf_counter(), 0
    for _ in range(steps):
        frames += frames_in(next(iterator)[0])
    pipeline = frames / (time.perf_counter() - started)
    batch = next(iter(data))
    in_memory = tf.data.Dataset.from_tensors(batch).repeat()
    model.fit(in_memory, steps_per_epoch=3, epochs=1, verbose=0)  # trace
    started = time.perf_counter()
    model.fit(in_memory, steps_per_epoch=steps, epochs=1, verbose=0)
    step = steps * frames_in(batch[0]) / (time.perf_counter() - started)
    return {"pipeline": pipeline, "step": step, "ratio": pipeline / step}


def throughput(args: argparse.Namespace) -> None:
    rows = {}
    if args.categorical:
        train = TrainConfig(tfrecords=args.categorical, batch_size=16, freq_mask=10,
                            time_mask=10, mask_count=2)
        rows["conv1d, freq+time masks"] = measure(args.categorical, "conv1d", train, args.steps)
    if args.continuous:
        train = replace(TrainConfig(tfrecords=args.continuous, batch_size=8), **WAVEFORM)
        rows["semantic_fusion, speed+gain+noise"] = measure(args.continuous, "semantic_fusion",
                                                            train, args.steps)
    print("| stream (augmented) | (a) pipeline frames/s | (b) step frames/s | (a)/(b) |\n"
          "|---|---|---|---|")
    for name, row in rows.items():
        verdict = "" if row["ratio"] >= 10 else " (< 10: TOO SLOW)"
        print(f"| {name} | {row['pipeline']:,.0f} | {row['step']:,.0f} | "
              f"{row['ratio']:.1f}{verdict} |")


def run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-2000:]}")


def loso(args: argparse.Namespace) -> None:
    if not (args.data_dir / "wav").is_dir():
        sys.exit(f"{args.data_dir}: no EMO-DB here (expected wav/); pass --data_dir")
    if not (args.tfrecords / "fold-01").exists():
        run([sys.executable, "-m", "tfemo.make_tfrecords", "--corpus", "emodb", "--data_dir",
             str(args.data_dir), "--output_dir", str(args.tfrecords), "--partition", "loso",
             "--embeddings", "none", "--features", FEATURES, "--quiet"])
    results = {}
    for name in args.augmentations.split(","):
        train_dir = args.train_root / name
        started = time.perf_counter()
        run([sys.executable, "-m", "tfemo.train", *TRAIN, *AUGMENTATIONS[name], "--tfrecords",
             str(args.tfrecords), "--train_dir", str(train_dir), "--max_steps", str(args.steps)])
        run([sys.executable, "-m", "tfemo.eval", "--portion", "test", "--steps", str(args.steps),
             "--train_dir", str(train_dir), "--tfrecords", str(args.tfrecords), "--device", "-1"])
        pooled = json.loads((train_dir / f"eval-test-{args.steps}-pooled.json").read_text())
        results[name] = pooled
        print(f"{name}: pooled UAR {pooled['uar']:.3f} WA {pooled['wa']:.3f} "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"\nEMO-DB LOSO, conv1d frames, {args.steps} steps per fold, pooled over the folds\n")
    print("| augmentation | UAR | WA | macro F1 |\n|---|---|---|---|")
    for name, pooled in results.items():
        print(f"| {name} | {100 * pooled['uar']:.1f} | {100 * pooled['wa']:.1f} | "
              f"{100 * pooled['macro_f1']:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    speed = commands.add_parser("throughput", help="pipeline vs training step, augmented")
    speed.add_argument("--categorical", type=Path, help="records with features (one fold)")
    speed.add_argument("--continuous", type=Path, help="records with audio and words")
    speed.add_argument("--steps", type=int, default=30)
    table = commands.add_parser("loso", help="EMO-DB LOSO with and without each augmentation")
    here = Path(__file__).resolve().parents[1]
    table.add_argument("--data_dir", type=Path, default=here.parent / "shared/data/emodb")
    table.add_argument("--tfrecords", type=Path, default=Path("tfrecords/emodb-loso"))
    table.add_argument("--train_root", type=Path, default=Path("checkpoints/emodb-augment"))
    table.add_argument("--steps", type=int, default=400)
    table.add_argument("--augmentations", default=",".join(AUGMENTATIONS))
    args = parser.parse_args()
    throughput(args) if args.command == "throughput" else loso(args)


if __name__ == "__main__":
    main()
