"""The models `--model` can name: one line each, with its task, config class and builder.

Adding a model means one module (the Keras model, its frozen config dataclass and
`build(description, config)`) and one line in MODELS; tfemo.train makes the flags from the
config's fields, and eval and predict rebuild the model from the Keras config it saved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from tfemo.core.tasks import Task
from tfemo.models.beta_vae import BetaVAE, BetaVAEConfig
from tfemo.models.beta_vae import build as beta_vae_build
from tfemo.models.conv1d import Conv1DClassifier, Conv1DConfig
from tfemo.models.conv1d import build as conv1d_build
from tfemo.models.estimator import UtteranceEstimator
from tfemo.models.gru_regressor import GRURegressor, GRURegressorConfig
from tfemo.models.gru_regressor import build as gru_regressor_build
from tfemo.models.logreg import LogRegConfig
from tfemo.models.logreg import build as logreg_build
from tfemo.models.multimodal import MultimodalClassifier, MultimodalConfig
from tfemo.models.multimodal import build as multimodal_build
from tfemo.models.semantic_fusion import SemanticFusion, SemanticFusionConfig
from tfemo.models.semantic_fusion import build as semantic_fusion_build
from tfemo.models.svm import SVMConfig
from tfemo.models.svm import build as svm_build
from tfemo.models.wgan_gp import ConditionalWGAN, WGANConfig
from tfemo.models.wgan_gp import build as wgan_gp_build
from tfemo.records.description import DatasetDescription


@dataclass(frozen=True)
class ModelSpec:
    """A model `--model` can name: the task it learns, its options and how it is built.

    `model_class` is a keras.Model (trained step by step with Model.fit, saved as
    checkpoints) or UtteranceEstimator (fitted once by scikit-learn, saved with joblib).
    """

    name: str
    task: Task
    config: type
    build: Callable[[DatasetDescription, Any], Any]
    model_class: type
    own_loss: bool = False  # the model's compute_loss is the loss (no labels, no task metrics)

    @property
    def is_estimator(self) -> bool:
        """Whether the model is a scikit-learn estimator rather than a Keras model."""
        return issubclass(self.model_class, UtteranceEstimator)

    @property
    def predicts_labels(self) -> bool:
        """Whether the model's output is class probabilities or label predictions (what eval,
        predict and export use); a model with its own loss (a VAE) learns a representation."""
        return not self.own_loss


MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec("semantic_fusion", Task.CONTINUOUS, SemanticFusionConfig, semantic_fusion_build,
              SemanticFusion),
    ModelSpec("conv1d", Task.CATEGORICAL, Conv1DConfig, conv1d_build, Conv1DClassifier),
    ModelSpec("gru_regressor", Task.CONTINUOUS, GRURegressorConfig, gru_regressor_build,
              GRURegressor),
    ModelSpec("beta_vae", Task.CATEGORICAL, BetaVAEConfig, beta_vae_build, BetaVAE, own_loss=True),
    ModelSpec("wgan_gp", Task.CATEGORICAL, WGANConfig, wgan_gp_build, ConditionalWGAN,
              own_loss=True),
    ModelSpec("svm", Task.CATEGORICAL, SVMConfig, svm_build, UtteranceEstimator),
    ModelSpec("logreg", Task.CATEGORICAL, LogRegConfig, logreg_build, UtteranceEstimator),
    ModelSpec("multimodal", Task.CATEGORICAL, MultimodalConfig, multimodal_build,
              MultimodalClassifier),
)}
DEFAULT_MODEL = "semantic_fusion"


def model_spec(name: str) -> ModelSpec:
    """The registry entry of model `name`; ValueError listing the known names."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def build_model(name: str, description: DatasetDescription, config: Any = None) -> Any:
    """Model `name` with its sizes and label names taken from `description` and its options
    from `config` (default: the config class's defaults); the one check of the task."""
    spec = model_spec(name)
    if description.task != spec.task:
        raise ValueError(f"model {name} learns the {spec.task} task, but the records are "
                         f"{description.task} (make them with --task {spec.task})")
    if config is None:
        config = spec.config()
    if not isinstance(config, spec.config):
        raise TypeError(f"model {name} takes a {spec.config.__name__}, got "
                        f"{type(config).__name__}")
    return spec.build(description, config)


def model_from_config(name: str, config: dict[str, Any]) -> keras.Model:
    """Rebuild a Keras model from the name and Keras config a training run saved."""
    spec = model_spec(name)
    if spec.is_estimator:
        raise TypeError(f"model {name} is a fitted estimator: load its saved file "
                        "(tfemo.training.restore.restore_train_dir)")
    return spec.model_class.from_config(config)


def forward_function(model: Any, input_signature: dict) -> Callable[[dict], Any]:
    """batch dict -> class probabilities or predictions (a tensor or an array: np.asarray
    either), for either kind of model: a traced tf.function (one trace for every batch
    shape) or the estimator's numpy forward pass."""
    if isinstance(model, UtteranceEstimator):
        return lambda batch: model.predict_batch({k: np.asarray(v) for k, v in batch.items()})
    import tensorflow as tf

    return tf.function(lambda batch: model(batch, training=False),
                       input_signature=[input_signature])
