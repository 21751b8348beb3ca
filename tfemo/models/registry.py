"""Model names used by `--model`, and how each is built from a dataset description."""

from __future__ import annotations

from typing import Any

import keras

from tfemo.corpora.base import CATEGORICAL, CONTINUOUS
from tfemo.models.conv1d import Conv1DClassifier, conv1d_from_description
from tfemo.models.gru_regressor import GRURegressor, gru_regressor_from_description
from tfemo.models.semantic_fusion import SemanticFusion, semantic_fusion_from_description
from tfemo.records.description import DatasetDescription

# name -> (model class, builder from a description, the task it learns)
MODELS: dict[str, tuple[type[keras.Model], Any, str]] = {
    "semantic_fusion": (SemanticFusion, semantic_fusion_from_description, CONTINUOUS),
    "conv1d": (Conv1DClassifier, conv1d_from_description, CATEGORICAL),
    "gru_regressor": (GRURegressor, gru_regressor_from_description, CONTINUOUS),
}


def build_model(name: str, description: DatasetDescription, **options: Any) -> keras.Model:
    """Model `name` with its sizes and label names taken from `description`."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    _, builder, task = MODELS[name]
    if description.task != task:
        raise ValueError(f"model {name} learns the {task} task, but the records are "
                         f"{description.task} (make them with --task {task})")
    return builder(description, **options)


def model_from_config(name: str, config: dict[str, Any]) -> keras.Model:
    """Rebuild a model from the name and config a training run saved."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    return MODELS[name][0].from_config(config)
