"""The result files of a run folder, read back for the report (and nothing else: no model runs).

Per model: the pooled eval JSON of the scored portion, and per fold (or for the one train dir)
its eval JSON, its per-file CSV and its calibration temperature. The records' descriptions
give the data counts.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tfemo.experiments.layout import RunFolder
from tfemo.training.run_dir import FITTED
from tfemo.training.temperature import read_temperature


@dataclass(frozen=True)
class FoldResult:
    """One fold's (or the only train dir's) scores, files and temperature."""

    name: str
    scores: dict
    files: pd.DataFrame
    temperature: float | None


@dataclass(frozen=True)
class ModelResult:
    """A model of the experiment: its pooled scores (None without folds) and its folds."""

    name: str
    model: str
    folds: list[FoldResult]
    pooled: dict | None = None

    @property
    def overall(self) -> dict:
        """The scores over every scored file: pooled over folds, or the one train dir's."""
        return self.pooled if self.pooled is not None else self.folds[0].scores

    @property
    def categorical(self) -> bool:
        return "uar" in self.overall

    @property
    def files(self) -> pd.DataFrame:
        """Every scored file of every fold, with its fold."""
        return pd.concat([f.files.assign(fold=f.name) for f in self.folds], ignore_index=True)


@dataclass(frozen=True)
class RunResults:
    """Everything the report shows, read from the run folder."""

    run: RunFolder
    experiment: dict
    descriptions: dict[str, dict]
    models: list[ModelResult]
    final: dict = field(default_factory=dict)

    @property
    def portion(self) -> str:
        return self.experiment.get("eval", {}).get("portion", "test")

    @property
    def baseline(self) -> str:
        return self.experiment.get("experiment", {}).get("baseline", "")


def _latest(folder: Path, pattern: str) -> Path | None:
    """The file in `folder` matching `pattern` (one group: steps joined by +) with the
    highest steps."""
    best, best_key = None, ()
    for path in folder.glob("eval-*.json"):
        match = re.fullmatch(pattern, path.name)
        if match:
            key = tuple(int(s) if s.isdigit() else 0 for s in match.group(1).split("+"))
            if best is None or key > best_key:
                best, best_key = path, key
    return best


def _fold_result(name: str, folder: Path, portion: str) -> FoldResult | None:
    path = _latest(folder, rf"eval-{re.escape(portion)}-(\d+|{FITTED})\.json")
    if path is None:
        return None
    scores = json.loads(path.read_text())
    files = pd.read_csv(path.with_suffix(".csv"), dtype={"id": str, "speaker": str})
    temperature = read_temperature(folder, scores["step"]) if "uar" in scores else None
    return FoldResult(name, scores, files, temperature)


def model_result(train_dir: Path, name: str, model: str, portion: str) -> ModelResult | None:
    """The eval results of `portion` in `train_dir` (folds and pooled, or one train dir)."""
    folds = [r for d in sorted(train_dir.glob("fold-*"))
             if (r := _fold_result(d.name, d, portion)) is not None]
    if folds:
        pooled = _latest(train_dir,
                         rf"eval-{re.escape(portion)}-([\d+]+|{FITTED})-pooled\.json")
        return ModelResult(name, model, folds,
                           json.loads(pooled.read_text()) if pooled else None)
    single = _fold_result("all", train_dir, portion)
    return ModelResult(name, model, [single]) if single else None


def descriptions(run: RunFolder) -> dict[str, dict]:
    """The records' descriptions by fold name ("all" for records without folds)."""
    folds = sorted(run.records.glob("fold-*/description.json"))
    if folds:
        return {p.parent.name: json.loads(p.read_text()) for p in folds}
    path = run.records / "description.json"
    return {"all": json.loads(path.read_text())} if path.is_file() else {}


def read_run(run: RunFolder) -> RunResults:
    """Read every result file of the run the report uses."""
    experiment = tomllib.loads(run.experiment_file.read_text())
    portion = experiment.get("eval", {}).get("portion", "test")
    models = []
    for name, values in experiment.get("models", {}).items():
        result = model_result(run.train_dir(name), name, values.get("model", ""), portion)
        if result is not None:
            models.append(result)
    final = {}
    model_file = run.final / "model.json"
    if model_file.is_file():
        final = {"model": json.loads(model_file.read_text()).get("model", ""),
                 "settings": experiment.get("final", {}),
                 "temperature": (run.final / "temperature.json").is_file()}
    return RunResults(run, experiment, descriptions(run), models, final)


def probabilities(files: pd.DataFrame, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The p_<class> columns of a per-file CSV as [N, C], and the true class indices."""
    p = files[[f"p_{c}" for c in classes]].to_numpy(np.float64)
    index = {c: n for n, c in enumerate(classes)}
    return p, files["label"].map(index).to_numpy(int)


def speaker_uar(files: pd.DataFrame) -> dict[str, float]:
    """Per speaker: the mean over the classes they spoke of the recall of each class."""
    out = {}
    for speaker, rows in files.groupby("speaker"):
        recalls = [(group["predicted"] == label).mean() for label, group in rows.groupby("label")]
        out[str(speaker)] = float(np.mean(recalls))
    return out
