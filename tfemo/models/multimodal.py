"""Audio + text emotion classifier (the IEMOCAP multimodal recipe): batch dict -> class
probabilities [B, C].

audio branch (`features` [B, T, F], `mask` [B, T]): the train-set standardisation of
conv1d (`FeatureStandardiser`), then either masked Conv1D frame blocks pooled by masked mean
and max ("frames") or the masked utterance statistics ("utterance": mean and std;
"utterance_rich": also percentiles and deltas), all built from conv1d's masked layers and
pooling functions; BatchNormalization of the pooled vector.
text branch (`word_sequence` [B, W, word_dim], `word_mask` [B, W]): each word once, in
spoken order (not repeated on its 40 ms frames), LayerNormalization per word, then a BiGRU
pooled by masked mean ("bigru") or masked attention pooling of projected words ("attention").
fusion of the branch vectors, each projected to `fusion_size`: "concat", "gated" (a gated
multimodal unit: z * h_audio + (1 - z) * h_text with z = sigmoid(W [a; t])) or "attention"
(softmax weights over the modalities from a shared scorer). With one modality the fusion is
skipped, so `modalities` audio / text / audio,text are the ablations of the same code.
head: dropout -> Dense GELU -> dropout -> softmax.

Padding never changes an output: padded frames are zeroed and never pooled (conv1d's
contract), the BiGRU skips masked words and the pooling counts real words only; an utterance
with no words gives a zero text vector.
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
    feature_sizes_from_description,
    frame_mask,
    pool_frames,
)
from tfemo.records.description import DatasetDescription

MODALITIES = ("audio", "text")
FUSIONS = ("concat", "gated", "attention")
AUDIO_VARIANTS = ("frames", "utterance", "utterance_rich")
TEXT_ENCODERS = ("bigru", "attention")
INPUT_KEYS = {"audio": ("features",), "text": ("word_sequence", "word_mask")}
# what to do when the records have no words (the corpus gave no transcripts)
NO_WORDS = ("the text branch needs words, and the records have none (word_dim 0: the corpus "
            "gives no transcripts, or --embeddings none): make them with "
            "python -m tfemo.make_tfrecords --transcripts asr (recognised English speech) or "
            "--transcripts FILE.csv (path,transcript from any recogniser)")
_NEGATIVE = -1e9  # the score of a padded word in the attention pooling


def _masked_mean(x, mask):
    """Mean [B, H] of x [B, W, H] over the positions where mask [B, W] is True (0 if none)."""
    valid = ops.expand_dims(mask, -1)
    count = ops.maximum(ops.sum(ops.cast(valid, x.dtype), axis=1), 1.0)
    return ops.sum(ops.where(valid, x, 0.0), axis=1) / count


def masked_attention_pool(x, scores, mask):
    """Sum over W of softmax(scores) * x, the softmax over the real positions only: [B, H].

    x [B, W, H], scores [B, W], mask [B, W]; a row without real positions gives zeros.
    """
    scores = ops.where(mask, scores, _NEGATIVE)
    weights = ops.softmax(scores, axis=-1) * ops.cast(mask, x.dtype)
    return ops.sum(ops.expand_dims(weights, -1) * ops.where(ops.expand_dims(mask, -1), x, 0.0),
                   axis=1)


@keras.saving.register_keras_serializable(package="tfemo")
class MultimodalClassifier(keras.Model):
    """Audio-feature and word-sequence classifier with concat, gated or attention fusion."""

    def __init__(
        self,
        *,
        class_names: Sequence[str],
        modalities: Sequence[str] = MODALITIES,
        feature_dim: int = 0,
        feature_mean: Sequence[float] | None = None,
        feature_std: Sequence[float] | None = None,
        word_dim: int = 0,
        fusion: str = "concat",
        audio_variant: str = "frames",
        filters: int = 64,
        kernel_size: int = 5,
        blocks: int = 2,
        text_encoder: str = "bigru",
        text_units: int = 64,
        fusion_size: int = 64,
        hidden: int = 64,
        dropout: float = 0.3,
        min_std: float = MIN_STD,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "multimodal_classifier")
        super().__init__(**kwargs)
        self.class_names = tuple(str(c) for c in class_names)
        self.modalities = tuple(m for m in MODALITIES if m in tuple(modalities))
        self.feature_dim, self.word_dim = int(feature_dim), int(word_dim)
        self.fusion_kind, self.audio_variant = fusion, audio_variant
        self.filters, self.kernel_size, self.blocks = int(filters), int(kernel_size), int(blocks)
        self.text_encoder, self.text_units = text_encoder, int(text_units)
        self.fusion_size, self.hidden = int(fusion_size), int(hidden)
        self.dropout_rate = float(dropout)
        self._check(modalities)
        self.dropout = layers.Dropout(self.dropout_rate)
        if "audio" in self.modalities:
            self.standardiser = FeatureStandardiser(feature_mean, feature_std, min_std,
                                                    name="standardiser")
            if audio_variant == "frames":
                self.projection = layers.Dense(self.filters, name="audio_projection")
                self.convs = [layers.Conv1D(self.filters, self.kernel_size, padding="same",
                                            name=f"conv_{k}") for k in range(self.blocks)]
                self.norms = [layers.LayerNormalization(name=f"norm_{k}")
                              for k in range(self.blocks)]
            self.audio_norm = layers.BatchNormalization(momentum=0.9, name="audio_norm")
            self.audio_out = layers.Dense(self.fusion_size, activation="gelu", name="audio_out")
        if "text" in self.modalities:
            self.word_norm = layers.LayerNormalization(name="word_norm")
            if text_encoder == "bigru":
                self.gru = layers.Bidirectional(layers.GRU(self.text_units, return_sequences=True),
                                                name="bigru")
            else:
                self.word_projection = layers.Dense(2 * self.text_units, activation="tanh",
                                                    name="word_projection")
                self.word_score = layers.Dense(1, name="word_score")
            self.text_out = layers.Dense(self.fusion_size, activation="gelu", name="text_out")
        if len(self.modalities) == 2 and fusion == "gated":
            self.gate = layers.Dense(self.fusion_size, activation="sigmoid", name="gate")
        if len(self.modalities) == 2 and fusion == "attention":
            self.modality_score = layers.Dense(1, name="modality_score")
        self.dense = layers.Dense(self.hidden, activation="gelu", name="dense")
        self.classifier = layers.Dense(len(self.class_names), activation="softmax", name="output")
        self.build()

    def _check(self, modalities: Sequence[str]) -> None:
        """Fail early on options or sizes the description could not have meant."""
        unknown = sorted(set(modalities) - set(MODALITIES))
        if unknown or not self.modalities:
            raise ValueError(f"modalities must be a non-empty subset of {MODALITIES}, got "
                             f"{tuple(modalities)}")
        for name, value, allowed in (("fusion", self.fusion_kind, FUSIONS),
                                     ("audio_variant", self.audio_variant, AUDIO_VARIANTS),
                                     ("text_encoder", self.text_encoder, TEXT_ENCODERS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if len(self.class_names) < 2:
            raise ValueError(f"need at least 2 classes, got {self.class_names}")
        if "audio" in self.modalities and self.feature_dim < 1:
            raise ValueError("the audio branch needs per-frame features (feature_dim >= 1): "
                             "make the records with --features")
        if "text" in self.modalities and self.word_dim < 1:
            raise ValueError(NO_WORDS)
        sizes = (self.filters, self.kernel_size, self.blocks, self.text_units, self.fusion_size,
                 self.hidden)
        if min(sizes) < 1:
            raise ValueError(f"filters, kernel_size, blocks, text_units, fusion_size and hidden "
                             f"must be positive, got {sizes}")
        if not 0 <= self.dropout_rate < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout_rate}")

    @property
    def input_keys(self) -> tuple[str, ...]:
        """The batch keys the model reads (besides `mask`): only its modalities' inputs."""
        return tuple(key for m in self.modalities for key in INPUT_KEYS[m])

    def _audio_pooled_dim(self) -> int:
        if self.audio_variant == "frames":
            return 2 * self.filters
        return (5 if self.audio_variant == "utterance_rich" else 2) * self.feature_dim

    def build(self, input_shape: Any = None) -> None:
        """Create every weight from the configured sizes; `input_shape` is not needed."""
        if "audio" in self.modalities:
            if self.audio_variant == "frames":
                self.projection.build((None, None, self.feature_dim))
                for conv, norm in zip(self.convs, self.norms, strict=True):
                    conv.build((None, None, self.filters))
                    norm.build((None, None, self.filters))
            self.audio_norm.build((None, self._audio_pooled_dim()))
            self.audio_out.build((None, self._audio_pooled_dim()))
        if "text" in self.modalities:
            self.word_norm.build((None, None, self.word_dim))
            if self.text_encoder == "bigru":
                self.gru.build((None, None, self.word_dim))
            else:
                self.word_projection.build((None, None, self.word_dim))
                self.word_score.build((None, None, 2 * self.text_units))
            self.text_out.build((None, 2 * self.text_units))
        if hasattr(self, "gate"):
            self.gate.build((None, 2 * self.fusion_size))
        if hasattr(self, "modality_score"):
            self.modality_score.build((None, None, self.fusion_size))
        fused = 2 * self.fusion_size if (len(self.modalities) == 2
                                         and self.fusion_kind == "concat") else self.fusion_size
        self.dense.build((None, fused))
        self.classifier.build((None, self.hidden))

    def _get(self, inputs: Mapping[str, Any], key: str):
        if key not in inputs:
            raise KeyError(f"{self.name} (modalities {','.join(self.modalities)}) needs batch "
                           f"key {key!r}; got keys {sorted(inputs)}")
        return inputs[key]

    def encode_audio(self, inputs: Mapping[str, Any], training=None):
        """The audio branch: [B, fusion_size] from the real frames of each row."""
        features = self._get(inputs, "features")
        mask = frame_mask(inputs, features)
        pooled = pool_frames(self, self.standardiser(features, mask), mask, self.audio_variant,
                             training)
        pooled = self.dropout(self.audio_norm(pooled, training=training), training=training)
        return self.audio_out(pooled)

    def encode_text(self, inputs: Mapping[str, Any], training=None):
        """The text branch: [B, fusion_size] from the real words of each row."""
        words = ops.cast(self._get(inputs, "word_sequence"), "float32")
        mask = ops.cast(self._get(inputs, "word_mask"), "bool")
        x = ops.where(ops.expand_dims(mask, -1), self.word_norm(words), 0.0)
        if self.text_encoder == "bigru":
            pooled = _masked_mean(self.gru(x, mask=mask, training=training), mask)
        else:
            projected = self.word_projection(x)
            scores = ops.squeeze(self.word_score(projected), -1)
            pooled = masked_attention_pool(projected, scores, mask)
        return self.text_out(self.dropout(pooled, training=training))

    def fuse(self, vectors: list[Any]):
        """One vector per row from the branch vectors (the identity for one modality)."""
        if len(vectors) == 1:
            return vectors[0]
        audio, text = vectors
        if self.fusion_kind == "concat":
            return ops.concatenate([audio, text], axis=-1)
        if self.fusion_kind == "gated":
            gate = self.gate(ops.concatenate([audio, text], axis=-1))
            return gate * audio + (1.0 - gate) * text
        stacked = ops.stack([audio, text], axis=1)  # [B, 2, H]
        weights = ops.softmax(self.modality_score(ops.tanh(stacked)), axis=1)
        return ops.sum(weights * stacked, axis=1)

    def call(self, inputs: Mapping[str, Any], training=None):
        """Class probabilities [B, C]."""
        if not isinstance(inputs, Mapping):
            raise TypeError(f"{self.name} takes a dict of batch tensors, got {type(inputs)}")
        vectors = []
        if "audio" in self.modalities:
            vectors.append(self.encode_audio(inputs, training))
        if "text" in self.modalities:
            vectors.append(self.encode_text(inputs, training))
        x = self.dropout(self.fuse(vectors), training=training)
        x = self.dropout(self.dense(x), training=training)
        return self.classifier(x)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, for `from_config` and `.keras` reloading."""
        audio = "audio" in self.modalities
        return {
            **super().get_config(),
            "class_names": list(self.class_names),
            "modalities": list(self.modalities),
            "feature_dim": self.feature_dim,
            "feature_mean": self.standardiser.mean if audio else None,
            "feature_std": self.standardiser.std if audio else None,
            "word_dim": self.word_dim,
            "fusion": self.fusion_kind,
            "audio_variant": self.audio_variant,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "blocks": self.blocks,
            "text_encoder": self.text_encoder,
            "text_units": self.text_units,
            "fusion_size": self.fusion_size,
            "hidden": self.hidden,
            "dropout": self.dropout_rate,
            "min_std": self.standardiser.min_std if audio else MIN_STD,
        }


@dataclass(frozen=True)
class MultimodalConfig(Options):
    """The options of `--model multimodal` (sizes, statistics and classes come from the
    records)."""

    modalities: tuple[str, ...] = option(MODALITIES, "inputs, comma-separated: audio "
                                         "(per-frame features), text (the word sequence) or "
                                         "both", choices=MODALITIES)
    fusion: str = option("concat", "how the audio and text vectors are joined",
                         choices=FUSIONS)
    audio_variant: str = option("frames", "audio branch: Conv1D blocks over frames or the "
                                "utterance statistics", choices=AUDIO_VARIANTS)
    filters: int = option(64, "filters per Conv1D block (audio_variant frames)")
    kernel_size: int = option(5, "Conv1D kernel size (audio_variant frames)")
    blocks: int = option(2, "Conv1D blocks (audio_variant frames)")
    text_encoder: str = option("bigru", "text branch: BiGRU with masked mean pooling, or "
                               "attention pooling of the projected words", choices=TEXT_ENCODERS)
    text_units: int = option(64, "GRU units per direction (half the attention projection)")
    fusion_size: int = option(64, "size each branch is projected to before the fusion")
    hidden: int = option(64, "units of the dense layer of the head")
    dropout: float = option(0.3, "dropout in the branches and the head")
    min_std: float = option(MIN_STD, "floor of the train-set feature std")


def build(description: DatasetDescription, config: MultimodalConfig) -> MultimodalClassifier:
    """The classifier with the sizes, train statistics and classes of `description` (only
    those of the chosen modalities are needed) and the options of `config`."""
    sizes: dict[str, Any] = {}
    if "audio" in config.modalities:
        sizes.update(feature_sizes_from_description(description))
    if "text" in config.modalities:
        sizes["word_dim"] = int(getattr(description, "word_dim", 0) or 0)
    return MultimodalClassifier(class_names=description.label_names, **sizes,
                                **option_values(config))
