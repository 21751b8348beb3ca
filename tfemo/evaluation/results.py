"""Score a train dir's checkpoint on a portion and write the results beside it.

`evaluate_step` restores one checkpoint and scores every frame of every file of the portion;
`evaluate_folds` does so for each fold's own checkpoint and records, then pools all folds' files;
given one set of records instead of folds (another corpus), every fold model scores all of it and
their averaged calibrated probabilities are scored as an ensemble (`-ensemble`).
What to score is an `EvalConfig` (tfemo.eval makes it from its flags); both return the scores
and raise errors, and printing is the command's.
Results: `eval-<portion>-<step>.json`, a `.csv` with one row per file, for a classifier the
confusion matrix as `-confusion.csv` and `-confusion.png`, and a line in `log_eval.txt`; on
records other than those the model was trained on, `eval-<portion>-<step>-on-<records>.*`
(tfemo.evaluation.classes.records_tag), so no evaluation overwrites another's. The records are
checked before anything is scored or written (`check_target`): a classifier's classes must be
the records' classes, or a label map must put the records' classes onto the model's.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfemo.core import storage
from tfemo.core.options import Options, option
from tfemo.core.tasks import Task
from tfemo.evaluation.summary import by_corpus, over_folds
from tfemo.records.description import description_path
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
    label_map: str = option("", "classifier: TOML label map putting the records' classes onto "
                                "the model's (a table for the records' corpus: record class = "
                                "\"model class\"); classes with no mapping are not scored")


@dataclass(frozen=True)
class Target:
    """Records checked against a train dir's model, before anything is scored or written."""

    train_dir: Path
    tfrecords: Path
    description: Any  # the records' DatasetDescription
    match: Any  # a ClassMatch for a classifier, else None
    records: str  # "" for the records the model was trained on, else their tag

    @property
    def own(self) -> bool:
        """Whether these are the records the model was trained on."""
        return not self.records


def check_target(config: EvalConfig, train_dir: Path, tfrecords: Path) -> Target:
    """The records at `tfrecords` checked for `train_dir`'s model: the classes match (or
    `config.label_map` reconciles them), and a temperature is fit on the model's own records
    only; UserError otherwise. Nothing is written."""
    from tfemo.core.errors import UserError
    from tfemo.evaluation.classes import match_classes, records_tag
    from tfemo.records.description import DatasetDescription
    from tfemo.training.run_dir import DESCRIPTION_COPY, not_a_train_dir

    if not (Path(train_dir) / DESCRIPTION_COPY).is_file():
        raise not_a_train_dir(train_dir, DESCRIPTION_COPY)
    trained = DatasetDescription.read(Path(train_dir) / DESCRIPTION_COPY)
    description = DatasetDescription.read(tfrecords)
    description.portion(config.portion)
    match = None
    if description.task == Task.CATEGORICAL and trained.task == Task.CATEGORICAL:
        match = match_classes(trained, description, str(tfrecords),
                              Path(config.label_map) if config.label_map else None)
    own = records_tag(description) == records_tag(trained)
    if config.calibrate and not own:
        raise UserError(f"--calibrate on {tfrecords}: not the records {train_dir} was trained "
                        "on; the temperature kept in the train dir must come from its own "
                        "held-out speakers", "calibrate with the records it was trained on")
    return Target(Path(train_dir), tfrecords, description, match,
                  "" if own else records_tag(description))


def evaluate_step(config: EvalConfig, step: str | int, train_dir: Path | None = None,
                  tfrecords: Path | None = None, target: Target | None = None
                  ) -> tuple[dict, list]:
    """Restore one checkpoint, score the portion, write the results; return scores and files.
    The records are checked first (`check_target`, unless given checked)."""
    from tfemo.evaluation.portion import (
        categorical_scores,
        check_coverage,
        continuous_scores,
        predict_portion,
    )
    from tfemo.training.restore import restore_train_dir

    train_dir = train_dir or config.train_dir
    tfrecords = tfrecords or config.tfrecords
    target = target or check_target(config, train_dir, tfrecords)
    restored = restore_train_dir(train_dir, step)
    model, path = restored.model, restored.checkpoint
    description = target.description
    files = predict_portion(model, tfrecords, config.portion, config.batch_size,
                            speaker_normalise=restored.speaker_normalise)
    check_coverage(files, description, config.portion)
    label_names = tuple(description.label_names)
    number = restored.step  # FITTED for an estimator: no step in names or titles
    if description.task == Task.CATEGORICAL:
        from tfemo.evaluation.calibration import calibrate_portion

        files = target.match.apply(files)
        label_names = target.match.model
        scores = categorical_scores(files, label_names)
        scores.update(target.match.summary())
        scores["calibration"] = calibrate_portion(files, train_dir, number, config.portion,
                                                  fit=config.calibrate)
    else:
        scores = continuous_scores(files, label_names)
    corpora = merged_corpora(description)
    if corpora:
        scores["corpora"] = by_corpus(files, label_names, corpora,
                                      description.task == Task.CATEGORICAL)
    scores.update(step=number, portion=config.portion, checkpoint=path,
                  tfrecords=str(tfrecords))
    if target.records:
        scores["records"] = target.records
    write_results(eval_stem(train_dir, config.portion, number, records=target.records),
                  scores, files, label_names)
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
                  + (f"records={scores['records']} " if scores.get("records") else "") +
                  f"frames={scores['frames']} {line}\n")


def evaluate_folds(config: EvalConfig, folds: list[Path]) -> list[tuple[str, dict]]:
    """Score every fold's checkpoint at `config.steps` on its own fold of the records, then all
    folds' files pooled. Every fold's records are checked before any is scored."""
    from tfemo.evaluation.classes import folds_tag
    from tfemo.evaluation.portion import categorical_scores, continuous_scores

    shared = storage.exists(description_path(config.tfrecords))
    targets = [check_target(config, fold, config.tfrecords if shared
                            else storage.join(config.tfrecords, fold.name)) for fold in folds]
    results, pooled, label_names, every = [], [], (), []
    for fold, target in zip(folds, targets, strict=True):
        scores, files = evaluate_step(config, config.steps, fold, target.tfrecords, target)
        results.append((fold.name, scores))
        pooled.extend(files)
        every.append(files)
        label_names = tuple(scores.get("classes") or scores["dimensions"])
    if shared:
        return [*results, ("ensemble", _ensemble(config, folds, targets, results, every,
                                                  label_names))]
    if "uar" in results[0][1]:
        scores = categorical_scores(pooled, label_names)
        scores["calibration"] = pooled_calibration(results, pooled)
        dropped = sum((t.match.dropped_files for t in targets), Counter())
        if any(t.match.label_map for t in targets):
            scores.update(label_map=targets[0].match.label_map,
                          dropped=dict(sorted(dropped.items())))
    else:
        scores = continuous_scores(pooled, label_names)
    scores["folds_mean"], scores["folds_sd"] = over_folds([s for _, s in results])
    corpora = sorted({c for t in targets for c in merged_corpora(t.description)})
    if corpora:
        scores["corpora"] = by_corpus(pooled, label_names, corpora, "uar" in scores)
    steps = sorted({s["step"] for _, s in results})
    scores.update(step="+".join(map(str, steps)), portion=config.portion, folds=len(folds),
                  checkpoint=str(config.train_dir), tfrecords=str(config.tfrecords))
    records = ""
    if any(t.records for t in targets):  # named after every fold's records together
        records = folds_tag([t.description for t in targets])
        scores["records"] = records
    write_results(eval_stem(config.train_dir, config.portion, scores["step"], pooled=True,
                            records=records), scores, pooled, label_names)
    results.append(("pooled", scores))
    return results


def _ensemble(config: EvalConfig, folds: list[Path], targets: list[Target],
              results: list[tuple[str, dict]], every: list[list], label_names: tuple) -> dict:
    """Every fold model on the same records (another corpus): the scores of their averaged
    (calibrated) predictions, with the mean ± sd over folds, written as `-ensemble`."""
    import dataclasses

    import numpy as np

    from tfemo.evaluation.portion import categorical_scores, continuous_scores
    from tfemo.scoring.calibration import apply_temperature, ece, nll

    ids = [f.id for f in every[0]]
    if any([f.id for f in files] != ids for files in every):
        raise RuntimeError("the folds scored the same records in different orders")
    categorical = "uar" in results[0][1]
    stacked = []
    for (_, scores), files in zip(results, every, strict=True):
        values = np.stack([f.predictions for f in files]) if categorical else None
        temperature = scores.get("calibration", {}).get("temperature")
        if categorical and temperature is not None:
            values = apply_temperature(values, temperature)
        stacked.append(values if categorical else [f.predictions for f in files])
    if categorical:
        mean = np.mean(stacked, axis=0)
        files = [dataclasses.replace(f, predictions=p) for f, p in zip(every[0], mean,
                                                                         strict=True)]
        scores = categorical_scores(files, label_names)
        labels = np.array([int(f.labels) for f in files])
        scores["calibration"] = {"nll": nll(mean, labels), "ece": ece(mean, labels)}
        if any(t.match.label_map for t in targets):
            scores.update(label_map=targets[0].match.label_map,
                          dropped=dict(sorted(targets[0].match.dropped_files.items())))
    else:
        files = [dataclasses.replace(f, predictions=np.mean([s[k] for s in stacked], axis=0))
                 for k, f in enumerate(every[0])]
        scores = continuous_scores(files, label_names)
    scores["folds_mean"], scores["folds_sd"] = over_folds([s for _, s in results])
    corpora = merged_corpora(targets[0].description)
    if corpora:
        scores["corpora"] = by_corpus(files, label_names, corpora, categorical)
    steps = sorted({s["step"] for _, s in results})
    records = targets[0].records
    scores.update(step="+".join(map(str, steps)), portion=config.portion, folds=len(folds),
                  ensemble=True, checkpoint=str(config.train_dir),
                  tfrecords=str(config.tfrecords), **({"records": records} if records else {}))
    write_results(eval_stem(config.train_dir, config.portion, scores["step"], ensemble=True,
                            records=records), scores, files, label_names)
    return scores


def merged_corpora(description: Any) -> list[str]:
    """The corpora of records merged from several (their ids are `<corpus>/<id>`), else []."""
    corpora = sorted(description.extra.get("corpora", {}))
    return corpora if len(corpora) > 1 else []


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
