"""Keras losses over valid frames only: the frame mask arrives as Keras's sample weight."""

from __future__ import annotations

import keras

from tfemo.metrics import ccc_loss


@keras.saving.register_keras_serializable(package="tfemo")
class MaskedCCCLoss(keras.losses.Loss):
    """1 - CCC per output dimension, averaged with equal weights, over frames where mask is True.

    CCC is a statistic of the whole batch, not a mean of per-frame terms, so Keras's usual
    per-element weighting cannot express it: the mask passed as `sample_weight` selects the
    frames instead (padded frames never count, DESIGN.md section 6, bug 2).
    """

    def __init__(self, name: str = "ccc_loss", **kwargs) -> None:
        super().__init__(name=name, **kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is None:
            sample_weight = keras.ops.ones(keras.ops.shape(y_pred)[:-1], dtype="bool")
        return ccc_loss(y_true, y_pred, keras.ops.cast(sample_weight, "bool"))

    def call(self, y_true, y_pred):
        return ccc_loss(y_true, y_pred, keras.ops.ones(keras.ops.shape(y_pred)[:-1], "bool"))
