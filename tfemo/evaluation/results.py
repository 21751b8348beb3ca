"""Score a train dir's checkpoint on a portion and write the results beside it.

`evaluate_step` restores one checkpoint and scores every frame of every file of the portion;
`evaluate_folds` does so for each fold's own checkpoint and records, then pools all folds' files.
What to score is an `EvalConfig` (tfemo.eval makes it from its flags); both return the scores
and raise errors, and printing is the command's.
Results: `eval-<portion>-<step>.json`, a `.csv` with one row per file, for a classifier the
confusion matrix as `-confusion.csv` and `-confusion.png`, and a line in `log_eval.txt`.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

from tfemo.core import storage
from tfemo.core.options import Options, option
from tfemo.core.tasks import Task
from tfemo.training.run_dir import EVAL_LOG, eval_stem, step_text


@dataclass(frozen=True)
class EvalConfig(Options):
    """What to score: a train dir's checkpoints on one portion of its records."""

    train_dir: Path = option(Path("checkpoints"), "train dir (model.json, model.ckpt-<step>), "
                                                  "or a folder of fold-NN/ train dirs")
    tfrecords: Path = option(Path("tfrecords"), "records folder (local or a tf.io.gfile URL)")
    portion: str = option("devel", "portion to score")
    steps: str = option("latest", "the checkpoint to restore: its global step, or 'latest'")
    batch_size: int = option(4, "whole files per batch")
    calibrate: bool = option(False, "classifier: fit the temperature on this portion and save "
                                    "it in the train dir")


def evaluate_step(config: EvalConfig, step: str | int, train_dir: Path | None = None,
                  tfrecords: Path | None = None) -> tuple[dict, list]:
    """Restore one checkpoint, score the portion, write the results; return scores and files."""
    from tfemo.evaluation.portion import (
        categorical_scores,
        check_coverage,
        continuous_scores,
        predict_portion,
    )
    from tfemo.records.description import DatasetDescription
    from tfemo.training.restore import restore_train_dir

    train_dir = train_dir or config.train_dir
    tfrecords = tfrecords or config.tfrecords
    restored = restore_train_dir(train_dir, step)
    model, path = restored.model, restored.checkpoint
    description = DatasetDescription.read(tfrecords)
    files = predict_portion(model, tfrecords, config.portion, config.batch_size,
                            speaker_normalise=restored.speaker_normalise)
    check_coverage(files, description, config.portion)
    label_names = tuple(description.label_names)
    number = restored.step  # FITTED for an estimator: no step in names or titles
    if description.task == Task.CATEGORICAL:
        from tfemo.evaluation.calibration import calibrate_portion

        scores = categorical_scores(files, label_names)
        scores["calibration"] = calibrate_portion(files, train_dir, number, config.portion,
                                                  fit=config.calibrate)
    else:
        scores = continuous_scores(files, label_names)
    scores.update(step=number, portion=config.portion, checkpoint=path,
                  tfrecords=str(tfrecords))
    write_results(eval_stem(train_dir, config.portion, number), scores, files, label_names)
    return scores, files


def write_results(stem: Path, scores: dict, files, label_names: tuple[str, ...]) -> None:
    """JSON and per-file CSV (plus the confusion matrix as CSV and PNG for a classifier) at
    `stem`, and one line in log_eval.txt beside them."""
    from tfemo.core.reports import confusion_figure, confusion_table, write_csv, write_figure
    from tfemo.core.storage import write_atomic
    from tfemo.scoring.metrics import ccc

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
        title = (f"{scores['portion']}, {step_text(scores['step'])}: UAR {scores['uar']:.3f}, "
                 f"WA {scores['wa']:.3f}")
        write_figure(confusion_figure(scores["confusion"], label_names, title),
                     f"{stem}-confusion.png")
        line = (f"uar={scores['uar']:.4f} wa={scores['wa']:.4f} "
                f"macro_f1={scores['macro_f1']:.4f}")
        calibration = scores.get("calibration", {})
        line += "".join(f" {key}={calibration[key]:.4f}" for key in (
            "nll", "ece", "temperature", "nll_calibrated", "ece_calibrated")
            if key in calibration)
    else:
        writer.writerow(["id", "speaker", "frames", *(f"ccc_{n}" for n in label_names)])
        for f in files:
            writer.writerow([f.id, f.speaker, f.frames,
                             *(f"{v:.6f}" for v in ccc(f.predictions, f.labels))])
        dims = scores["dimensions"]
        line = " ".join(f"ccc_{n}={dims[n]['ccc']:.4f} "
                        f"mean_file_ccc_{n}={dims[n]['mean_file_ccc']:.4f}" for n in label_names)
    write_atomic(f"{stem}.csv", rows.getvalue())
    with open(stem.parent / EVAL_LOG, "a") as log:
        log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} step={scores['step']} "
                  f"portion={scores['portion']} files={scores['files']} "
                  f"frames={scores['frames']} {line}\n")


def evaluate_folds(config: EvalConfig, folds: list[Path]) -> list[tuple[str, dict]]:
    """Score every fold's checkpoint at `config.steps`, then all folds' files pooled."""
    from tfemo.evaluation.portion import categorical_scores, continuous_scores

    results, pooled, label_names = [], [], ()
    for fold in folds:
        scores, files = evaluate_step(config, config.steps, fold,
                                      storage.join(config.tfrecords, fold.name))
        results.append((fold.name, scores))
        pooled.extend(files)
        label_names = tuple(scores.get("classes") or scores["dimensions"])
    if "uar" in results[0][1]:
        scores = categorical_scores(pooled, label_names)
        scores["calibration"] = pooled_calibration(results, pooled)
    else:
        scores = continuous_scores(pooled, label_names)
    steps = sorted({s["step"] for _, s in results})
    scores.update(step="+".join(map(str, steps)), portion=config.portion, folds=len(folds),
                  checkpoint=str(config.train_dir), tfrecords=str(config.tfrecords))
    write_results(eval_stem(config.train_dir, config.portion, scores["step"], pooled=True),
                  scores, pooled, label_names)
    results.append(("pooled", scores))
    return results


def pooled_calibration(results: list[tuple[str, dict]], pooled: list) -> dict:
    """NLL and ECE of all folds' files, before and after each fold's own temperature (the
    after-scores only when every fold has one)."""
    import numpy as np

    from tfemo.scoring.calibration import apply_temperature, ece, nll

    probabilities = np.stack([f.predictions for f in pooled])
    labels = np.array([int(f.labels) for f in pooled])
    out = {"nll": nll(probabilities, labels), "ece": ece(probabilities, labels)}
    temperatures = [s["calibration"].get("temperature") for _, s in results]
    if all(t is not None for t in temperatures):
        sizes = [s["files"] for _, s in results]
        per_file = np.repeat(temperatures, sizes)[:, None]
        calibrated = np.concatenate([apply_temperature(p[None], t[0])
                                     for p, t in zip(probabilities, per_file, strict=True)])
        out.update(nll_calibrated=nll(calibrated, labels),
                   ece_calibrated=ece(calibrated, labels))
    return out
