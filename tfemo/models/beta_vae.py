"""β-VAE over per-frame features: one latent vector per utterance, trained on its own loss.

The model takes the reader's batch dict (`features` float32 [B, T, F], raw; `mask` bool
[B, T]; `label` int32 [B] and `speaker` string [B] when the decoder is conditional). It
standardises the features with the train-set statistics it was built with (conv1d's
FeatureStandardiser), so its reconstruction error is in train-std units on every corpus.

Encoder: pointwise projection -> residual masked Conv1D blocks (LayerNorm per frame, GELU)
-> masked mean and max pooling over the real frames -> Dense -> latent mean and log-variance
[B, D]. Decoder: at every frame, the sampled latent z, the frame's relative position in the
utterance (sines and cosines of t / (n - 1)) and, with `conditional` "class" or "speaker",
an embedding of the condition -> projection -> residual masked Conv1D blocks -> Dense F: the
standardised frames. Unknown speakers and unlabelled items get embedding index 0.

Loss (`compute_loss`, so tfemo.train needs no labels): mean over utterances of
reconstruction_i + β · KL_i, where reconstruction_i is the squared error summed over the
features and averaged over the REAL frames of utterance i, and KL_i the KL divergence of
N(mean_i, exp(log_var_i)) from N(0, I). Padded frames are zero on input, zero on output and
outside every sum, so padding never changes the loss.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from tfemo.core.options import Options, option, option_values
from tfemo.models.conv1d import (
    MIN_STD,
    FeatureStandardiser,
    feature_input,
    feature_sizes_from_description,
    frame_mask,
    masked_mean_max,
)
from tfemo.records.description import DatasetDescription

CONDITIONS = ("none", "class", "speaker")
POSITION_FREQUENCIES = 4  # sin/cos pairs of the relative frame position the decoder sees
LOG_VAR_LIMIT = 10.0  # |log-variance| clip: exp() stays finite early in training


def vae_terms(target, reconstruction, mask, mean, log_var):
    """Per-utterance reconstruction error and KL [B] (see the module docstring).

    target, reconstruction [B, T, F]; mask bool [B, T]; mean, log_var [B, D].
    """
    valid = ops.expand_dims(ops.cast(mask, "bool"), -1)
    squared = ops.where(valid, ops.square(target - reconstruction), 0.0)
    frames = ops.maximum(ops.sum(ops.cast(mask, "float32"), axis=1), 1.0)
    reconstruction_error = ops.sum(squared, axis=(1, 2)) / frames
    kl = 0.5 * ops.sum(ops.square(mean) + ops.exp(log_var) - 1.0 - log_var, axis=-1)
    return reconstruction_error, kl


def conv_blocks(hidden: int, kernel_size: int, count: int,
                prefix: str) -> list[tuple[layers.Layer, layers.Layer]]:
    """`count` (Conv1D, LayerNormalization) pairs named `<prefix>_conv_i` / `<prefix>_norm_i`:
    the residual blocks of the generators' encoders, decoders and critics."""
    return [(layers.Conv1D(hidden, kernel_size, padding="same", name=f"{prefix}_conv_{i}"),
             layers.LayerNormalization(name=f"{prefix}_norm_{i}")) for i in range(count)]


def standardised_features(standardiser, inputs: Mapping[str, Any], name: str):
    """The batch's features standardised [B, T, F] (zero on padding) and its mask [B, T]."""
    features = feature_input(inputs, name)
    mask = frame_mask(inputs, features)
    return standardiser(features, mask), mask


def destandardised(standardiser, frames):
    """Frames in the raw feature units (the inverse of `standardiser`; as is before it is fit)."""
    if standardiser.mean is None:
        return frames
    std = np.maximum(np.asarray(standardiser.std), standardiser.min_std)
    return frames * std.astype("float32") + np.asarray(standardiser.mean, "float32")


def relative_position(mask, frequencies: int = POSITION_FREQUENCIES):
    """[B, T, 2 * frequencies] sines and cosines of t / (n - 1) on real frames, 0 on padding."""
    mask = ops.cast(mask, "bool")
    length = ops.sum(ops.cast(mask, "float32"), axis=1, keepdims=True)  # [B, 1]
    steps = ops.cast(ops.arange(ops.shape(mask)[1]), "float32")[None, :]  # [1, T]
    position = steps / ops.maximum(length - 1.0, 1.0)  # [B, T] in [0, 1] on real frames
    angles = ops.expand_dims(position, -1) * (math.pi * ops.arange(1, frequencies + 1,
                                                                   dtype="float32"))
    encoded = ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)
    return ops.where(ops.expand_dims(mask, -1), encoded, 0.0)


@keras.saving.register_keras_serializable(package="tfemo")
class BetaVAE(keras.Model):
    """Utterance-level β-VAE: batch dict -> {"reconstruction" [B, T, F] (standardised),
    "mean" [B, D], "log_var" [B, D]}; z is sampled in training and is the mean otherwise."""

    def __init__(
        self,
        *,
        feature_dim: int,
        feature_mean: Sequence[float] | None = None,
        feature_std: Sequence[float] | None = None,
        class_names: Sequence[str] = (),
        speaker_names: Sequence[str] = (),
        latent_dim: int = 16,
        hidden: int = 64,
        dropout: float = 0.0,
        kernel_size: int = 5,
        blocks: int = 2,
        beta: float = 1.0,
        conditional: str = "none",
        condition_dim: int = 8,
        min_std: float = MIN_STD,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "beta_vae")
        super().__init__(**kwargs)
        if conditional not in CONDITIONS:
            raise ValueError(f"conditional must be one of {CONDITIONS}, got {conditional!r}")
        self.feature_dim = int(feature_dim)
        self.class_names = tuple(str(n) for n in class_names)
        self.speaker_names = tuple(str(n) for n in speaker_names)
        self.latent_dim, self.hidden = int(latent_dim), int(hidden)
        self.dropout_rate = float(dropout)
        self.kernel_size, self.blocks = int(kernel_size), int(blocks)
        self.beta, self.conditional = float(beta), conditional
        self.condition_dim, self.seed = int(condition_dim), int(seed)
        if min(self.feature_dim, self.latent_dim, self.hidden, self.kernel_size,
               self.blocks, self.condition_dim) < 1:
            raise ValueError("feature_dim, latent_dim, hidden, kernel_size, blocks and "
                             "condition_dim must be positive")
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout_rate}")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        names = {"class": self.class_names, "speaker": self.speaker_names}.get(conditional)
        if names is not None and not names:
            raise ValueError(f"a {conditional}-conditional decoder needs the {conditional} "
                             "names (the records' description has none)")
        self.standardiser = FeatureStandardiser(feature_mean, feature_std, min_std,
                                                name="standardiser")
        self.encoder_in = layers.Dense(self.hidden, name="encoder_in")
        self.encoder_blocks = self._blocks("encoder")
        self.to_latent = layers.Dense(2 * self.latent_dim, name="to_latent")
        self.decoder_in = layers.Dense(self.hidden, name="decoder_in")
        self.decoder_blocks = self._blocks("decoder")
        self.to_features = layers.Dense(self.feature_dim, name="to_features")
        if names is not None:
            self.condition_embedding = layers.Embedding(len(names) + 1, self.condition_dim,
                                                        name="condition_embedding")
        if conditional == "speaker":
            self.speaker_lookup = layers.StringLookup(vocabulary=list(self.speaker_names),
                                                      num_oov_indices=1, name="speaker_lookup")
        self.dropout = layers.Dropout(self.dropout_rate, seed=self.seed)
        self.sampler = keras.random.SeedGenerator(self.seed)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.build()

    def _blocks(self, prefix: str) -> list[tuple[layers.Layer, layers.Layer]]:
        return conv_blocks(self.hidden, self.kernel_size, self.blocks, prefix)

    @property
    def input_keys(self) -> tuple[str, ...]:
        """The batch keys the model reads (besides mask, label and speaker)."""
        return ("features",)

    @property
    def decoder_input_dim(self) -> int:
        """Width of the per-frame decoder input: z, position and condition."""
        condition = self.condition_dim if self.conditional != "none" else 0
        return self.latent_dim + 2 * POSITION_FREQUENCIES + condition

    def build(self, input_shape: Any = None) -> None:
        """Create every weight from the configured sizes."""
        self.standardiser.build((None, None, self.feature_dim))
        self.encoder_in.build((None, None, self.feature_dim))
        self.decoder_in.build((None, None, self.decoder_input_dim))
        for conv, norm in self.encoder_blocks + self.decoder_blocks:
            conv.build((None, None, self.hidden))
            norm.build((None, None, self.hidden))
        self.to_latent.build((None, 2 * self.hidden))
        self.to_features.build((None, None, self.hidden))
        if self.conditional != "none":
            self.condition_embedding.build((None,))

    def _residual(self, blocks, x, valid, training=None):
        for conv, norm in blocks:
            y = self.dropout(ops.gelu(norm(conv(x))), training=training)
            x = ops.where(valid, x + y, 0.0)
        return x

    def standardise(self, inputs: Mapping[str, Any]):
        """The standardised features [B, T, F] (zero on padding) and the mask [B, T]."""
        return standardised_features(self.standardiser, inputs, self.name)

    def encode(self, inputs: Mapping[str, Any], training=None):
        """Latent mean and log-variance [B, D] of each utterance from its real frames."""
        x, mask = self.standardise(inputs)
        valid = ops.expand_dims(mask, -1)
        h = ops.where(valid, self.encoder_in(x), 0.0)
        h = self._residual(self.encoder_blocks, h, valid, training)
        stats = self.to_latent(ops.concatenate(masked_mean_max(h, mask), axis=-1))
        mean, log_var = stats[:, :self.latent_dim], stats[:, self.latent_dim:]
        return mean, ops.clip(log_var, -LOG_VAR_LIMIT, LOG_VAR_LIMIT)

    def condition_index(self, inputs: Mapping[str, Any]):
        """Embedding index [B] of each row's class (label + 1) or speaker; 0 = unknown."""
        if self.conditional == "class":
            if "label" not in inputs:
                raise KeyError(f"{self.name}: a class-conditional decoder needs batch key "
                               f"'label'; got keys {sorted(inputs)}")
            label = ops.cast(inputs["label"], "int32")
            known = ops.logical_and(label >= 0, label < len(self.class_names))
            return ops.where(known, label + 1, 0)
        if self.conditional == "speaker":
            if "speaker" not in inputs:
                raise KeyError(f"{self.name}: a speaker-conditional decoder needs batch key "
                               f"'speaker'; got keys {sorted(inputs)}")
            return ops.cast(self.speaker_lookup(inputs["speaker"]), "int32")
        return None

    def decode(self, z, mask, condition=None, training=None):
        """Standardised frames [B, T, F] (zero on padding) from z [B, D] and the mask [B, T];
        `condition` [B] is an embedding index (class + 1, or speaker index), for a
        conditional decoder."""
        mask = ops.cast(mask, "bool")
        valid = ops.expand_dims(mask, -1)
        steps = ops.shape(mask)[1]
        parts = [ops.repeat(ops.expand_dims(z, 1), steps, axis=1), relative_position(mask)]
        if self.conditional != "none":
            if condition is None:
                raise ValueError(f"{self.name}: the {self.conditional}-conditional decoder "
                                 "needs a condition")
            embedded = self.condition_embedding(ops.cast(condition, "int32"))
            parts.append(ops.repeat(ops.expand_dims(embedded, 1), steps, axis=1))
        h = ops.where(valid, self.decoder_in(ops.concatenate(parts, axis=-1)), 0.0)
        h = self._residual(self.decoder_blocks, h, valid, training)
        return ops.where(valid, self.to_features(h), 0.0)

    def destandardise(self, frames):
        """Frames in the raw feature units (the inverse of the standardiser)."""
        return destandardised(self.standardiser, frames)

    def call(self, inputs: Mapping[str, Any], training=None):
        """Reconstruction, latent mean and log-variance of every row."""
        mean, log_var = self.encode(inputs, training)
        z = mean
        if training:
            noise = keras.random.normal(ops.shape(mean), seed=self.sampler)
            z = mean + ops.exp(0.5 * log_var) * noise
        mask = frame_mask(inputs, inputs["features"])
        return {"reconstruction": self.decode(z, mask, self.condition_index(inputs), training),
                "mean": mean, "log_var": log_var}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Mean over the batch of reconstruction + β · KL, over real frames only; `y` and
        `sample_weight` are ignored (the model needs no labels)."""
        target, mask = self.standardise(x)
        reconstruction, kl = vae_terms(target, y_pred["reconstruction"], mask,
                                       y_pred["mean"], y_pred["log_var"])
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        loss = ops.mean(reconstruction + self.beta * kl)
        if self.losses:
            loss = loss + ops.sum(self.losses)
        return loss

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        """Loss, reconstruction error and KL, all reset each epoch."""
        return [*super().metrics, self.reconstruction_tracker, self.kl_tracker]

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, for `from_config` and `.keras` reloading."""
        return {
            **super().get_config(),
            "feature_dim": self.feature_dim,
            "feature_mean": self.standardiser.mean,
            "feature_std": self.standardiser.std,
            "class_names": list(self.class_names),
            "speaker_names": list(self.speaker_names),
            "latent_dim": self.latent_dim, "hidden": self.hidden, "dropout": self.dropout_rate,
            "kernel_size": self.kernel_size, "blocks": self.blocks, "beta": self.beta,
            "conditional": self.conditional, "condition_dim": self.condition_dim,
            "min_std": self.standardiser.min_std, "seed": self.seed,
        }


@dataclass(frozen=True)
class BetaVAEConfig(Options):
    """The options of `--model beta_vae` (feature sizes, statistics, classes and speakers
    come from the records)."""

    latent_dim: int = option(16, "size of the utterance latent")
    beta: float = option(1.0, "weight of the KL term (1: the plain VAE)")
    conditional: str = option("none", "decoder conditioned on the class or the speaker",
                              choices=CONDITIONS)
    condition_dim: int = option(8, "size of the condition embedding (conditional decoders)")
    hidden: int = option(64, "channels of the encoder's and decoder's Conv1D blocks")
    dropout: float = option(0.0, "dropout in the Conv1D blocks")
    kernel_size: int = option(5, "Conv1D kernel size")
    blocks: int = option(2, "Conv1D blocks in the encoder and in the decoder")
    min_std: float = option(MIN_STD, "floor of the train-set feature std")


def train_speakers(description: DatasetDescription) -> list[str]:
    """The speakers of the train portion (a speaker-conditional decoder's vocabulary)."""
    portions = getattr(description, "portions", None) or {}
    return sorted(portions.get("train", {}).get("speakers", []))


def build(description: DatasetDescription, config: BetaVAEConfig) -> BetaVAE:
    """The VAE with the feature sizes and train statistics of `description` (train speakers
    and class names for a conditional decoder) and the options of `config`."""
    return BetaVAE(class_names=description.label_names, speaker_names=train_speakers(description),
                   **feature_sizes_from_description(description), **option_values(config))
