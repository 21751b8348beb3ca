"""Evaluate a checkpoint on a portion: `python -m tfemo.eval --portion devel --steps 8188`.

Restores `model.ckpt-<steps>` from --checkpoint (the train dir), predicts every frame of every
file of the portion and reports, per label dimension, the CCC of the whole portion concatenated
and the mean CCC over files. Results go next to the checkpoint (`eval-<portion>-<step>.json`
and `.csv`, one row per file) and a line is appended to `log_eval.txt`. --watch evaluates each
new checkpoint as training writes it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Every flag, documented in --help."""
    parser = argparse.ArgumentParser(
        prog="python -m tfemo.eval", description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--portion", default="devel", help="portion to score")
    parser.add_argument("--steps", default="latest",
                        help="global step of the checkpoint to restore, or 'latest'")
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints"),
                        help="train dir holding model.ckpt-<step> files and model.json")
    parser.add_argument("--tfrecords", type=Path, default=Path("tfrecords"),
                        help="records folder written by tools/make_tfrecords.py")
    parser.add_argument("--batch_size", type=int, default=4, help="whole files per batch")
    parser.add_argument("--device", type=int, default=0,
                        help="GPU index; -1 for the CPU (a missing GPU falls back to the CPU)")
    parser.add_argument("--watch", action="store_true",
                        help="keep evaluating each new checkpoint as it appears")
    parser.add_argument("--watch_interval_secs", type=float, default=30,
                        help="--watch: seconds between looks for new checkpoints")
    parser.add_argument("--watch_timeout_secs", type=float, default=0,
                        help="--watch: stop after this long without a new checkpoint (0: never)")
    return parser.parse_args(argv)


def evaluate_step(args: argparse.Namespace, step: str | int) -> dict:
    """Restore one checkpoint, score the portion, write the results; return the scores."""
    from tfemo.checkpoints import checkpoint_path, restore_model
    from tfemo.evaluation import check_coverage, continuous_scores, predict_portion
    from tfemo.models.registry import model_from_config
    from tfemo.records.description import DatasetDescription

    path = checkpoint_path(args.checkpoint, step)
    spec = json.loads((args.checkpoint / "model.json").read_text())
    model = model_from_config(spec["model"], spec["config"])
    restore_model(model, path)
    description = DatasetDescription.read(args.tfrecords)
    files = predict_portion(model, args.tfrecords, args.portion, args.batch_size)
    check_coverage(files, description, args.portion)
    label_names = tuple(description.label_names)
    scores = continuous_scores(files, label_names)
    number = int(path.rsplit("-", 1)[1])
    scores.update(step=number, portion=args.portion, checkpoint=path,
                  tfrecords=str(args.tfrecords))
    _write_results(args.checkpoint, args.portion, number, scores, files, label_names)
    return scores


def _write_results(train_dir: Path, portion: str, step: int, scores: dict, files,
                   label_names: tuple[str, ...]) -> None:
    """JSON and per-file CSV next to the checkpoint, and one line in log_eval.txt."""
    from tfemo.files import write_atomic
    from tfemo.metrics import ccc

    stem = train_dir / f"eval-{portion}-{step}"
    write_atomic(f"{stem}.json", json.dumps(scores, indent=1, sort_keys=True))
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["id", "speaker", "frames", *(f"ccc_{n}" for n in label_names)])
    for f in files:
        writer.writerow([f.id, f.speaker, len(f.labels),
                         *(f"{v:.6f}" for v in ccc(f.predictions, f.labels))])
    write_atomic(f"{stem}.csv", rows.getvalue())
    dims = scores["dimensions"]
    line = " ".join(f"ccc_{n}={dims[n]['ccc']:.4f} mean_file_ccc_{n}={dims[n]['mean_file_ccc']:.4f}"
                    for n in label_names)
    with open(train_dir / "log_eval.txt", "a") as log:
        log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} step={step} portion={portion} "
                  f"files={scores['files']} frames={scores['frames']} {line}\n")


def print_scores(scores: dict) -> None:
    """A table of the scores of one checkpoint."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{scores['portion']} at step {scores['step']}: {scores['files']} files, "
                        f"{scores['frames']} frames")
    for column in ("dimension", "CCC (concatenated)", "mean CCC over files"):
        table.add_column(column, justify="right")
    for name, values in scores["dimensions"].items():
        table.add_row(name, f"{values['ccc']:.3f}", f"{values['mean_file_ccc']:.3f}")
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from tfemo.checkpoints import available_steps
    from tfemo.devices import select_device

    print(select_device(args.device), flush=True)
    if not args.watch:
        try:
            print_scores(evaluate_step(args, args.steps))
        except FileNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        return 0
    done: set[int] = set()
    last_new = time.monotonic()
    while True:
        new = [s for s in available_steps(args.checkpoint) if s not in done]
        for step in new:
            try:
                print_scores(evaluate_step(args, step))
            except FileNotFoundError:  # deleted by the trainer's max_to_keep meanwhile
                print(f"checkpoint {step} was removed before it could be evaluated")
            done.add(step)
            last_new = time.monotonic()
        idle = time.monotonic() - last_new
        if args.watch_timeout_secs and idle >= args.watch_timeout_secs:
            print(f"no new checkpoint for {idle:.0f} s; stopping")
            return 0
        time.sleep(args.watch_interval_secs)


if __name__ == "__main__":
    sys.exit(main())
