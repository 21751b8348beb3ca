"""Conv1D emotion classifier over per-frame hand-crafted features, and its utterance baseline.

The model takes the reader's batch dict (`features` float32 [B, T, F], raw; optional `mask`
bool [B, T]) and ignores every other key. It standardises the features with the train-set
mean and std it was built with, so a saved model carries its normalisation and predicting on
new audio needs nothing else.

variant "frames": a pointwise projection to `filters`, then residual blocks of Conv1D (stride
1, 'same' padding, optional dilation) -> LayerNormalization per frame -> GELU -> dropout;
masked mean and max pooling over the real frames; head.
variant "utterance" (baseline, no convolutions): masked mean and std of the standardised
features over the utterance; head. "utterance_rich" adds the 10th and 90th percentiles and the
mean absolute frame-to-frame change of every feature (5 statistics per feature).
head: BatchNormalization of the pooled vector (`pooled_norm`; it puts the utterance
statistics on one scale, as a scaler would: +9 points LOSO UAR for the baseline on EMO-DB)
-> dropout -> Dense GELU -> dropout -> softmax.

Padded frames never influence an output (docs/design.md, defect 2): they are set to zero
after the standardisation and after every block (so the 'same' convolutions see exactly the
zeros an unpadded utterance is padded with), the per-frame LayerNormalization never mixes
frames, and the pooling counts real frames only. An utterance alone or padded inside a batch
gives the same probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from tfemo.core.options import Options, option, option_values
from tfemo.records.description import DatasetDescription

VARIANTS = ("frames", "utterance", "utterance_rich")
PERCENTILES = (0.1, 0.9)  # utterance_rich: robust low and high values of every feature
MIN_STD = 1e-3  # std floor: a (near-)constant train feature must not blow up on new audio
_VARIANCE_EPSILON = 1e-6  # inside the sqrt of the masked std: finite gradient at zero spread
_NEGATIVE = -1e9  # stands in for padded frames in the masked max


@keras.saving.register_keras_serializable(package="tfemo")
class FeatureStandardiser(layers.Layer):
    """(features - mean) / max(std, min_std) on real frames, zero on padded ones: [B, T, F].

    The statistics are constants of the layer (in its config, not trainable weights), so
    they travel with the model and `set_weights` from another model cannot change them.
    `mean`/`std` None means identity scaling (padded frames are still zeroed).
    """

    def __init__(self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 min_std: float = MIN_STD, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if (mean is None) != (std is None):
            raise ValueError("give both feature mean and std, or neither")
        self.mean = None if mean is None else [float(v) for v in mean]
        self.std = None if std is None else [float(v) for v in std]
        if self.mean is not None and len(self.mean) != len(self.std):
            raise ValueError(f"feature mean has {len(self.mean)} values but std has "
                             f"{len(self.std)}")
        if not min_std > 0:
            raise ValueError(f"min_std must be positive, got {min_std}")
        self.min_std = float(min_std)
        if self.mean is None:
            self._shift = self._scale = None
        else:
            std = np.maximum(np.asarray(self.std, np.float64), self.min_std)
            self._shift = np.asarray(self.mean, np.float32)
            self._scale = (1.0 / std).astype(np.float32)

    def call(self, features, mask):
        """Standardised features [B, T, F]; exactly zero where `mask` [B, T] is False."""
        features = ops.cast(features, "float32")
        if self._shift is not None:
            features = (features - self._shift) * self._scale
        # where, not multiply: garbage (even NaN) in padded frames cannot leak through.
        return ops.where(ops.expand_dims(mask, -1), features, 0.0)

    def compute_output_shape(self, input_shape):
        """Same shape as the features."""
        return input_shape

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, for reloading."""
        return {**super().get_config(), "mean": self.mean, "std": self.std,
                "min_std": self.min_std}


def frame_mask(inputs: Mapping[str, Any], features) -> Any:
    """The batch's `mask` [B, T] as bool, or all frames real when the batch has none."""
    mask = inputs.get("mask")
    if mask is None:
        return ops.ones(ops.shape(features)[:2], dtype="bool")
    return ops.cast(mask, "bool")


def _masked_mean(x, valid):
    """Mean [B, F] of x [B, T, F] over frames where valid [B, T, 1]; 0 for a row with none."""
    count = ops.maximum(ops.sum(ops.cast(valid, x.dtype), axis=1), 1.0)
    return ops.sum(ops.where(valid, x, 0.0), axis=1) / count


def masked_mean_std(x, mask):
    """Mean and std [B, F] of x [B, T, F] over the frames where mask [B, T] is True."""
    valid = ops.expand_dims(mask, -1)
    mean = _masked_mean(x, valid)
    centred = x - ops.expand_dims(mean, 1)
    variance = _masked_mean(centred * centred, valid)
    return mean, ops.sqrt(variance + _VARIANCE_EPSILON)


def masked_percentiles(x, mask, quantiles=PERCENTILES):
    """Per-feature quantiles [B, F] each (nearest rank) of x [B, T, F] over the real frames."""
    count = ops.sum(ops.cast(mask, "int32"), axis=1)  # [B]
    valid = ops.expand_dims(mask, -1)
    ordered = ops.sort(ops.where(valid, x, -_NEGATIVE), axis=1)  # real frames first
    out = []
    for q in quantiles:
        rank = ops.cast(ops.floor(q * ops.cast(ops.maximum(count - 1, 0), "float32")), "int32")
        index = ops.broadcast_to(ops.reshape(rank, (-1, 1, 1)),
                                 (ops.shape(x)[0], 1, ops.shape(x)[2]))
        value = ops.squeeze(ops.take_along_axis(ordered, index, axis=1), axis=1)
        out.append(ops.where(ops.expand_dims(count > 0, -1), value, 0.0))
    return out


def masked_mean_abs_delta(x, mask):
    """Mean |x[t] - x[t-1]| [B, F] over consecutive pairs of real frames (0 when none)."""
    pairs = ops.expand_dims(ops.logical_and(mask[:, 1:], mask[:, :-1]), -1)
    return _masked_mean(ops.abs(x[:, 1:] - x[:, :-1]), pairs)


def masked_mean_max(x, mask):
    """Mean and max [B, F] of x [B, T, F] over real frames (zeros for a row with none)."""
    valid = ops.expand_dims(mask, -1)
    mean = _masked_mean(x, valid)
    maximum = ops.max(ops.where(valid, x, _NEGATIVE), axis=1)
    has_frames = ops.any(valid, axis=1)
    return mean, ops.where(has_frames, maximum, 0.0)


def feature_input(inputs: Mapping[str, Any], model_name: str):
    """inputs["features"], with an error that says which keys the batch has."""
    if not isinstance(inputs, Mapping):
        raise TypeError(f"{model_name} takes a dict of batch tensors, got {type(inputs)}")
    if "features" not in inputs:
        raise KeyError(f"{model_name} needs batch key 'features' (records written without "
                       f"per-frame features?); got keys {sorted(inputs)}")
    return inputs["features"]


def feature_sizes_from_description(description: Any) -> dict[str, Any]:
    """feature_dim, feature_mean and feature_std from a records description.

    Reads `description.features` (family -> dim, record order) and
    `description.normalisation["features"]` ({"mean": [F], "std": [F]}, train only);
    ValueError when the records carry no features or the statistics are missing or the
    wrong size.
    """
    families = dict(getattr(description, "features", None) or {})
    feature_dim = sum(int(dim) for dim in families.values())
    if feature_dim < 1:
        raise ValueError(f"dataset {description.name!r} has no per-frame features "
                         "(description.features is empty): make the records with features")
    try:
        stats = description.normalisation["features"]
        mean, std = list(stats["mean"]), list(stats["std"])
    except (KeyError, TypeError) as error:
        raise ValueError(
            f"dataset {description.name!r} has no train-set feature statistics in its "
            "description (normalisation.features.mean/std)"
        ) from error
    if len(mean) != feature_dim or len(std) != feature_dim:
        raise ValueError(f"dataset {description.name!r}: features {families} sum to "
                         f"{feature_dim} dims but the statistics have {len(mean)} means and "
                         f"{len(std)} stds")
    return {"feature_dim": feature_dim, "feature_mean": mean, "feature_std": std}


def pool_frames(blocks: Any, x, mask, variant: str, training=None):
    """One vector per row from standardised frames [B, T, F]: the masked residual Conv1D
    blocks then mean+max pooling (`frames`), or the utterance statistics (the other variants).

    `blocks` holds the layers: `projection`, `convs`, `norms`, `dropout` (conv1d's, and the
    multimodal model's audio branch, which reuses this body).
    """
    if variant == "frames":
        valid = ops.expand_dims(mask, -1)
        x = ops.where(valid, blocks.projection(x), 0.0)
        for conv, norm in zip(blocks.convs, blocks.norms, strict=True):
            y = blocks.dropout(ops.gelu(norm(conv(x))), training=training)
            x = ops.where(valid, x + y, 0.0)
        return ops.concatenate(masked_mean_max(x, mask), axis=-1)
    statistics = list(masked_mean_std(x, mask))
    if variant == "utterance_rich":
        statistics += [*masked_percentiles(x, mask), masked_mean_abs_delta(x, mask)]
    return ops.concatenate(statistics, axis=-1)


@keras.saving.register_keras_serializable(package="tfemo")
class Conv1DClassifier(keras.Model):
    """Masked Conv1D (or utterance-statistics) classifier: batch dict -> probabilities [B, C].

    Built eagerly from its sizes (T is free), so it has weights before the first call and
    reloads from its config without data.
    """

    def __init__(
        self,
        *,
        feature_dim: int,
        class_names: Sequence[str],
        feature_mean: Sequence[float] | None = None,
        feature_std: Sequence[float] | None = None,
        variant: str = "frames",
        filters: int = 128,
        kernel_size: int = 5,
        blocks: int = 3,
        dilations: Sequence[int] | None = None,
        hidden: int = 128,
        dropout: float = 0.3,
        pooled_norm: bool = True,
        min_std: float = MIN_STD,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "conv1d_classifier")
        super().__init__(**kwargs)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        self.variant = variant
        self.feature_dim = int(feature_dim)
        self.class_names = tuple(str(name) for name in class_names)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.blocks = int(blocks)
        self.dilations = tuple(int(d) for d in dilations) if dilations else (1,) * self.blocks
        self.hidden = int(hidden)
        self.dropout_rate = float(dropout)
        self.use_pooled_norm = bool(pooled_norm)
        self._check_sizes()

        self.standardiser = FeatureStandardiser(feature_mean, feature_std, min_std,
                                                name="standardiser")
        if self.standardiser.mean is not None and len(self.standardiser.mean) != self.feature_dim:
            raise ValueError(f"feature statistics have {len(self.standardiser.mean)} values, "
                             f"feature_dim is {self.feature_dim}")
        if variant == "frames":
            self.projection = layers.Dense(self.filters, name="projection")
            self.convs = [layers.Conv1D(self.filters, self.kernel_size, padding="same",
                                        dilation_rate=rate, name=f"conv_{index}")
                          for index, rate in enumerate(self.dilations)]
            self.norms = [layers.LayerNormalization(name=f"norm_{index}")
                          for index in range(self.blocks)]
        self.dropout = layers.Dropout(self.dropout_rate)
        if self.use_pooled_norm:
            # momentum 0.9: a small corpus gives few steps, the moving statistics must keep up.
            self.pooled_norm = layers.BatchNormalization(momentum=0.9, name="pooled_norm")
        self.dense = layers.Dense(self.hidden, activation="gelu", name="dense")
        self.classifier = layers.Dense(len(self.class_names), activation="softmax",
                                       name="output")
        self.build()

    def _check_sizes(self) -> None:
        """Fail early on sizes the dataset description could not have meant."""
        if self.feature_dim < 1:
            raise ValueError(f"feature_dim must be positive, got {self.feature_dim}")
        if len(self.class_names) < 2:
            raise ValueError(f"need at least two class names, got {list(self.class_names)}")
        if min(self.filters, self.kernel_size, self.blocks, self.hidden) < 1:
            raise ValueError("filters, kernel_size, blocks and hidden must be positive")
        if len(self.dilations) != self.blocks or min(self.dilations) < 1:
            raise ValueError(f"dilations must give one positive rate per block ({self.blocks}), "
                             f"got {list(self.dilations)}")
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout_rate}")

    @property
    def input_keys(self) -> tuple[str, ...]:
        """The batch keys the model reads (besides the optional `mask`)."""
        return ("features",)

    @property
    def feature_mean(self) -> list[float] | None:
        """The train-set feature means the model standardises with (None: identity)."""
        return self.standardiser.mean

    @property
    def feature_std(self) -> list[float] | None:
        """The train-set feature stds the model standardises with (None: identity)."""
        return self.standardiser.std

    def build(self, input_shape: Any = None) -> None:
        """Create every weight from the configured sizes; `input_shape` is not needed."""
        self.standardiser.build((None, None, self.feature_dim))
        if self.variant == "frames":
            self.projection.build((None, None, self.feature_dim))
            for conv, norm in zip(self.convs, self.norms, strict=True):
                conv.build((None, None, self.filters))
                norm.build((None, None, self.filters))
            pooled = 2 * self.filters
        else:
            pooled = (5 if self.variant == "utterance_rich" else 2) * self.feature_dim
        if self.use_pooled_norm:
            self.pooled_norm.build((None, pooled))
        self.dense.build((None, pooled))
        self.classifier.build((None, self.hidden))

    def call(self, inputs: Mapping[str, Any], training=None):
        """Class probabilities [B, C] from the real frames of each row."""
        features = feature_input(inputs, self.name)
        mask = frame_mask(inputs, features)
        pooled = pool_frames(self, self.standardiser(features, mask), mask, self.variant,
                             training)
        if self.use_pooled_norm:
            pooled = self.pooled_norm(pooled, training=training)
        x = self.dropout(pooled, training=training)
        x = self.dropout(self.dense(x), training=training)
        return self.classifier(x)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, for `from_config` and `.keras` reloading."""
        return {
            **super().get_config(),
            "feature_dim": self.feature_dim,
            "class_names": list(self.class_names),
            "feature_mean": self.standardiser.mean,
            "feature_std": self.standardiser.std,
            "variant": self.variant,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "blocks": self.blocks,
            "dilations": list(self.dilations),
            "hidden": self.hidden,
            "dropout": self.dropout_rate,
            "pooled_norm": self.use_pooled_norm,
            "min_std": self.standardiser.min_std,
        }


@dataclass(frozen=True)
class Conv1DConfig(Options):
    """The options of `--model conv1d` (feature sizes, statistics and classes come from the
    records)."""

    variant: str = option("frames", "Conv1D blocks over frames, or the utterance-statistics "
                          "baseline (mean, std; rich: also percentiles and deltas)",
                          choices=VARIANTS)
    filters: int = option(128, "filters per Conv1D block (variant frames)")
    kernel_size: int = option(5, "Conv1D kernel size (variant frames)")
    blocks: int = option(3, "Conv1D blocks (variant frames)")
    dilations: tuple[int, ...] = option((), "dilation rate of each block, comma-separated "
                                        "(none given: 1 for every block)")
    hidden: int = option(128, "units of the dense layer of the head")
    dropout: float = option(0.3, "dropout in the blocks and the head")
    pooled_norm: bool = option(True, "BatchNormalization of the pooled vector")
    min_std: float = option(MIN_STD, "floor of the train-set feature std")


def build(description: DatasetDescription, config: Conv1DConfig) -> Conv1DClassifier:
    """The classifier with feature sizes, train statistics and class names of `description`
    and the options of `config`."""
    return Conv1DClassifier(class_names=description.label_names,
                            **feature_sizes_from_description(description),
                            **option_values(config))
