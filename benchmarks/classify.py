#!/usr/bin/env python
"""EMO-DB leave-one-speaker-out with the Conv1D classifier and the utterance-level baseline.

The full protocol through the command lines a user runs: tools/make_tfrecords.py writes the
10 LOSO folds with hand-crafted features (no word vectors), `python -m tfemo.train` trains one
model per fold, `python -m tfemo.eval --portion test` scores each fold's held-out speaker and
pools the 535 predictions. Each model runs without and with per-speaker feature normalisation
(each speaker's own frames, no labels). Hyperparameters are fixed here for every fold (no
tuning on the test speakers); with them fixed, each fold trains on its train and devel
speakers (9 of 10). Prints UAR/WA per fold and pooled, and the wall time.

    python benchmarks/classify.py [--data_dir ../shared/data/emodb] [--steps 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

FEATURES = "zcr,rms,mfcc,chroma,mel_db,contrast,entropy,pitch"
# name -> tfemo.train flags; both variants share the optimiser settings below
MODELS = {
    "conv1d": ["--model", "conv1d", "--variant", "frames"],
    "utterance": ["--model", "conv1d", "--variant", "utterance"],
    "utterance_rich": ["--model", "conv1d", "--variant", "utterance_rich"],
}
NORMALISATIONS = {"train": "train-set statistics", "speaker": "per speaker"}


def run(command: list[str]) -> None:
    """Run a tfemo command line, failing loudly."""
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def parse_args() -> argparse.Namespace:
    here = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", type=Path, default=here.parent / "shared/data/emodb")
    parser.add_argument("--tfrecords", type=Path, default=Path("tfrecords/emodb-loso"))
    parser.add_argument("--train_root", type=Path, default=Path("checkpoints/emodb-loso"))
    parser.add_argument("--features", default=FEATURES, help="feature families in the records")
    parser.add_argument("--steps", type=int, default=1000, help="training steps per fold")
    parser.add_argument("--skip_records", action="store_true",
                        help="reuse the records already in --tfrecords")
    parser.add_argument("--models", default=",".join(MODELS), help="subset of " + ",".join(MODELS))
    parser.add_argument("--normalise", default=",".join(NORMALISATIONS),
                        help="subset of " + ",".join(NORMALISATIONS))
    parser.add_argument("--extra", default="--batch_size 16 --learning_rate 1e-3 "
                        "--weight_decay 1e-4 --balance weights --train_portions train+devel",
                        help="flags for tfemo.train shared by every run, quoted")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not (args.data_dir / "wav").is_dir():
        sys.exit(f"{args.data_dir}: no EMO-DB here (expected wav/); pass --data_dir")
    started = time.perf_counter()
    if not args.skip_records:
        run([sys.executable, "tools/make_tfrecords.py", "--corpus", "emodb", "--data_dir",
             str(args.data_dir), "--output_dir", str(args.tfrecords), "--partition", "loso",
             "--embeddings", "none", "--features", args.features, "--quiet"])
    records_minutes = (time.perf_counter() - started) / 60
    results = {}
    for model in args.models.split(","):
        for normalise in args.normalise.split(","):
            train_dir = args.train_root / f"{model}-{normalise}"
            begun = time.perf_counter()
            run([sys.executable, "-m", "tfemo.train", *MODELS[model], "--normalise", normalise,
                 "--tfrecords", str(args.tfrecords), "--train_dir", str(train_dir),
                 "--max_steps", str(args.steps), "--save_interval_secs", "100000",
                 "--device", "-1", "--verbose", "0", *args.extra.split()])
            run([sys.executable, "-m", "tfemo.eval", "--portion", "test", "--steps",
                 str(args.steps), "--checkpoint", str(train_dir), "--tfrecords",
                 str(args.tfrecords), "--device", "-1"])
            folds = sorted(p for p in train_dir.glob("fold-*") if p.is_dir())
            per_fold = [json.loads((f / f"eval-test-{args.steps}.json").read_text())
                        for f in folds]
            pooled = json.loads((train_dir / f"eval-test-{args.steps}-pooled.json").read_text())
            results[(model, normalise)] = (per_fold, pooled,
                                           (time.perf_counter() - begun) / 60)
    print_tables(results, records_minutes, (time.perf_counter() - started) / 60)


def print_tables(results: dict, records_minutes: float, total_minutes: float) -> None:
    console = Console()
    table = Table(title="EMO-DB leave-one-speaker-out, test speaker of each fold: UAR / WA")
    table.add_column("fold (test speaker)")
    for model, normalise in results:
        table.add_column(f"{model}, {NORMALISATIONS[normalise]}", justify="right")
    first = next(iter(results.values()))[0]
    for k, fold in enumerate(first):
        name = fold["tfrecords"].rsplit("/", 1)[-1]
        cells = [f"{r[0][k]['uar']:.3f} / {r[0][k]['wa']:.3f}" for r in results.values()]
        table.add_row(f"{name} ({fold['files']} files)", *cells)
    table.add_row("[bold]pooled[/]", *(f"[bold]{r[1]['uar']:.3f} / {r[1]['wa']:.3f}[/]"
                                       for r in results.values()))
    table.add_row("macro F1 (pooled)", *(f"{r[1]['macro_f1']:.3f}" for r in results.values()))
    table.add_row("minutes (10 folds)", *(f"{r[2]:.1f}" for r in results.values()))
    console.print(table)
    console.print(f"records: {records_minutes:.1f} min; whole benchmark: {total_minutes:.1f} min")


if __name__ == "__main__":
    main()
