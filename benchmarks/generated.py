#!/usr/bin/env python
"""EMO-DB leave-one-speaker-out UAR without and with generated training samples.

Every setting is fixed here in advance (no tuning on test speakers). Records: 10 LOSO folds
with log mel features. Per fold, ONE class-conditional β-VAE is trained on that fold's train
portion only (tools/generate_samples.py); the 0.5x and 1x conditions decode from that same
generator (its train dir is reused: tfemo.train finds it at --steps and does not retrain)
into copies of the fold's records, per class 0.5x / 1x the class's train count. The
classifier (conv1d, utterance-statistics variant: the generator reproduces utterance-level
spectra, not fine frame detail) trains with `--train_portions train` (none) or
`train+generated`, then `tfemo.eval --portion test` pools the 10 test speakers.

    python benchmarks/generated.py [--data_dir ../shared/data/emodb] [--output runs/generated]
"""

from __future__ import annotations

import tfemo.core.quiet  # noqa: F401  (before TensorFlow loads)

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

FACTORS = (0.0, 0.5, 1.0)
GENERATOR = ["--max_steps", "800", "--batch_size", "16", "--learning_rate", "1e-3",
             "--latent_dim", "8", "--hidden", "32", "--blocks", "2", "--beta", "1"]
CLASSIFIER = ["--model", "conv1d", "--variant", "utterance", "--batch_size", "16",
              "--learning_rate", "1e-3", "--weight_decay", "1e-4", "--max_steps", "600",
              "--save_interval_secs", "100000", "--device", "-1", "--verbose", "0"]


def run(command: list[str]) -> None:
    """Run a tfemo command line, failing loudly."""
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def main() -> None:
    """Records, generators, three classifier conditions, the table."""
    here = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", type=Path, default=here.parent / "shared/data/emodb")
    parser.add_argument("--output", type=Path, default=Path("runs/generated"))
    parser.add_argument("--features", default="mel_db")
    args = parser.parse_args()
    if not (args.data_dir / "wav").is_dir():
        sys.exit(f"{args.data_dir}: no EMO-DB here (expected wav/); pass --data_dir")
    started = time.perf_counter()
    base = args.output / "records" / "none"
    if not any(base.glob("fold-*/description.json")):
        run([sys.executable, "-m", "tfemo.make_tfrecords", "--corpus", "emodb", "--data_dir",
             str(args.data_dir), "--output_dir", str(base), "--partition", "loso",
             "--embeddings", "none", "--features", args.features, "--quiet"])
    results = {}
    for factor in FACTORS:
        records = base if factor == 0 else args.output / "records" / f"x{factor:g}"
        if factor:
            if records.exists():  # a fresh copy: the generator's data stream must match
                shutil.rmtree(records)
            shutil.copytree(base, records)
            run([sys.executable, "-m", "tfemo.generate_samples", "--tfrecords", str(records),
                 "--train_root", str(args.output / "generators"), "--factor", str(factor),
                 *GENERATOR])
        train_dir = args.output / f"classifier-x{factor:g}"
        portions = "train+generated" if factor else "train"
        run([sys.executable, "-m", "tfemo.train", *CLASSIFIER, "--tfrecords", str(records),
             "--train_dir", str(train_dir), "--train_portions", portions])
        run([sys.executable, "-m", "tfemo.eval", "--portion", "test", "--train_dir",
             str(train_dir), "--tfrecords", str(records), "--device", "-1"])
        pooled = sorted(train_dir.glob("eval-test-*-pooled.json"))[-1]
        results[factor] = json.loads(pooled.read_text())
    print(f"\nEMO-DB LOSO, conv1d utterance statistics, pooled over the 10 test speakers "
          f"({(time.perf_counter() - started) / 60:.1f} min)")
    print("| generated per class | UAR | WA | macro F1 |\n|---|---|---|---|")
    for factor, scores in results.items():
        name = "none" if factor == 0 else f"{factor:g} x train"
        print(f"| {name} | {scores['uar']:.3f} | {scores['wa']:.3f} | "
              f"{scores['macro_f1']:.3f} |")
    (args.output / "generated.json").write_text(json.dumps(
        {f"{k:g}": v for k, v in results.items()}, indent=1) + "\n")


if __name__ == "__main__":
    main()
