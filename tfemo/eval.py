"""Evaluate a checkpoint on a portion: `python -m tfemo.eval --portion devel --steps 8188`.

Restores `model.ckpt-<steps>` from --checkpoint (the train dir), predicts every frame of every
file of the portion and reports, per label dimension, the CCC of the whole portion concatenated
and the mean CCC over files; for a classifier, UAR, WA, macro F1 and the confusion matrix.
Results go next to the checkpoint (`eval-<portion>-<step>.json`, `.csv` with one row per file,
and for a classifier `-confusion.csv` and `-confusion.png`) and a line is appended to
`log_eval.txt`. When --checkpoint holds folds (fold-NN/, as tfemo.train writes for records with
folds), each fold is scored with its own records and all folds' files are pooled
(`eval-<portion>-<step>-pooled.*` in --checkpoint). --watch evaluates each new checkpoint as
training writes it.
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

from tfemo.train import MODEL_FILE  # noqa: E402


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


def evaluate_step(args: argparse.Namespace, step: str | int, train_dir: Path | None = None,
                  tfrecords: Path | None = None) -> tuple[dict, list]:
    """Restore one checkpoint, score the portion, write the results; return scores and files."""
    from tfemo.checkpoints import checkpoint_path, restore_model
    from tfemo.evaluation import (
        categorical_scores,
        check_coverage,
        continuous_scores,
        predict_portion,
    )
    from tfemo.models.registry import model_from_config
    from tfemo.records.description import DatasetDescription

    train_dir = train_dir or args.checkpoint
    tfrecords = tfrecords or args.tfrecords
    path = checkpoint_path(train_dir, step)
    spec = json.loads((train_dir / MODEL_FILE).read_text())
    model = model_from_config(spec["model"], spec["config"])
    restore_model(model, path)
    description = DatasetDescription.read(tfrecords)
    files = predict_portion(model, tfrecords, args.portion, args.batch_size,
                            speaker_normalise=spec["data"].get("speaker_normalise", False))
    check_coverage(files, description, args.portion)
    label_names = tuple(description.label_names)
    if description.task == "categorical":
        scores = categorical_scores(files, label_names)
    else:
        scores = continuous_scores(files, label_names)
    number = int(path.rsplit("-", 1)[1])
    scores.update(step=number, portion=args.portion, checkpoint=path, tfrecords=str(tfrecords))
    write_results(train_dir / f"eval-{args.portion}-{number}", scores, files, label_names)
    return scores, files


def write_results(stem: Path, scores: dict, files, label_names: tuple[str, ...]) -> None:
    """JSON and per-file CSV (plus the confusion matrix as CSV and PNG for a classifier) at
    `stem`, and one line in log_eval.txt beside them."""
    from tfemo.files import write_atomic
    from tfemo.metrics import ccc
    from tfemo.outputs import confusion_figure, confusion_table, write_csv, write_figure

    write_atomic(f"{stem}.json", json.dumps(scores, indent=1, sort_keys=True))
    categorical = "uar" in scores
    rows = io.StringIO()
    writer = csv.writer(rows)
    if categorical:
        writer.writerow(["id", "speaker", "frames", "label", "predicted",
                         *(f"p_{n}" for n in label_names)])
        for f in files:
            writer.writerow([f.id, f.speaker, f.frames, label_names[int(f.labels)],
                             label_names[int(f.predictions.argmax())],
                             *(f"{p:.6f}" for p in f.predictions)])
        write_csv(confusion_table(scores["confusion"], label_names), f"{stem}-confusion.csv")
        title = (f"{scores['portion']} at step {scores['step']}: UAR {scores['uar']:.3f}, "
                 f"WA {scores['wa']:.3f}")
        write_figure(confusion_figure(scores["confusion"], label_names, title),
                     f"{stem}-confusion.png")
        line = (f"uar={scores['uar']:.4f} wa={scores['wa']:.4f} "
                f"macro_f1={scores['macro_f1']:.4f}")
    else:
        writer.writerow(["id", "speaker", "frames", *(f"ccc_{n}" for n in label_names)])
        for f in files:
            writer.writerow([f.id, f.speaker, f.frames,
                             *(f"{v:.6f}" for v in ccc(f.predictions, f.labels))])
        dims = scores["dimensions"]
        line = " ".join(f"ccc_{n}={dims[n]['ccc']:.4f} "
                        f"mean_file_ccc_{n}={dims[n]['mean_file_ccc']:.4f}" for n in label_names)
    write_atomic(f"{stem}.csv", rows.getvalue())
    with open(stem.parent / "log_eval.txt", "a") as log:
        log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} step={scores['step']} "
                  f"portion={scores['portion']} files={scores['files']} "
                  f"frames={scores['frames']} {line}\n")


def evaluate_folds(args: argparse.Namespace, folds: list[Path]) -> list[tuple[str, dict]]:
    """Score every fold's checkpoint at --steps, then all folds' files pooled together."""
    from tfemo.evaluation import categorical_scores, continuous_scores

    results, pooled, label_names = [], [], ()
    for fold in folds:
        scores, files = evaluate_step(args, args.steps, fold, args.tfrecords / fold.name)
        results.append((fold.name, scores))
        pooled.extend(files)
        label_names = tuple(scores.get("classes") or scores["dimensions"])
    if "uar" in results[0][1]:
        scores = categorical_scores(pooled, label_names)
    else:
        scores = continuous_scores(pooled, label_names)
    steps = sorted({s["step"] for _, s in results})
    scores.update(step="+".join(map(str, steps)), portion=args.portion, folds=len(folds),
                  checkpoint=str(args.checkpoint), tfrecords=str(args.tfrecords))
    write_results(args.checkpoint / f"eval-{args.portion}-{scores['step']}-pooled", scores,
                  pooled, label_names)
    results.append(("pooled", scores))
    return results


def print_scores(scores: dict) -> None:
    """A table of the scores of one checkpoint."""
    print_table([("", scores)], f"{scores['portion']} at step {scores['step']}: "
                                f"{scores['files']} files, {scores['frames']} frames")


def print_table(results: list[tuple[str, dict]], title: str) -> None:
    """One row per fold (or one row) of categorical or continuous scores."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    categorical = "uar" in results[0][1]
    names = [] if categorical else list(results[0][1]["dimensions"])
    columns = (["UAR", "WA", "macro F1"] if categorical else
               [f"{n} CCC (concatenated / mean over files)" for n in names])
    for column in (["fold"] if len(results) > 1 else []) + ["files"] + columns:
        table.add_column(column, justify="right")
    for name, scores in results:
        if categorical:
            values = [f"{scores[k]:.3f}" for k in ("uar", "wa", "macro_f1")]
        else:
            values = [f"{scores['dimensions'][n]['ccc']:.3f} / "
                      f"{scores['dimensions'][n]['mean_file_ccc']:.3f}" for n in names]
        table.add_row(*([name] if len(results) > 1 else []), str(scores["files"]), *values)
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from tfemo.checkpoints import available_steps
    from tfemo.devices import select_device

    print(select_device(args.device), flush=True)
    folds = sorted(p for p in args.checkpoint.glob("fold-*") if (p / MODEL_FILE).exists())
    if folds and not (args.checkpoint / MODEL_FILE).exists():
        if args.watch:
            print("error: --watch evaluates one train dir, not folds", file=sys.stderr)
            return 1
        try:
            results = evaluate_folds(args, folds)
        except FileNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print_table(results, f"{args.portion}: {len(folds)} folds and pooled")
        return 0
    if not args.watch:
        try:
            print_scores(evaluate_step(args, args.steps)[0])
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
                print_scores(evaluate_step(args, step)[0])
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
