"""An experiment as the command lines that run it, in order, each with the steps it needs.

records -> per model: train, calibrate (the [calibration] portion, temperature saved in the
train dir), eval (the [eval] portion, pooled over folds) -> for continuous records, the traces
of the scored files -> the final model: train on every portion of the first fold's (or the
only) records, and calibrate when a portion is left out. Every step reads its settings from
`<run>/configs/<step>.toml` through the command's own `--config`; the flags after it are the
run folder's paths.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfemo.core.options import toml_lines
from tfemo.experiments.layout import RunFolder
from tfemo.experiments.spec import Experiment, ModelPlan

MODULE = "tfemo.{command}"
# commands whose `--check_config` the runner calls before running anything
CHECKED = ("make_tfrecords", "eval")


@dataclass(frozen=True)
class Step:
    """One command of an experiment: its --config values and the path flags after it."""

    name: str
    command: str
    values: dict[str, Any] | None
    flags: tuple[str, ...]
    needs: tuple[str, ...] = ()
    section: str = ""  # the experiment file's section the values come from

    def config_text(self) -> str:
        """The step's --config file ("" for a step without one)."""
        if self.values is None:
            return ""
        return "\n".join(toml_lines(self.values, f"tfemo.{self.command} --config of step "
                                                 f"{self.name}")) + "\n"

    def argv(self, run: RunFolder) -> list[str]:
        """The command line after `python`: -m tfemo.<command> [--config FILE] FLAGS."""
        config = [] if self.values is None else ["--config", str(run.config(self.name))]
        return ["-m", MODULE.format(command=self.command), *config, *self.flags]

    def digest(self, run: RunFolder) -> str:
        """What makes this step's result: its command line and its config text."""
        text = json.dumps([self.argv(run), self.config_text()])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def records_of(run: RunFolder) -> Path:
    """The records the final model trains on: the first fold's, or the only ones."""
    folds = sorted(run.records.glob("fold-*"))
    return folds[0] if folds else run.records


def records_task(records: Path | None) -> str:
    """The task of the records made so far ("" before the records step is done)."""
    path = records / "description.json" if records is not None else None
    if path is None or not path.is_file():
        return ""
    return str(json.loads(path.read_text()).get("task", ""))


def _train(name: str, plan: ModelPlan, records: Path, train_dir: Path, device: int,
           needs: tuple[str, ...], section: str) -> Step:
    return Step(name, "train", plan.values,
                ("--tfrecords", str(records), "--train_dir", str(train_dir),
                 "--device", str(device), "--verbose", "2"), needs, section)


def _eval(name: str, values: dict[str, Any], records: Path, train_dir: Path, device: int,
          needs: tuple[str, ...], calibrate: bool = False) -> Step:
    values = {**values, "calibrate": True} if calibrate else dict(values)
    return Step(name, "eval", values,
                ("--tfrecords", str(records), "--train_dir", str(train_dir),
                 "--device", str(device)), needs, "calibration" if calibrate else "eval")


def _calibrates_on_unseen(calibration: dict | None, model: ModelPlan) -> bool:
    """Whether the [calibration] step runs for `model`: only on a portion it did not train on
    (a model trained on train+devel keeps the temperature of its inner speaker folds, or none;
    fitting T on its own training speakers would make it look better calibrated than it is)."""
    if calibration is None:
        return False
    portions = set(str(model.values.get("train_portions", "train")).split("+"))
    return calibration["portion"] not in portions


def plan(experiment: Experiment, final_records: Path | None = None) -> list[Step]:
    """Every step of `experiment` in order. `final_records` is where the final model's
    records are (known once the records exist: `records_of`; default: the records folder);
    their task adds the traces step of a continuous experiment."""
    run, device = experiment.run, experiment.options.device
    steps = [Step("records", "make_tfrecords", experiment.records,
                  ("--output_dir", str(run.records)), (), "records")]
    for model in experiment.models:
        train_dir = run.train_dir(model.name)
        steps.append(_train(f"train-{model.name}", model, run.records, train_dir, device,
                            ("records",), f"models.{model.name}"))
        needs = (f"train-{model.name}",)
        if _calibrates_on_unseen(experiment.calibration, model):
            steps.append(_eval(f"calibrate-{model.name}", experiment.calibration, run.records,
                               train_dir, device, needs, calibrate=True))
            needs += (f"calibrate-{model.name}",)
        steps.append(_eval(f"eval-{model.name}", experiment.eval, run.records, train_dir,
                           device, needs))
    if records_task(final_records) == "continuous":
        steps.append(Step("traces", "experiment", None, ("--traces", str(run.root)),
                          tuple(f"eval-{model.name}" for model in experiment.models)))
    final = experiment.final
    if final is not None:
        records = final_records or run.records
        steps.append(_train("final-train", final, records, run.final, device, ("records",),
                            "final"))
        calibration = experiment.calibration
        if _calibrates_on_unseen(calibration, final):
            steps.append(_eval("final-calibrate", calibration, records, run.final, device,
                               ("final-train",), calibrate=True))
    return steps
