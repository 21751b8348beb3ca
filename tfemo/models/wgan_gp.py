"""Class-conditional WGAN-GP over per-frame features: the generator beside the β-VAE.

It makes what the class-conditional β-VAE decodes (tfemo.models.beta_vae): standardised
frames [B, T, F] of a given length and class, which tfemo.training.generate writes, in raw
feature units, as the records' `generated` portion. Why a WGAN-GP (Gulrajani et al., 2017):
its critic loss is a usable training signal on a few hundred utterances, where a
cross-entropy GAN's discriminator saturates, and the gradient penalty needs no batch
normalisation, so padded frames stay outside every statistic.

Generator: at every real frame, the utterance noise z [B, D], the frame's relative position
(beta_vae.relative_position), an embedding of the class and `frame_noise_dim` channels of
per-frame noise (so frames within an utterance vary, which the VAE's decoder cannot) ->
projection -> residual masked Conv1D blocks (LayerNorm, GELU) -> Dense F.
Critic: standardised frames and the class embedding at every frame -> projection ->
residual masked Conv1D blocks -> masked mean and max over the real frames -> Dense -> a
score, plus a projection term <class embedding, pooled> (Miyato & Koyama, 2018).

One training step (`train_step`, TensorFlow backend): `critic_steps` critic updates on
mean(critic(fake)) - mean(critic(real)) + gp_weight · (‖∇ critic(interpolate)‖ - 1)²,
then one generator update on -mean(critic(fake)); the fakes take the real batch's lengths
and classes. The generator's optimizer is the training loop's (so the global step counts
generator updates); the critic's is the model's own Adam (β1 0.5, β2 0.9), whose variables
`optimizer_state` hands to the training checkpoint, so a killed run resumes exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
from keras import layers, ops

from tfemo.core.options import Options, option, option_values
from tfemo.models.beta_vae import (
    POSITION_FREQUENCIES,
    conv_blocks,
    destandardised,
    relative_position,
    standardised_features,
)
from tfemo.models.conv1d import (
    MIN_STD,
    FeatureStandardiser,
    feature_input,
    feature_sizes_from_description,
    frame_mask,
    masked_mean_max,
)
from tfemo.records.description import DatasetDescription

GRADIENT_EPSILON = 1e-12  # inside the sqrt of the gradient norm: finite at zero gradient


@keras.saving.register_keras_serializable(package="tfemo")
class ConditionalWGAN(keras.Model):
    """Class-conditional WGAN-GP: batch dict -> {"generated" [B, T, F] (standardised),
    "score" [B] (the critic's score of the generated rows)} (see the module docstring)."""

    def __init__(
        self,
        *,
        feature_dim: int,
        feature_mean: Sequence[float] | None = None,
        feature_std: Sequence[float] | None = None,
        class_names: Sequence[str] = (),
        latent_dim: int = 16,
        frame_noise_dim: int = 4,
        hidden: int = 64,
        kernel_size: int = 5,
        blocks: int = 2,
        condition_dim: int = 8,
        critic_steps: int = 5,
        gp_weight: float = 10.0,
        critic_learning_rate: float = 1e-4,
        conditional: str = "class",
        min_std: float = MIN_STD,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "wgan_gp")
        super().__init__(**kwargs)
        if conditional != "class":
            raise ValueError(f"the WGAN-GP is class-conditional, got conditional={conditional!r}")
        self.feature_dim = int(feature_dim)
        self.class_names = tuple(str(n) for n in class_names)
        if not self.class_names:
            raise ValueError("a class-conditional GAN needs the class names (the records' "
                             "description has none)")
        self.latent_dim, self.frame_noise_dim = int(latent_dim), int(frame_noise_dim)
        self.hidden, self.kernel_size, self.blocks = int(hidden), int(kernel_size), int(blocks)
        self.condition_dim, self.critic_steps = int(condition_dim), int(critic_steps)
        self.gp_weight, self.critic_learning_rate = float(gp_weight), float(critic_learning_rate)
        self.conditional, self.seed = conditional, int(seed)
        if min(self.feature_dim, self.latent_dim, self.hidden, self.kernel_size, self.blocks,
               self.condition_dim, self.critic_steps) < 1 or self.frame_noise_dim < 0:
            raise ValueError("feature_dim, latent_dim, hidden, kernel_size, blocks, "
                             "condition_dim and critic_steps must be positive, "
                             "frame_noise_dim >= 0")
        if self.gp_weight < 0 or not self.critic_learning_rate > 0:
            raise ValueError("gp_weight must be >= 0 and critic_learning_rate positive")
        self.standardiser = FeatureStandardiser(feature_mean, feature_std, min_std,
                                                name="standardiser")
        classes = len(self.class_names) + 1  # index 0: unknown class
        self.generator_embedding = layers.Embedding(classes, self.condition_dim,
                                                    name="generator_embedding")
        self.generator_in = layers.Dense(self.hidden, name="generator_in")
        self.generator_blocks = self._blocks("generator")
        self.to_features = layers.Dense(self.feature_dim, name="to_features")
        self.critic_embedding = layers.Embedding(classes, self.condition_dim,
                                                 name="critic_embedding")
        self.critic_in = layers.Dense(self.hidden, name="critic_in")
        self.critic_blocks = self._blocks("critic")
        self.critic_hidden = layers.Dense(self.hidden, name="critic_hidden")
        self.critic_out = layers.Dense(1, name="critic_out")
        self.critic_projection = layers.Embedding(classes, self.hidden,
                                                  name="critic_projection")
        self.sampler = keras.random.SeedGenerator(self.seed)
        self.critic_optimizer = keras.optimizers.Adam(self.critic_learning_rate, beta_1=0.5,
                                                      beta_2=0.9, name="critic_optimizer")
        self.critic_tracker = keras.metrics.Mean(name="critic_loss")
        self.generator_tracker = keras.metrics.Mean(name="generator_loss")
        self.penalty_tracker = keras.metrics.Mean(name="gradient_penalty")
        self.distance_tracker = keras.metrics.Mean(name="wasserstein")
        self.build()

    def _blocks(self, prefix: str) -> list[tuple[layers.Layer, layers.Layer]]:
        return conv_blocks(self.hidden, self.kernel_size, self.blocks, prefix)

    @property
    def input_keys(self) -> tuple[str, ...]:
        """The batch keys the model reads (besides mask and label)."""
        return ("features",)

    @property
    def generator_input_dim(self) -> int:
        """Width of the per-frame generator input: z, position, class and frame noise."""
        return self.latent_dim + 2 * POSITION_FREQUENCIES + self.condition_dim + \
            self.frame_noise_dim

    @property
    def generator_variables(self) -> list:
        """The generator's trainable weights (the training loop's optimizer updates them)."""
        parts = [self.generator_embedding, self.generator_in, self.to_features,
                 *(layer for block in self.generator_blocks for layer in block)]
        return [v for part in parts for v in part.trainable_variables]

    @property
    def critic_variables(self) -> list:
        """The critic's trainable weights (the model's own critic optimizer updates them)."""
        parts = [self.critic_embedding, self.critic_in, self.critic_hidden, self.critic_out,
                 self.critic_projection, *(layer for block in self.critic_blocks
                                           for layer in block)]
        return [v for part in parts for v in part.trainable_variables]

    @property
    def optimizer_state(self) -> list:
        """The critic optimizer's variables: a resumed run needs them (training checkpoint)."""
        return list(self.critic_optimizer.variables)

    def build(self, input_shape: Any = None) -> None:
        """Create every weight (and the critic optimizer's slots) from the configured sizes."""
        self.standardiser.build((None, None, self.feature_dim))
        self.generator_embedding.build((None,))
        self.critic_embedding.build((None,))
        self.critic_projection.build((None,))
        self.generator_in.build((None, None, self.generator_input_dim))
        self.critic_in.build((None, None, self.feature_dim + self.condition_dim))
        for conv, norm in self.generator_blocks + self.critic_blocks:
            conv.build((None, None, self.hidden))
            norm.build((None, None, self.hidden))
        self.to_features.build((None, None, self.hidden))
        self.critic_hidden.build((None, 2 * self.hidden))
        self.critic_out.build((None, self.hidden))
        self.critic_optimizer.build(self.critic_variables)

    @staticmethod
    def _residual(blocks, x, valid):
        for conv, norm in blocks:
            x = ops.where(valid, x + ops.gelu(norm(conv(x))), 0.0)
        return x

    def standardise(self, inputs: Mapping[str, Any]):
        """The standardised features [B, T, F] (zero on padding) and the mask [B, T]."""
        return standardised_features(self.standardiser, inputs, self.name)

    def condition_index(self, inputs: Mapping[str, Any]):
        """Embedding index [B] of each row's class (label + 1); 0 = unknown."""
        if "label" not in inputs:
            raise KeyError(f"{self.name}: a class-conditional GAN needs batch key 'label'; "
                           f"got keys {sorted(inputs)}")
        label = ops.cast(inputs["label"], "int32")
        known = ops.logical_and(label >= 0, label < len(self.class_names))
        return ops.where(known, label + 1, 0)

    def decode(self, z, mask, condition, training=None, frame_noise=None):
        """Standardised frames [B, T, F] (zero on padding) from the utterance noise z [B, D],
        the mask [B, T] and the class index [B] (label + 1); `frame_noise` [B, T, N] is
        drawn from the model's seed generator when not given."""
        mask = ops.cast(mask, "bool")
        valid = ops.expand_dims(mask, -1)
        steps = ops.shape(mask)[1]
        embedded = self.generator_embedding(ops.cast(condition, "int32"))
        parts = [ops.repeat(ops.expand_dims(ops.cast(z, "float32"), 1), steps, axis=1),
                 relative_position(mask), ops.repeat(ops.expand_dims(embedded, 1), steps, axis=1)]
        if self.frame_noise_dim:
            if frame_noise is None:
                frame_noise = keras.random.normal(
                    (ops.shape(mask)[0], steps, self.frame_noise_dim), seed=self.sampler)
            parts.append(ops.cast(frame_noise, "float32"))
        h = ops.where(valid, self.generator_in(ops.concatenate(parts, axis=-1)), 0.0)
        h = self._residual(self.generator_blocks, h, valid)
        return ops.where(valid, self.to_features(h), 0.0)

    def critic(self, frames, mask, condition):
        """The critic's score [B] of standardised frames [B, T, F] of class index [B]."""
        mask = ops.cast(mask, "bool")
        valid = ops.expand_dims(mask, -1)
        steps = ops.shape(mask)[1]
        embedded = self.critic_embedding(condition)
        x = ops.concatenate([frames, ops.repeat(ops.expand_dims(embedded, 1), steps, axis=1)],
                            axis=-1)
        h = ops.where(valid, self.critic_in(x), 0.0)
        h = self._residual(self.critic_blocks, h, valid)
        pooled = ops.leaky_relu(self.critic_hidden(ops.concatenate(masked_mean_max(h, mask),
                                                                   axis=-1)), 0.2)
        projection = ops.sum(self.critic_projection(condition) * pooled, axis=-1)
        return ops.squeeze(self.critic_out(pooled), -1) + projection

    def _fake(self, mask, condition):
        z = keras.random.normal((ops.shape(mask)[0], self.latent_dim), seed=self.sampler)
        return self.decode(z, mask, condition, training=True)

    def _critic_loss(self, real, fake, mask, condition):
        """WGAN-GP critic loss, its gradient penalty and the Wasserstein estimate."""
        import tensorflow as tf

        alpha = keras.random.uniform((ops.shape(real)[0], 1, 1), seed=self.sampler)
        between = alpha * real + (1.0 - alpha) * fake
        with tf.GradientTape() as tape:
            tape.watch(between)
            score = self.critic(between, mask, condition)
        gradient = tape.gradient(score, between)
        norm = ops.sqrt(ops.sum(ops.square(gradient), axis=(1, 2)) + GRADIENT_EPSILON)
        penalty = ops.mean(ops.square(norm - 1.0))
        distance = ops.mean(self.critic(real, mask, condition)) - \
            ops.mean(self.critic(fake, mask, condition))
        return -distance + self.gp_weight * penalty, penalty, distance

    def train_step(self, data):
        """`critic_steps` critic updates, then one generator update (module docstring)."""
        import tensorflow as tf

        inputs = data[0] if isinstance(data, tuple) else data
        real, mask = self.standardise(inputs)
        condition = self.condition_index(inputs)
        for _ in range(self.critic_steps):
            with tf.GradientTape() as tape:
                fake = self._fake(mask, condition)
                critic_loss, penalty, distance = self._critic_loss(real, fake, mask, condition)
            variables = self.critic_variables
            self.critic_optimizer.apply(tape.gradient(critic_loss, variables), variables)
        with tf.GradientTape() as tape:
            generator_loss = -ops.mean(self.critic(self._fake(mask, condition), mask, condition))
        variables = self.generator_variables
        self.optimizer.apply(tape.gradient(generator_loss, variables), variables)
        for tracker, value in ((self.critic_tracker, critic_loss),
                               (self.generator_tracker, generator_loss),
                               (self.penalty_tracker, penalty),
                               (self.distance_tracker, distance)):
            tracker.update_state(value)
        return {m.name: m.result() for m in self.metrics}

    def call(self, inputs: Mapping[str, Any], training=None):
        """Generated frames of every row's length and class, and the critic's score of them."""
        features = feature_input(inputs, self.name)
        mask = frame_mask(inputs, features)
        condition = self.condition_index(inputs)
        generated = self._fake(mask, condition)
        return {"generated": generated, "score": self.critic(generated, mask, condition)}

    def destandardise(self, frames):
        """Frames in the raw feature units (the inverse of the standardiser)."""
        return destandardised(self.standardiser, frames)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        """Critic and generator losses, gradient penalty and Wasserstein estimate."""
        return [self.critic_tracker, self.generator_tracker, self.penalty_tracker,
                self.distance_tracker]

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, for `from_config` and `.keras` reloading."""
        return {
            **super().get_config(),
            "feature_dim": self.feature_dim,
            "feature_mean": self.standardiser.mean, "feature_std": self.standardiser.std,
            "class_names": list(self.class_names), "latent_dim": self.latent_dim,
            "frame_noise_dim": self.frame_noise_dim, "hidden": self.hidden,
            "kernel_size": self.kernel_size, "blocks": self.blocks,
            "condition_dim": self.condition_dim, "critic_steps": self.critic_steps,
            "gp_weight": self.gp_weight, "critic_learning_rate": self.critic_learning_rate,
            "conditional": self.conditional, "min_std": self.standardiser.min_std,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class WGANConfig(Options):
    """The options of `--model wgan_gp` (feature sizes, statistics and classes come from
    the records; the generator's learning rate is --learning_rate)."""

    latent_dim: int = option(16, "size of the utterance noise z")
    frame_noise_dim: int = option(4, "channels of per-frame noise the generator sees")
    hidden: int = option(64, "channels of the generator's and critic's Conv1D blocks")
    kernel_size: int = option(5, "Conv1D kernel size")
    blocks: int = option(2, "Conv1D blocks in the generator and in the critic")
    condition_dim: int = option(8, "size of the class embedding")
    critic_steps: int = option(5, "critic updates per generator update")
    gp_weight: float = option(10.0, "weight of the gradient penalty")
    critic_learning_rate: float = option(1e-4, "the critic's Adam learning rate")
    min_std: float = option(MIN_STD, "floor of the train-set feature std")


def build(description: DatasetDescription, config: WGANConfig) -> ConditionalWGAN:
    """The GAN with the feature sizes, train statistics and class names of `description`."""
    return ConditionalWGAN(class_names=description.label_names,
                           **feature_sizes_from_description(description), **option_values(config))
