"""Semantic fusion: per-frame emotion regression from raw audio frames and word vectors.

After Tzirakis et al., "Speech emotion recognition using semantic information" (ICASSP 2021):
a 1-D convolution stack encodes each 40 ms frame of raw audio; the vector of the word spoken at
the frame is the text branch; each modality vector is projected to a common size and an
attention over the modalities fuses them per frame; a forward LSTM models time; a tanh layer
gives one value per label dimension (e.g. arousal, valence).

The model takes the reader's batch dict as it comes (`audio` [B, T, frame_length], `words`
[B, T, word_dim], optional `mask` [B, T]) and ignores every other key, so labels, ids and
strings in the batch can never be routed into an input by position. The LSTM runs forwards
only, so the zero padding at the end of a sequence cannot change the outputs on real frames;
losses must still use only frames where `mask` is True (design section 6, bug 2).

Ablations come from the same code: `modalities=("audio",)` or `("text",)` builds one branch
and no attention (the branch's projection feeds the LSTM directly).

Its steps (`frames`, the LSTMs, `outputs`; tfemo.models.recurrent) are what `call`, export's
`serve_chunk` and streaming all run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
from keras import layers, ops

from tfemo.core.options import Options, option, option_values
from tfemo.models.multimodal import NO_WORDS
from tfemo.models.recurrent import RecurrentSteps
from tfemo.records.description import DatasetDescription

MODALITIES = ("audio", "text")
INPUT_KEYS = {"audio": "audio", "text": "words"}
# (filters, kernel, pool) per block; emo18 is end2you's Emo18 (BatchNorm + LeakyReLU 0.01).
AUDIO_VARIANTS: dict[str, dict[str, Any]] = {
    "tzirakis": {"blocks": ((50, 8, 10), (125, 6, 5), (250, 6, 5)), "batch_norm": False},
    "emo18": {"blocks": ((64, 8, 10), (128, 6, 8), (256, 6, 8)), "batch_norm": True},
}


def _canonical_modalities(modalities: Sequence[str]) -> tuple[str, ...]:
    """Validate `modalities` and return them in the fixed order ("audio", "text")."""
    if isinstance(modalities, str):
        modalities = (modalities,)
    unknown = sorted(set(modalities) - set(MODALITIES))
    if unknown or not modalities or len(set(modalities)) != len(modalities):
        raise ValueError(
            f"modalities must be a non-empty subset of {MODALITIES} without repeats, "
            f"got {tuple(modalities)!r}"
        )
    return tuple(m for m in MODALITIES if m in modalities)


@keras.saving.register_keras_serializable(package="tfemo")
class AudioFrameEncoder(layers.Layer):
    """Conv1D/max-pool stack over the raw samples of each frame: [N, L] -> [N, F].

    Frames are encoded independently (the caller folds time into the batch). With the emo18
    variant, an optional `frame_mask` [N] keeps padded frames out of the BatchNorm statistics.
    """

    def __init__(self, variant: str = "tzirakis", dropout: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if variant not in AUDIO_VARIANTS:
            raise ValueError(f"audio variant must be one of {sorted(AUDIO_VARIANTS)}, "
                             f"got {variant!r}")
        self.variant = variant
        self.dropout_rate = float(dropout)
        spec = AUDIO_VARIANTS[variant]
        self.batch_norm = spec["batch_norm"]
        self.convs = [
            layers.Conv1D(filters, kernel, padding="same", use_bias=not self.batch_norm,
                          name=f"conv_{index}")
            for index, (filters, kernel, _) in enumerate(spec["blocks"])
        ]
        self.norms = ([layers.BatchNormalization(name=f"norm_{index}")
                       for index in range(len(spec["blocks"]))] if self.batch_norm else [])
        self.pools = [layers.MaxPooling1D(pool, name=f"pool_{index}")
                      for index, (_, _, pool) in enumerate(spec["blocks"])]
        self.dropout = layers.Dropout(self.dropout_rate)
        self.output_dim: int | None = None

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create the conv weights for frames of `input_shape[-1]` samples."""
        length = input_shape[-1]
        if length is None:
            raise ValueError("AudioFrameEncoder needs a known frame length")
        shape: tuple[int | None, ...] = (input_shape[0], int(length), 1)
        for index, conv in enumerate(self.convs):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            if self.norms:
                self.norms[index].build(shape)
            if shape[1] < self.pools[index].pool_size[0]:
                raise ValueError(f"frames of {length} samples are too short for the "
                                 f"{self.variant!r} audio encoder (pools leave no time steps)")
            shape = self.pools[index].compute_output_shape(shape)
        self.output_dim = int(shape[1]) * int(shape[2])

    def call(self, frames, training=None, frame_mask=None):
        """Encode frames [N, L] (already scaled) into vectors [N, F]."""
        x = ops.expand_dims(frames, -1)
        for index, conv in enumerate(self.convs):
            x = conv(x)
            if self.norms:
                mask = None
                if frame_mask is not None:
                    mask = ops.broadcast_to(ops.expand_dims(frame_mask, -1), ops.shape(x)[:2])
                x = self.norms[index](x, training=training, mask=mask)
                x = self.pools[index](ops.leaky_relu(x, negative_slope=0.01))
            else:
                # max-pool before ReLU: the same values (ReLU is monotone), less work.
                x = ops.relu(self.pools[index](x))
        x = ops.reshape(x, (-1, self.output_dim))
        return self.dropout(x, training=training)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, int]:
        """[N, L] -> [N, F]."""
        if self.output_dim is None:
            self.build(input_shape)
        return (input_shape[0], self.output_dim)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, for reloading."""
        return {**super().get_config(), "variant": self.variant, "dropout": self.dropout_rate}


@keras.saving.register_keras_serializable(package="tfemo")
class ModalityAttention(layers.Layer):
    """Additive attention over M modality vectors per frame, softmax over the modalities.

    score_m = v . tanh(W h_m + b) with W, b, v shared by the modalities; returns the weighted
    sum [B, T, E] and the weights [B, T, M] (they sum to 1 over M), kept for analysis.
    """

    def __init__(self, units: int = 64, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = int(units)

    def build(self, input_shape: Sequence[Sequence[int | None]]) -> None:
        """Create W [E, units], b [units] and v [units, 1]."""
        size = input_shape[0][-1]
        self.kernel = self.add_weight(shape=(size, self.units), initializer="glorot_uniform",
                                      name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")
        self.score = self.add_weight(shape=(self.units, 1), initializer="glorot_uniform",
                                     name="score")

    def call(self, vectors):
        """Fuse a list of M tensors [B, T, E] into ([B, T, E], weights [B, T, M])."""
        stacked = ops.stack(vectors, axis=-2)
        scores = ops.matmul(ops.tanh(ops.matmul(stacked, self.kernel) + self.bias), self.score)
        weights = ops.softmax(ops.squeeze(scores, -1), axis=-1)
        fused = ops.sum(stacked * ops.expand_dims(weights, -1), axis=-2)
        return fused, weights

    def compute_output_shape(self, input_shape):
        """([B, T, E], [B, T, M])."""
        first = tuple(input_shape[0])
        return first, (*first[:-1], len(input_shape))

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, for reloading."""
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="tfemo")
class SemanticFusion(RecurrentSteps, keras.Model):
    """Audio + word-vector fusion model: batch dict -> per-frame tanh predictions [B, T, D].

    Built eagerly from its sizes (T is free), so it has weights before the first call and a
    saved `.keras` file reloads without data. `attention(batch)` gives the fusion weights.
    """

    def __init__(
        self,
        *,
        frame_length: int,
        word_dim: int,
        label_names: Sequence[str],
        modalities: Sequence[str] = MODALITIES,
        audio_scale: float = 1.0,
        hidden: int = 256,
        lstm_layers: int = 1,
        fusion_size: int = 128,
        attention_units: int = 64,
        audio_variant: str = "tzirakis",
        dropout: float = 0.5,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "semantic_fusion")
        super().__init__(**kwargs)
        self.modalities = _canonical_modalities(modalities)
        self.frame_length = int(frame_length)
        self.word_dim = int(word_dim)
        self.label_names = tuple(str(name) for name in label_names)
        self.audio_scale = float(audio_scale)
        self.hidden = int(hidden)
        self.lstm_layers = int(lstm_layers)
        self.fusion_size = int(fusion_size)
        self.attention_units = int(attention_units)
        self.audio_variant = audio_variant
        self.dropout_rate = float(dropout)
        self._check_sizes()

        if "audio" in self.modalities:
            self.audio_encoder = AudioFrameEncoder(audio_variant, self.dropout_rate,
                                                   name="audio_encoder")
            self.audio_projection = layers.Dense(self.fusion_size, activation="tanh",
                                                 name="audio_projection")
        if "text" in self.modalities:
            self.text_projection = layers.Dense(self.fusion_size, activation="tanh",
                                                name="text_projection")
        if len(self.modalities) > 1:
            self.fusion = ModalityAttention(self.attention_units, name="modality_attention")
        self.lstms = [layers.LSTM(self.hidden, return_sequences=True, return_state=True,
                                  name=f"lstm_{index}")
                      for index in range(self.lstm_layers)]
        self.head = layers.Dense(len(self.label_names), activation="tanh", name="output")
        self.build()

    def _check_sizes(self) -> None:
        """Fail early on sizes the dataset description could not have meant."""
        if not self.label_names:
            raise ValueError("label_names must name at least one output dimension")
        if "audio" in self.modalities and self.frame_length < 1:
            raise ValueError(f"the audio branch needs frame_length >= 1, got {self.frame_length}")
        if "text" in self.modalities and self.word_dim < 1:
            raise ValueError(NO_WORDS)
        if not self.audio_scale > 0:
            raise ValueError(f"audio_scale must be positive, got {self.audio_scale}")
        if self.hidden < 1 or self.lstm_layers < 1 or self.fusion_size < 1:
            raise ValueError("hidden, lstm_layers and fusion_size must be positive")

    recurrent = "lstm"

    @property
    def recurrent_layers(self) -> list:
        """The forward LSTMs, first to last."""
        return self.lstms

    @property
    def input_keys(self) -> tuple[str, ...]:
        """The batch keys the model reads (besides the optional `mask`)."""
        return tuple(INPUT_KEYS[modality] for modality in self.modalities)

    def build(self, input_shape: Any = None) -> None:
        """Create every weight from the configured sizes; `input_shape` is not needed."""
        if "audio" in self.modalities:
            self.audio_encoder.build((None, self.frame_length))
            self.audio_projection.build((None, None, self.audio_encoder.output_dim))
        if "text" in self.modalities:
            self.text_projection.build((None, None, self.word_dim))
        if len(self.modalities) > 1:
            self.fusion.build([(None, None, self.fusion_size)] * len(self.modalities))
        shape = (None, None, self.fusion_size)
        for lstm in self.lstms:
            lstm.build(shape)
            shape = (None, None, self.hidden)
        self.head.build(shape)

    def _input(self, inputs: Mapping[str, Any], key: str):
        """inputs[key] as float32, with an error that says which keys there are."""
        if key not in inputs:
            raise KeyError(f"{self.name} (modalities {self.modalities}) needs batch key {key!r}; "
                           f"got keys {sorted(inputs)}")
        return ops.cast(inputs[key], "float32")

    def input_mask(self, inputs: Mapping[str, Any]):
        """The batch's `mask` [B, T] as bool, or None when it has none."""
        if not isinstance(inputs, Mapping):
            raise TypeError(f"{self.name} takes a dict of batch tensors, got {type(inputs)}")
        mask = inputs.get("mask")
        return None if mask is None else ops.cast(mask, "bool")

    def fused(self, inputs: Mapping[str, Any], mask, training=None):
        """The per-frame fused vectors [B, T, fusion_size] and the attention weights [B, T, M]."""
        vectors = []
        if "audio" in self.modalities:
            audio = self._input(inputs, "audio") * (1.0 / self.audio_scale)
            batch, steps = ops.shape(audio)[0], ops.shape(audio)[1]
            frame_mask = None
            if self.audio_encoder.batch_norm and mask is not None:
                frame_mask = ops.reshape(mask, (-1,))
            encoded = self.audio_encoder(ops.reshape(audio, (-1, self.frame_length)),
                                         training=training, frame_mask=frame_mask)
            encoded = ops.reshape(encoded, (batch, steps, self.audio_encoder.output_dim))
            vectors.append(self.audio_projection(encoded))
        if "text" in self.modalities:
            vectors.append(self.text_projection(self._input(inputs, "words")))
        if len(vectors) > 1:
            return self.fusion(vectors)
        return vectors[0], ops.ones_like(vectors[0][..., :1])

    def frames(self, inputs: Mapping[str, Any], mask, training=None):
        """The per-frame fused vectors [B, T, fusion_size]: what the first LSTM reads."""
        return self.fused(inputs, mask, training=training)[0]

    def outputs(self, x, mask, training=None):
        """tanh(Dense(D)) per frame on the last LSTM's sequence."""
        return self.head(x)

    def call(self, inputs: Mapping[str, Any], training=None, return_attention: bool = False):
        """Predictions [B, T, D] (`step` from the zero state); with `return_attention`, also
        the fusion weights [B, T, M] (from a second pass of `fused`: for analysis)."""
        predictions = self.step(inputs, None, training=training)[0]
        if not return_attention:
            return predictions
        return predictions, self.fused(inputs, self.input_mask(inputs), training=training)[1]

    def attention(self, inputs: Mapping[str, Any]):
        """Fusion weights [B, T, M] in inference mode, M in `self.modalities` order."""
        return self(inputs, training=False, return_attention=True)[1]

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, for `from_config` and `.keras` reloading."""
        return {
            **super().get_config(),
            "frame_length": self.frame_length,
            "word_dim": self.word_dim,
            "label_names": list(self.label_names),
            "modalities": list(self.modalities),
            "audio_scale": self.audio_scale,
            "hidden": self.hidden,
            "lstm_layers": self.lstm_layers,
            "fusion_size": self.fusion_size,
            "attention_units": self.attention_units,
            "audio_variant": self.audio_variant,
            "dropout": self.dropout_rate,
        }


@dataclass(frozen=True)
class SemanticFusionConfig(Options):
    """The options of `--model semantic_fusion` (sizes and label names come from the records)."""

    modalities: tuple[str, ...] = option(MODALITIES, "inputs, comma-separated: audio, text or "
                                         "audio,text (one modality: no attention)",
                                         choices=MODALITIES)
    hidden: int = option(256, "LSTM units")
    lstm_layers: int = option(1, "LSTM layers")
    fusion_size: int = option(128, "size each modality is projected to before the fusion")
    attention_units: int = option(64, "units of the attention over the modalities")
    audio_variant: str = option("tzirakis", "audio conv stack: Tzirakis et al. or end2you's "
                                "Emo18", choices=tuple(AUDIO_VARIANTS))
    dropout: float = option(0.5, "dropout on the encoded audio frames")


def build(description: DatasetDescription, config: SemanticFusionConfig) -> SemanticFusion:
    """The model with frame length, word size, label names and the train-set audio std of
    `description` (the std scales the raw audio), and the options of `config`."""
    modalities = _canonical_modalities(config.modalities)
    audio_scale = 1.0
    if "audio" in modalities:
        try:
            audio_scale = float(description.normalisation["audio"]["std"])
        except (KeyError, TypeError) as error:
            raise ValueError(
                f"dataset {description.name!r} has no train-set audio std in its description "
                "(normalisation.audio.std)"
            ) from error
    return SemanticFusion(
        frame_length=description.frame_length, word_dim=description.word_dim,
        label_names=description.label_names, audio_scale=audio_scale,
        **{**option_values(config), "modalities": modalities},
    )
