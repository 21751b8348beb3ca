"""Keras losses over valid frames only: masked CCC, and Cross-CCC over prediction delays.

MaskedCCCLoss takes the frame mask as Keras's sample weight; cross_ccc takes it as an argument.
"""

from __future__ import annotations

import keras
from keras import ops

from tfemo.scoring.metrics import _ccc_from_moments, ccc_loss


def per_replica(loss):
    """`loss` divided by the replicas of the current tf.distribute strategy, as Keras's own
    losses are: the trainer sums the replicas' gradients and multiplies the logged loss back,
    so an unscaled loss would step and log N times the mean with N replicas."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            loss = loss / replicas
    return loss


@keras.saving.register_keras_serializable(package="tfemo")
class MaskedCCCLoss(keras.losses.Loss):
    """1 - CCC per output dimension, averaged with equal weights, over frames where mask is True.

    CCC is a statistic of the whole batch, not a mean of per-frame terms, so Keras's usual
    per-element weighting cannot express it: the mask passed as `sample_weight` selects the
    frames instead (padded frames never count, docs/design.md, defect 2).
    """

    def __init__(self, name: str = "ccc_loss", **kwargs) -> None:
        super().__init__(name=name, **kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is None:
            sample_weight = keras.ops.ones(keras.ops.shape(y_pred)[:-1], dtype="bool")
        return per_replica(ccc_loss(y_true, y_pred, keras.ops.cast(sample_weight, "bool")))

    def call(self, y_true, y_pred):
        return ccc_loss(y_true, y_pred, keras.ops.ones(keras.ops.shape(y_pred)[:-1], "bool"))


# ----------------------------------------------------------------------------- Cross-CCC

MIN_PAIRS = 2  # a (sequence, shift) with fewer valid frame pairs has no defined CCC


def _correlate(a_fft, b_fft, fft_length, max_shift):
    """c[..., n] = sum_t a[..., t] b[..., t - n] for n = 0..max_shift, from rfft pairs."""
    (ar, ai), (br, bi) = a_fft, b_fft
    product = (ar * br + ai * bi, ai * br - ar * bi)  # a times the conjugate of b
    return ops.irfft(product, fft_length)[..., : max_shift + 1]


def cross_ccc_per_shift(y_true, y_pred, mask, max_shift: int):
    """CCC of every sequence, channel and shift, and the number of frame pairs it covers.

    Returns (ccc [B, C, S + 1], pairs [B, S + 1]): ccc[b, c, n] is the CCC of pred[t - n]
    against true[t] over the frames t where mask[t] and mask[t - n] both hold; the trailing
    axes of y_true / y_pred [B, T, ...] are flattened into C channels. All shifts come from
    one set of FFT cross-correlations of the six sufficient statistics (no loop over shifts).
    """
    if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"max_shift must be an int >= 0, got {max_shift!r}")
    y_pred = ops.convert_to_tensor(y_pred)
    dtype = y_pred.dtype
    batch, frames = ops.shape(y_pred)[0], ops.shape(y_pred)[1]
    # channels first, time last: rfft works on the last axis
    y_pred = ops.transpose(ops.reshape(y_pred, (batch, frames, -1)), (0, 2, 1))
    y_true = ops.transpose(ops.reshape(ops.cast(y_true, dtype), (batch, frames, -1)), (0, 2, 1))
    weight = ops.cast(ops.expand_dims(mask, 1), dtype)  # [B, 1, T]
    # subtract the target's mean from both (CCC is unchanged) to keep float32 sums accurate
    offset = ops.sum(y_true * weight, axis=-1, keepdims=True) / ops.maximum(
        ops.sum(weight, axis=-1, keepdims=True), 1.0)
    x = (y_pred - offset) * weight
    y = (y_true - offset) * weight
    fft_length = frames + max_shift  # zero padding: no wrap-around for shifts 0..max_shift
    spectra = {name: ops.rfft(value, fft_length) for name, value in
               (("m", weight), ("x", x), ("y", y), ("xx", x * x), ("yy", y * y))}

    def correlate(a: str, b: str):
        return _correlate(spectra[a], spectra[b], fft_length, max_shift)

    pairs = correlate("m", "m")  # [B, 1, S + 1]
    moments = (pairs, correlate("m", "x"), correlate("y", "m"), correlate("m", "xx"),
               correlate("yy", "m"), correlate("y", "x"))
    pairs = ops.round(pairs)
    # frames without a partner contribute nothing; round-off is cleared where no pair exists
    moments = [ops.where(pairs > 0, value, 0.0) for value in moments]
    return _ccc_from_moments(pairs, *moments[1:]), pairs[:, 0, :]


def cross_ccc(y_true, y_pred, mask, max_shift: int = 124):
    """Cross-CCC: the mean over shifts n = 0..max_shift of CCC(pred delayed by n, true).

    "Delayed by n" compares pred[t - n] with true[t], so a prediction scores best when it
    LEADS its target (annotators react late). CCC per sequence of the batch and per channel
    (trailing axes), population moments, over frames where `mask` [B, T] holds for both t and
    t - n; the mean runs over every (sequence, channel, shift) with at least MIN_PAIRS such
    frames (a short sequence simply has fewer shifts).
    """
    values, pairs = cross_ccc_per_shift(y_true, y_pred, mask, max_shift)
    valid = ops.cast(pairs >= MIN_PAIRS, values.dtype)[:, None, :]
    total = ops.sum(valid) * ops.cast(ops.shape(values)[1], values.dtype)
    return ops.sum(values * valid) / ops.maximum(total, 1.0)
