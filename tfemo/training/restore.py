"""Restore a train dir: any model tfemo.train made (Keras or scikit-learn, any task) at a step.

`restore_train_dir` is the one way evaluation, inference, export and latents get a trained
model back: it reads `model.json` and the records' `description.json` the run kept, finds the
checkpoint of `steps` (`latest` or a number), loads it, and returns a `RestoredModel` holding
the model with what it was trained on. An estimator (fitted once, `model.joblib`) has no
step: `latest` finds it and its step is `fitted`; older train dirs' `model.ckpt-<step>.joblib`
files are found by step as before. `wants` says what the caller will do with it, so a
model that cannot do that is refused in one line: `labels` (eval, predict, export) refuses a
representation model such as the β-VAE; `latents` refuses a model that predicts labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tfemo.core.errors import CheckpointNotFoundError, TfemoError, UserError
from tfemo.training.run_dir import (
    DESCRIPTION_COPY,
    ESTIMATOR_FILE,
    FITTED,
    MODEL_FILE,
    estimator_file,
    not_a_train_dir,
    read_model_file,
    step_of_checkpoint,
)

if TYPE_CHECKING:
    from tfemo.models.registry import ModelSpec
    from tfemo.records.description import DatasetDescription

Wants = Literal["labels", "latents", "any"]


@dataclass(frozen=True)
class RestoredModel:
    """A train dir's model with one checkpoint loaded, and what it was trained on."""

    model: Any  # a Keras model, or a fitted UtteranceEstimator
    name: str  # the --model name (model.json)
    config: dict[str, Any]  # the model's config (model.json)
    data: dict[str, Any]  # the data stream it was trained on (model.json)
    description: DatasetDescription  # the records' description the run kept
    checkpoint: str  # the checkpoint prefix, `.../model.ckpt-<step>` (an estimator: its file)
    step: int | str  # the global step; FITTED for an estimator's one fit
    train_dir: Path

    @property
    def spec(self) -> ModelSpec:
        """The model's registry entry (task, estimator or Keras, labels or a representation)."""
        from tfemo.models.registry import model_spec

        return model_spec(self.name)

    @property
    def speaker_normalise(self) -> bool:
        """Whether the run standardised each speaker's features (--normalise speaker)."""
        return bool(self.data.get("speaker_normalise", False))


def _check_wanted(train_dir: Path, name: str, wants: Wants) -> None:
    """Refuse a model that cannot give what the caller wants (see the module docstring)."""
    from tfemo.models.registry import model_spec

    labels = model_spec(name).predicts_labels
    if wants == "labels" and not labels:
        raise UserError(f"{train_dir}: a {name} model learns a representation and "
                        "predicts no labels",
                        f"encode with python -m tfemo.encode_latents --train_dir {train_dir}")
    if wants == "latents" and labels:
        raise TfemoError(f"{train_dir / MODEL_FILE}: holds a {name} model, which predicts "
                         "labels and has no latents (train one with --model beta_vae)")


def restore_train_dir(train_dir: str | Path, steps: str | int = "latest",
                      wants: Wants = "labels") -> RestoredModel:
    """The model of a tfemo.train dir at checkpoint `steps`, restored (see the module doc)."""
    from tfemo.models.estimator import UtteranceEstimator
    from tfemo.models.registry import model_from_config, model_spec
    from tfemo.records.description import DatasetDescription
    from tfemo.training.checkpoints import checkpoint_path, restore_model

    train_dir = Path(train_dir)
    saved = read_model_file(train_dir)
    if not (train_dir / DESCRIPTION_COPY).is_file():
        raise not_a_train_dir(train_dir, DESCRIPTION_COPY)
    name = saved["model"]
    _check_wanted(train_dir, name, wants)
    fitted = train_dir / ESTIMATOR_FILE
    if model_spec(name).is_estimator and fitted.is_file():
        if str(steps) not in ("latest", FITTED):
            raise CheckpointNotFoundError(
                f"{train_dir}: a {name} model is fitted once and has no steps ({fitted}); "
                "leave out --steps")
        return RestoredModel(model=UtteranceEstimator.load(fitted), name=name,
                             config=saved["config"], data=saved.get("data", {}),
                             description=DatasetDescription.read(train_dir / DESCRIPTION_COPY),
                             checkpoint=str(fitted), step=FITTED, train_dir=train_dir)
    path = checkpoint_path(train_dir, steps)
    if model_spec(name).is_estimator:
        file = estimator_file(path)
        if not file.is_file():
            raise CheckpointNotFoundError(f"{file}: missing (a {name} train dir keeps "
                                          "one .joblib file per step)")
        model = UtteranceEstimator.load(file)
    else:
        model = model_from_config(name, saved["config"])
        restore_model(model, path)
    return RestoredModel(model=model, name=name, config=saved["config"],
                         data=saved.get("data", {}),
                         description=DatasetDescription.read(train_dir / DESCRIPTION_COPY),
                         checkpoint=path, step=step_of_checkpoint(path), train_dir=train_dir)
