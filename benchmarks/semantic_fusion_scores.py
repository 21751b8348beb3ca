#!/usr/bin/env python
"""Scores of the semantic fusion model and its single-modality ablations on the demo corpus.

Trains each model with the default flags of `python -m tfemo.train` (only --modalities and
--train_dir differ), evaluates devel and test with `python -m tfemo.eval`, and prints one table:
CCC of the whole portion concatenated and the mean CCC over files, per dimension, plus the
training wall time. Records must exist (python tools/make_tfrecords.py).

    python benchmarks/semantic_fusion_scores.py [--tfrecords DIR] [--train_root DIR]
"""

from __future__ import annotations

import tfemo.core.quiet  # noqa: F401  (before TensorFlow loads)

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tfemo.training.checkpoints import available_steps

MODELS = {"audio+text": "audio,text", "audio": "audio", "text": "text"}


def run(command: list[str]) -> None:
    """Run a tfemo command line, failing loudly."""
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tfrecords", default="tfrecords")
    parser.add_argument("--train_root", type=Path, default=Path("checkpoints/ablations"))
    parser.add_argument("--extra", default="", help="more flags for tfemo.train, quoted")
    args = parser.parse_args()
    rows = []
    for name, modalities in MODELS.items():
        train_dir = args.train_root / name.replace("+", "_")
        started = time.perf_counter()
        run([sys.executable, "-m", "tfemo.train", "--device", "-1", "--verbose", "0",
             "--modalities", modalities, "--tfrecords", args.tfrecords,
             "--train_dir", str(train_dir), *args.extra.split()])
        minutes = (time.perf_counter() - started) / 60
        scores = {}
        for portion in ("devel", "test"):
            run([sys.executable, "-m", "tfemo.eval", "--device", "-1", "--portion", portion,
                 "--train_dir", str(train_dir), "--tfrecords", args.tfrecords])
            step = available_steps(train_dir)[-1]
            scores[portion] = json.loads((train_dir / f"eval-{portion}-{step}.json").read_text())
        rows.append((name, minutes, scores))

    table = Table(title=f"semantic fusion on {args.tfrecords}: CCC concatenated (mean over files)")
    table.add_column("model")
    for portion in ("devel", "test"):
        for dim in ("arousal", "valence", "mean"):
            table.add_column(f"{portion} {dim}", justify="right")
    table.add_column("train min", justify="right")
    for name, minutes, scores in rows:
        cells = []
        for portion in ("devel", "test"):
            dims = scores[portion]["dimensions"]
            for dim in ("arousal", "valence"):
                cells.append(f"{dims[dim]['ccc']:.3f} ({dims[dim]['mean_file_ccc']:.3f})")
            cells.append(f"{scores[portion]['mean_ccc']:.3f}")
        table.add_row(name, *cells, f"{minutes:.1f}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
