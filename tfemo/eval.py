"""Evaluate a checkpoint on a portion: `python -m tfemo.eval --portion devel --steps 8188`.

Restores `model.ckpt-<steps>` from --train_dir, predicts every frame of every
file of the portion and reports, per label dimension, the CCC of the whole portion concatenated
and the mean CCC over files; for a classifier, UAR, WA, macro F1 and the confusion matrix.
Results go next to the checkpoint (`eval-<portion>-<step>.json`, `.csv` with one row per file,
and for a classifier `-confusion.csv` and `-confusion.png`) and a line is appended to
`log_eval.txt`. When --train_dir holds folds (fold-NN/, as tfemo.train writes for records with
folds), each fold is scored with its own records and all folds' files are pooled
(`eval-<portion>-<step>-pooled.*` in --train_dir); given one set of records instead (another
corpus), every fold model scores all of it and their averaged calibrated probabilities are
scored too (`-ensemble`), beside the mean ± sd over folds. --watch evaluates each new checkpoint
as training writes it.
Records other than the model's own (another corpus, another fold) give
`eval-<portion>-<step>-on-<records>.*`, so no result overwrites another. A classifier scores only
records of its own classes, or records whose classes --label_map puts onto its classes (the
records' unmapped classes are not scored, and said); both are checked before anything is written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tfemo.core import storage
from tfemo.core.cli import report_user_errors
from tfemo.core.config_file import parse_with_config
from tfemo.core.errors import CheckpointNotFoundError, UserError
from tfemo.core.flags import config_flags, device_flags, steps_flags, train_dir_flags


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Every flag, documented in --help."""
    parser = argparse.ArgumentParser(
        prog="python -m tfemo.eval", description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        parents=[train_dir_flags("train dir of tfemo.train (model.json, model.ckpt-<step>), "
                                 "or a folder of fold-NN/ train dirs"), steps_flags(),
                 device_flags("GPU 0 if there is one"), config_flags()])
    parser.add_argument("--portion", default="devel", help="portion to score")
    parser.add_argument("--tfrecords", type=storage.location, default=Path("tfrecords"),
                        help="records folder written by tools/make_tfrecords.py (local, or a "
                             "tf.io.gfile URL such as gs://bucket/records)")
    parser.add_argument("--batch_size", type=int, default=4, help="whole files per batch")
    parser.add_argument("--calibrate", action="store_true",
                        help="classifier: fit the temperature on this portion (held-out "
                             "speakers: devel) and save it in the train dir (temperature.json) "
                             "for eval and predict; NLL and ECE are reported before and after")
    parser.add_argument("--label_map", default="", metavar="FILE",
                        help="classifier on records of other classes: TOML (as make_tfrecords "
                             "--label_map) whose table for the records' corpus maps each "
                             "record class onto a model class; unmapped classes are not scored")
    parser.add_argument("--watch", action="store_true",
                        help="keep evaluating each new checkpoint as it appears")
    parser.add_argument("--watch_interval_secs", type=float, default=30,
                        help="--watch: seconds between looks for new checkpoints")
    parser.add_argument("--watch_timeout_secs", type=float, default=0,
                        help="--watch: stop after this long without a new checkpoint (0: never)")
    return parse_with_config(parser, argv)


def print_scores(scores: dict) -> None:
    """A table of the scores of one checkpoint."""
    from tfemo.training.run_dir import step_text

    print_dropped(scores)
    print_table([("", scores)], f"{scores['portion']}, {step_text(scores['step'])}: "
                                f"{scores['files']} files, {scores['frames']} frames")


def print_table(results: list[tuple[str, dict]], title: str) -> None:
    """One row per fold (or one row) of categorical or continuous scores; beside the pooled
    row, the mean ± sd over folds and, for merged records, one row per corpus."""
    from rich.table import Table

    from tfemo.core.console import command_console

    table = Table(title=title)
    categorical = "uar" in results[0][1]
    names = [] if categorical else list(results[0][1]["dimensions"])
    columns = (["UAR", "WA", "macro F1"] if categorical else
               [f"{n} CCC (concatenated / mean over files)" for n in names])
    if categorical:
        columns += ["NLL", "ECE (15 bins)"]
    rows = []
    for name, scores in results:
        if "folds_mean" in scores:
            rows.append(("mean ± sd over folds", "-", _spread_cells(scores, names)))
        rows.append((name, str(scores["files"]), _score_cells(scores, names)))
        corpora = scores.get("corpora", {})
        summary = name in ("pooled", "ensemble")
        for corpus, part in corpora.items() if len(corpora) > 1 or summary else ():
            cells = _score_cells(part, names)
            rows.append((f"{name} {corpus}".strip(), str(part["files"]), cells))
    named = len(results) > 1 or len(rows) > 1
    for column in (["fold" if len(results) > 1 else ""] if named else []) + ["files"] + columns:
        table.add_column(column, justify="right")
    for name, files, cells in rows:
        cells += ["-"] * (len(columns) - len(cells))
        table.add_row(*([name] if named else []), files, *cells)
    command_console().print(table)


def _score_cells(scores: dict, names: list[str]) -> list[str]:
    """The cells of one row of scores (calibration cells only where the scores have them)."""
    if "uar" in scores:
        values = [f"{scores[k]:.3f}" for k in ("uar", "wa", "macro_f1")]
        return values + [_before_after(scores.get("calibration", {}), k) for k in ("nll", "ece")]
    return [f"{scores['dimensions'][n]['ccc']:.3f} / "
            f"{scores['dimensions'][n]['mean_file_ccc']:.3f}" for n in names]


def _spread_cells(scores: dict, names: list[str]) -> list[str]:
    """`mean ± sd` over folds of each score of a pooled result."""
    mean, sd = scores["folds_mean"], scores["folds_sd"]
    if "uar" in mean:
        return [f"{mean[k]:.3f} ± {sd[k]:.3f}" for k in ("uar", "wa", "macro_f1")]
    return [" / ".join(f"{mean['dimensions'][n][k]:.3f} ± {sd['dimensions'][n][k]:.3f}"
                       for k in ("ccc", "mean_file_ccc")) for n in names]


def print_dropped(scores: dict) -> None:
    """With a label map, the records' classes that were not scored (no model class)."""
    if "label_map" in scores:
        dropped = ", ".join(f"{k} {v}" for k, v in scores.get("dropped", {}).items())
        print(f"label map {scores['label_map']}: " + (
            f"not scored (no class of the model): {dropped}" if dropped else "every class scored"))


def _before_after(calibration: dict, key: str) -> str:
    """`before -> after calibration` (or just `before` with no temperature) of one score."""
    if key not in calibration:
        return "-"
    after = calibration.get(f"{key}_calibrated")
    return f"{calibration[key]:.3f}" + (f" -> {after:.3f}" if after is not None else "")


def check_same_schema(train_dir: Path, tfrecords) -> None:
    """UserError when the records differ from those the model was trained on in what the
    model reads (task, labels, and the inputs it takes: frame length, word vectors, feature
    families): it would fail deep in its call with a KeyError or a shape error."""
    import json

    from tfemo.models.registry import model_from_config, model_spec
    from tfemo.records.description import DatasetDescription
    from tfemo.training.run_dir import DESCRIPTION_COPY, MODEL_FILE

    if not (train_dir / DESCRIPTION_COPY).is_file() or not (train_dir / MODEL_FILE).is_file():
        return  # not a train dir: restoring it says so
    trained = DatasetDescription.read(train_dir / DESCRIPTION_COPY)
    records = DatasetDescription.read(tfrecords)
    spec = json.loads((train_dir / MODEL_FILE).read_text())
    keys = (("features",) if model_spec(spec["model"]).is_estimator
            else tuple(model_from_config(spec["model"], spec["config"]).input_keys))
    fields = {"task": (lambda d: str(d.task), True),
              "labels": (lambda d: list(d.label_names), trained.task != "categorical"),
              "frame length": (lambda d: d.frame_length, "audio" in keys),
              "word vector size": (lambda d: d.word_dim, "words" in keys),
              "features": (lambda d: dict(d.features), "features" in keys)}
    differ = [f"{name} {get(records)} (trained on {get(trained)})"
              for name, (get, read) in fields.items() if read and get(records) != get(trained)]
    if differ:
        raise UserError(f"{tfrecords}: not records of the kind {train_dir} was trained on: "
                        + "; ".join(differ)[:300],
                        "evaluate on records made with the same make_tfrecords flags")


@report_user_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from tfemo.core.devices import select_device
    from tfemo.core.options import from_values
    from tfemo.evaluation.results import EvalConfig, evaluate_folds, evaluate_step
    from tfemo.records.description import description_path
    from tfemo.training.checkpoints import available_steps
    from tfemo.training.run_dir import MODEL_FILE, fold_train_dirs

    config = from_values(EvalConfig, vars(args))
    device = select_device(0 if args.device is None else args.device)
    if args.device is not None:
        print(device, flush=True)
    folds = fold_train_dirs(args.train_dir)
    if folds and not (args.train_dir / MODEL_FILE).exists():
        if args.watch:
            raise UserError(f"{args.train_dir} holds folds; --watch evaluates one train dir",
                            f"give one fold, e.g. --train_dir {folds[0]}")
        shared = storage.exists(description_path(args.tfrecords))  # one set: every fold
        for fold in folds:
            check_same_schema(fold, args.tfrecords if shared
                              else storage.join(args.tfrecords, fold.name))
        results = evaluate_folds(config, folds)
        print_dropped(results[-1][1])
        print_table(results, f"{args.portion}: {len(folds)} folds and {results[-1][0]}")
        return 0
    check_same_schema(args.train_dir, args.tfrecords)
    if not args.watch:
        print_scores(evaluate_step(config, config.steps)[0])
        return 0
    done: set[int] = set()
    last_new = time.monotonic()
    while True:
        new = [s for s in available_steps(args.train_dir) if s not in done]
        for step in new:
            try:
                print_scores(evaluate_step(config, step)[0])
            except CheckpointNotFoundError:  # deleted by the trainer's max_to_keep meanwhile
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
