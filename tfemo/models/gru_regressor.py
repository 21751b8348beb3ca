"""GRU regressor: per-frame continuous emotion (e.g. arousal, valence) from hand-crafted features.

The emotion predictor of docs/design.md, "Models", (GRU 128 x 2 + linear, trained with 1 - CCC, e.g.
tfemo.scoring.losses.MaskedCCCLoss). It takes the reader's batch dict (`features` float32 [B, T, F],
raw; optional `mask` bool [B, T]), standardises the features with the train-set statistics it
was built with (so a saved model carries its normalisation), runs forward GRUs and a linear
layer per frame: outputs [B, T, D], one value per label dimension.

The GRUs run forwards only and get the mask, so frames after the end of an utterance cannot
change the outputs on its real frames; outputs on padded frames are set to zero. Losses must
still count only frames where `mask` is True (docs/design.md, defect 2).

Its steps (`frames`, the GRUs, `outputs`; tfemo.models.recurrent) are what `call`, export's
`serve_chunk` and streaming all run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
from keras import layers, ops

from tfemo.core.options import Options, option, option_values
from tfemo.models.conv1d import (
    MIN_STD,
    FeatureStandardiser,
    feature_input,
    feature_sizes_from_description,
    frame_mask,
)
from tfemo.models.recurrent import RecurrentSteps
from tfemo.records.description import DatasetDescription


@keras.saving.register_keras_serializable(package="tfemo")
class GRURegressor(RecurrentSteps, keras.Model):
    """Standardise -> forward GRU x gru_layers -> Dense(D) per frame: batch dict -> [B, T, D].

    Built eagerly from its sizes (T is free), so it reloads from its config without data.
    `dropout` applies between GRU layers and before the head (not inside the recurrence).
    """

    def __init__(
        self,
        *,
        feature_dim: int,
        label_names: Sequence[str],
        feature_mean: Sequence[float] | None = None,
        feature_std: Sequence[float] | None = None,
        hidden: int = 128,
        gru_layers: int = 2,
        dropout: float = 0.1,
        min_std: float = MIN_STD,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "gru_regressor")
        super().__init__(**kwargs)
        self.feature_dim = int(feature_dim)
        self.label_names = tuple(str(name) for name in label_names)
        self.hidden = int(hidden)
        self.gru_layers = int(gru_layers)
        self.dropout_rate = float(dropout)
        if self.feature_dim < 1:
            raise ValueError(f"feature_dim must be positive, got {self.feature_dim}")
        if not self.label_names:
            raise ValueError("label_names must name at least one output dimension")
        if self.hidden < 1 or self.gru_layers < 1:
            raise ValueError("hidden and gru_layers must be positive")
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout_rate}")

        self.standardiser = FeatureStandardiser(feature_mean, feature_std, min_std,
                                                name="standardiser")
        if self.standardiser.mean is not None and len(self.standardiser.mean) != self.feature_dim:
            raise ValueError(f"feature statistics have {len(self.standardiser.mean)} values, "
                             f"feature_dim is {self.feature_dim}")
        self.grus = [layers.GRU(self.hidden, return_sequences=True, return_state=True,
                                name=f"gru_{index}")
                     for index in range(self.gru_layers)]
        self.dropout = layers.Dropout(self.dropout_rate)
        self.head = layers.Dense(len(self.label_names), name="output")
        self.build()

    recurrent = "gru"

    @property
    def recurrent_layers(self) -> list:
        """The forward GRUs, first to last."""
        return self.grus

    @property
    def input_keys(self) -> tuple[str, ...]:
        """The batch keys the model reads (besides the optional `mask`)."""
        return ("features",)

    def build(self, input_shape: Any = None) -> None:
        """Create every weight from the configured sizes; `input_shape` is not needed."""
        self.standardiser.build((None, None, self.feature_dim))
        shape = (None, None, self.feature_dim)
        for gru in self.grus:
            gru.build(shape)
            shape = (None, None, self.hidden)
        self.head.build(shape)

    def input_mask(self, inputs: Mapping[str, Any]):
        """The batch's `mask` [B, T] as bool (every frame real when it has none)."""
        return frame_mask(inputs, feature_input(inputs, self.name))

    def frames(self, inputs: Mapping[str, Any], mask, training=None):
        """The standardised features [B, T, F]: what the first GRU reads."""
        return self.standardiser(feature_input(inputs, self.name), mask)

    def between_layers(self, x, training=None):
        """Dropout between two GRUs."""
        return self.dropout(x, training=training)

    def outputs(self, x, mask, training=None):
        """Dense(D) per frame on the last GRU's sequence; zero on padded frames."""
        predictions = self.head(self.dropout(x, training=training))
        return ops.where(ops.expand_dims(mask, -1), predictions, 0.0)

    def call(self, inputs: Mapping[str, Any], training=None):
        """Predictions [B, T, D]; zero on padded frames (`step` from the zero state)."""
        return self.step(inputs, None, training=training)[0]

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, for `from_config` and `.keras` reloading."""
        return {
            **super().get_config(),
            "feature_dim": self.feature_dim,
            "label_names": list(self.label_names),
            "feature_mean": self.standardiser.mean,
            "feature_std": self.standardiser.std,
            "hidden": self.hidden,
            "gru_layers": self.gru_layers,
            "dropout": self.dropout_rate,
            "min_std": self.standardiser.min_std,
        }


@dataclass(frozen=True)
class GRURegressorConfig(Options):
    """The options of `--model gru_regressor` (feature sizes, statistics and label dimensions
    come from the records)."""

    hidden: int = option(128, "GRU units")
    gru_layers: int = option(2, "GRU layers")
    dropout: float = option(0.1, "dropout between the GRU layers and before the head")
    min_std: float = option(MIN_STD, "floor of the train-set feature std")


def build(description: DatasetDescription, config: GRURegressorConfig) -> GRURegressor:
    """The regressor with feature sizes, train statistics and label dimensions of
    `description` and the options of `config`."""
    if not description.label_names:
        raise ValueError(f"dataset {description.name!r} names no label dimensions")
    return GRURegressor(label_names=description.label_names,
                        **feature_sizes_from_description(description), **option_values(config))
