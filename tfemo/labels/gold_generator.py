"""The recurrent gold-standard generator: a learned fusion of annotators, tied to the audio.

After the linearly-constrained gold-standard generation for RECOLA (docs/design.md, "Models"):
a BiGRU (hidden 16) reads every annotator's rating (all dimensions and raters) and, unless the
generator is annotation-only, the frame features; a linear layer on its states reconstructs each
annotator's trace [B, T, D, R]. The gold standard (GS) [B, T, D] is the mean of the
reconstructions weighted by softmax(rater_logits) over the raters, where `rater_logits` [D, R]
is a trainable variable (upstream meant to learn these weights, but they were a plain tensor
that never trained: docs/design.md, defect 6). A linear head Dense(D) on the features must
predict the GS: the linear constraint.

    loss = alpha * (1 - CrossCCC(reconstructions, annotations))
           + (2 - alpha) * (1 - CCC(linear(features), GS))

CrossCCC (tfemo.scoring.losses.cross_ccc) averages the CCC of a reconstruction delayed by
0..max_shift frames against its annotation, so a reconstruction may LEAD its annotation:
annotators react late, and the bidirectional GRU can see what they will rate. The linear
constraint decides how far to lead: the features have no reaction lag, so the GS that they
predict best is the one in time with the audio. With alpha = 2 the generator is
annotation-only (no features, no linear head, and the rater weights stay equal: only the linear
term depends on them). Only frames where `mask` holds enter either term (docs/design.md, defect 2).

Choosing the knobs (measured on the demo corpus, benchmarks/gold_standard.py): averaging the
CCC over delays 0..S is best served by a reconstruction close to the mean of the annotation
over the next S frames, i.e. one that leads by about S / 2 and is blurred over S frames; so S
should cover the largest reaction lag without being much longer (annotators 1-3 s late: S = 75
frames did better than 124). A small alpha lets the GS and the linear head agree on a trace the
features predict but nobody rated (alpha 1.0 collapsed on the demo corpus); keep alpha near 2.

`generate_gold_standard` trains one generator on a set of recordings (arrays, any lengths) with
Model.fit and returns the GS of each, on the ratings' own scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from tfemo.scoring.losses import cross_ccc
from tfemo.scoring.metrics import masked_ccc

ANNOTATION_ONLY_ALPHA = 2.0
DEFAULT_ALPHA = 1.8
DEFAULT_MAX_SHIFT = 124  # frames: 5 s at 25 Hz
DEFAULT_HIDDEN = 16


@keras.saving.register_keras_serializable(package="tfemo")
class GoldStandardGenerator(keras.Model):
    """BiGRU reconstruction of each annotator, learned rater weights, linear constraint.

    Inputs: a dict with "ratings" [B, T, D, R], "features" [B, T, F] (unless annotation-only)
    and optionally "mask" [B, T] (True on real frames). Outputs: a dict with "reconstruction"
    [B, T, D, R], "gold_standard" [B, T, D] and, with features, "linear" [B, T, D].
    """

    def __init__(self, num_dimensions: int, num_raters: int, num_features: int = 0,
                 hidden: int = DEFAULT_HIDDEN, alpha: float = DEFAULT_ALPHA,
                 max_shift: int = DEFAULT_MAX_SHIFT, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= alpha <= ANNOTATION_ONLY_ALPHA:
            raise ValueError(f"alpha must be in [0, 2], got {alpha}")
        if alpha < ANNOTATION_ONLY_ALPHA and num_features < 1:
            raise ValueError(f"alpha {alpha} < 2 needs frame features (num_features >= 1); "
                             "alpha = 2 is the annotation-only generator")
        if num_dimensions < 1 or num_raters < 1:
            raise ValueError(f"need >= 1 dimension and rater, got {num_dimensions}, {num_raters}")
        self.num_dimensions = num_dimensions
        self.num_raters = num_raters
        self.alpha = float(alpha)
        self.uses_features = alpha < ANNOTATION_ONLY_ALPHA
        self.num_features = num_features if self.uses_features else 0
        self.hidden = hidden
        self.max_shift = max_shift
        self.encoder = layers.Bidirectional(layers.GRU(hidden, return_sequences=True),
                                            name="encoder")
        self.reconstruct = layers.Dense(num_dimensions * num_raters, name="reconstruct")
        self.linear = layers.Dense(num_dimensions, name="linear") if self.uses_features else None
        # only the linear constraint depends on the weights: annotation-only, they stay equal
        self.rater_logits = self.add_weight(shape=(num_dimensions, num_raters),
                                            initializer="zeros", trainable=self.uses_features,
                                            name="rater_logits")
        self.cross_ccc_tracker = keras.metrics.Mean(name="cross_ccc")
        self.linear_ccc_tracker = (keras.metrics.Mean(name="linear_ccc") if self.uses_features
                                   else None)

    def rater_weights(self):
        """The fusion weights [D, R]: softmax of the trainable logits over the raters."""
        return ops.softmax(self.rater_logits, axis=-1)

    def call(self, inputs: dict, training: bool | None = None) -> dict:
        ratings = ops.convert_to_tensor(inputs["ratings"])
        batch, frames = ops.shape(ratings)[0], ops.shape(ratings)[1]
        mask = inputs.get("mask")
        mask = None if mask is None else ops.cast(mask, "bool")
        flat = ops.reshape(ratings, (batch, frames, self.num_dimensions * self.num_raters))
        if self.uses_features:
            features = ops.cast(inputs["features"], flat.dtype)
            flat = ops.concatenate([flat, features], axis=-1)
        states = self.encoder(flat, mask=mask, training=training)
        reconstruction = ops.reshape(self.reconstruct(states),
                                     (batch, frames, self.num_dimensions, self.num_raters))
        gold = ops.sum(reconstruction * self.rater_weights(), axis=-1)
        outputs = {"reconstruction": reconstruction, "gold_standard": gold}
        if self.uses_features:
            outputs["linear"] = self.linear(features)
        return outputs

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """alpha (1 - CrossCCC) + (2 - alpha) (1 - CCC(linear, GS)), on masked frames only."""
        ratings = ops.convert_to_tensor(x["ratings"])
        mask = x.get("mask")
        mask = (ops.ones(ops.shape(ratings)[:2], "bool") if mask is None
                else ops.cast(mask, "bool"))
        agreement = cross_ccc(ratings, y_pred["reconstruction"], mask, self.max_shift)
        self.cross_ccc_tracker.update_state(agreement)
        loss = self.alpha * (1.0 - agreement)
        if self.uses_features:
            linear = ops.mean(masked_ccc(y_pred["gold_standard"], y_pred["linear"], mask))
            self.linear_ccc_tracker.update_state(linear)
            loss = loss + (ANNOTATION_ONLY_ALPHA - self.alpha) * (1.0 - linear)
        return loss

    def get_config(self) -> dict:
        return {**super().get_config(), "num_dimensions": self.num_dimensions,
                "num_raters": self.num_raters, "num_features": self.num_features,
                "hidden": self.hidden, "alpha": self.alpha, "max_shift": self.max_shift}


# ----------------------------------------------------------------------------- training


@dataclass
class GeneratorResult:
    """The GS of each recording [T_i, D] (ratings' scale), the rater weights [D, R] and history."""

    gold: list[np.ndarray]
    rater_weights: np.ndarray
    history: dict[str, list[float]] = field(default_factory=dict)
    linear: list[np.ndarray] | None = None


def _standardise(arrays: Sequence[np.ndarray], axes: tuple[int, ...],
                 ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Arrays minus the mean over all their frames (and `axes`), divided by the std."""
    stacked = np.concatenate([np.asarray(a, np.float64) for a in arrays])
    mean = stacked.mean(axis=(0, *axes), keepdims=True)[0]
    std = stacked.std(axis=(0, *axes), keepdims=True)[0]
    std = np.where(std > 1e-12, std, 1.0)
    return [((a - mean) / std).astype(np.float32) for a in arrays], mean, std


def _chunks(arrays: Sequence[np.ndarray], length: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut sequences [T_i, ...] into chunks [N, length, ...] (last ones zero-padded) + mask."""
    pieces, masks = [], []
    for array in arrays:
        for start in range(0, len(array), length):
            piece = array[start:start + length]
            padded = np.zeros((length, *array.shape[1:]), np.float32)
            padded[:len(piece)] = piece
            pieces.append(padded)
            masks.append(np.arange(length) < len(piece))
    return np.stack(pieces), np.stack(masks)


def _padded(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Whole sequences [T_i, ...] as one zero-padded batch [N, max T, ...] and its mask."""
    return _chunks(arrays, max(len(a) for a in arrays))


def _check_inputs(ratings: Sequence[np.ndarray], features: Sequence[np.ndarray] | None,
                  alpha: float) -> None:
    if not ratings:
        raise ValueError("no recordings to train the generator on")
    shapes = {np.shape(r)[1:] for r in ratings}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"every recording's ratings must be [T, D, R] with the same D and R, "
                         f"got {sorted(shapes)}")
    for k, r in enumerate(ratings):
        if len(r) < 2 or not np.isfinite(r).all():
            raise ValueError(f"recording {k}: ratings need >= 2 frames and finite values")
    if alpha < ANNOTATION_ONLY_ALPHA:
        if features is None or len(features) != len(ratings):
            raise ValueError(f"alpha {alpha} < 2 needs features for every recording")
        for k, (r, f) in enumerate(zip(ratings, features, strict=True)):
            if np.ndim(f) != 2 or len(f) != len(r) or not np.isfinite(f).all():
                raise ValueError(f"recording {k}: features must be finite [T, F] with T = "
                                 f"{len(r)} (the ratings' frames), got shape {np.shape(f)}")


def generate_gold_standard(ratings: Sequence[np.ndarray],
                           features: Sequence[np.ndarray] | None = None, *,
                           alpha: float = DEFAULT_ALPHA, max_shift: int = DEFAULT_MAX_SHIFT,
                           hidden: int = DEFAULT_HIDDEN, epochs: int = 200,
                           steps: int | None = None, learning_rate: float = 0.01,
                           chunk_frames: int = 1500, batch_size: int = 32, seed: int = 0,
                           verbose: int = 0,
                           on_epoch: Callable[[int, int], None] | None = None,
                           ) -> GeneratorResult:
    """Train a generator on recordings (ratings [T_i, D, R], features [T_i, F]) -> their GS.

    Ratings are standardised per dimension (one mean and std over all raters and frames) and
    the GS is mapped back to their scale; features are standardised per column with the
    statistics of these recordings. Training runs on chunks of `chunk_frames` frames (the
    BiGRU's sequential length); the GS is computed on each whole recording. `steps` (gradient
    updates) overrides `epochs` when given. `on_epoch(done, total)` hears each epoch's end.
    """
    _check_inputs(ratings, features, alpha)
    keras.utils.set_random_seed(seed)
    num_dims, num_raters = np.shape(ratings[0])[1:]
    scaled, rating_mean, rating_std = _standardise(ratings, axes=(2,))
    inputs: dict[str, list[np.ndarray]] = {"ratings": scaled}
    num_features = 0
    if alpha < ANNOTATION_ONLY_ALPHA:
        inputs["features"], _, _ = _standardise(features, axes=())
        num_features = inputs["features"][0].shape[1]
    model = GoldStandardGenerator(num_dims, num_raters, num_features, hidden=hidden,
                                  alpha=alpha, max_shift=max_shift)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    train = {name: _chunks(arrays, chunk_frames)[0] for name, arrays in inputs.items()}
    train["mask"] = _chunks(inputs["ratings"], chunk_frames)[1]
    if steps is not None:
        per_epoch = math.ceil(len(train["mask"]) / batch_size)
        epochs = max(1, math.ceil(steps / per_epoch))
    callbacks = []
    if on_epoch is not None:
        on_epoch(0, epochs)  # the first epoch also builds and traces the model: say so first
        callbacks.append(keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: on_epoch(epoch + 1, epochs)))
    history = model.fit(train, batch_size=batch_size, epochs=epochs, shuffle=True,
                        verbose=verbose, callbacks=callbacks)
    whole = {name: _padded(arrays)[0] for name, arrays in inputs.items()}
    whole["mask"] = _padded(inputs["ratings"])[1]
    outputs = model.predict_on_batch(whole)
    scale = rating_std[..., 0]  # [D]
    shift = rating_mean[..., 0]
    gold = [np.asarray(outputs["gold_standard"][k, :len(r)], np.float64) * scale + shift
            for k, r in enumerate(ratings)]
    linear = None
    if "linear" in outputs:
        linear = [np.asarray(outputs["linear"][k, :len(r)], np.float64) * scale + shift
                  for k, r in enumerate(ratings)]
    return GeneratorResult(gold, np.asarray(model.rater_weights(), np.float64),
                           {k: [float(v) for v in vals] for k, vals in history.history.items()},
                           linear)
