"""Concordance (CCC) for continuous labels and UAR/WA/F1 for classes, over valid frames only.

CCC = 2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2) with population moments. The
masked Keras loss and the streaming metric use the same sufficient statistics, so the streaming
value equals the CCC of all valid frames concatenated, whatever the batching.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops
from sklearn.metrics import confusion_matrix, f1_score

EPSILON = 1e-8


def ccc(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """CCC of predictions `x` and targets `y` [..., D] over the frames where `mask` is True."""
    x = np.asarray(x, np.float64).reshape(-1, np.shape(x)[-1])
    y = np.asarray(y, np.float64).reshape(-1, np.shape(y)[-1])
    if mask is not None:
        keep = np.asarray(mask, bool).reshape(-1)
        x, y = x[keep], y[keep]
    mean_x, mean_y = x.mean(0), y.mean(0)
    covariance = ((x - mean_x) * (y - mean_y)).mean(0)
    denominator = x.var(0) + y.var(0) + (mean_x - mean_y) ** 2
    return 2.0 * covariance / np.maximum(denominator, EPSILON)


def _moments(y_true, y_pred, mask):
    """Sufficient statistics per dimension over valid frames: n, sums, sums of products."""
    weight = ops.cast(ops.expand_dims(mask, -1), y_pred.dtype)
    y_true = ops.cast(y_true, y_pred.dtype) * weight
    y_pred = y_pred * weight
    axes = tuple(range(len(y_pred.shape) - 1))
    count = ops.sum(weight, axis=axes)
    return (count, ops.sum(y_pred, axes), ops.sum(y_true, axes), ops.sum(y_pred * y_pred, axes),
            ops.sum(y_true * y_true, axes), ops.sum(y_pred * y_true, axes))


def _ccc_from_moments(count, sum_x, sum_y, sum_xx, sum_yy, sum_xy):
    """CCC per dimension from sufficient statistics (population moments)."""
    count = ops.maximum(count, 1.0)
    mean_x, mean_y = sum_x / count, sum_y / count
    var_x = sum_xx / count - mean_x * mean_x
    var_y = sum_yy / count - mean_y * mean_y
    covariance = sum_xy / count - mean_x * mean_y
    return 2.0 * covariance / ops.maximum(var_x + var_y + (mean_x - mean_y) ** 2, EPSILON)


def masked_ccc(y_true, y_pred, mask):
    """CCC per output dimension [D] of a batch, counting only frames where `mask` is True."""
    return _ccc_from_moments(*_moments(y_true, y_pred, mask))


def ccc_loss(y_true, y_pred, mask):
    """1 - CCC, averaged over the output dimensions with equal weights (never 1, 1/2, 1/3)."""
    return 1.0 - ops.mean(masked_ccc(y_true, y_pred, mask))


@keras.saving.register_keras_serializable(package="tfemo")
class StreamingCCC(keras.metrics.Metric):
    """CCC of one output dimension over every valid frame seen since the last reset.

    Accumulates the sufficient statistics in float64, so the result is exactly the CCC of the
    concatenated valid frames however they were batched.
    """

    def __init__(self, dimension: int = 0, name: str = "ccc", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.dimension = dimension
        self.moments = [self.add_variable(shape=(), initializer="zeros", dtype="float64",
                                          name=f"m{k}") for k in range(6)]

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add a batch; `sample_weight` is the frame mask [B, T] (all frames when None)."""
        mask = (ops.ones(ops.shape(y_pred)[:-1], dtype="bool") if sample_weight is None
                else ops.cast(sample_weight, "bool"))
        select = slice(self.dimension, self.dimension + 1)
        y_true = ops.cast(y_true[..., select], "float64")
        y_pred = ops.cast(y_pred[..., select], "float64")
        for variable, value in zip(self.moments, _moments(y_true, y_pred, mask), strict=True):
            variable.assign_add(value[0])

    def result(self):
        return ops.cast(_ccc_from_moments(*[ops.convert_to_tensor(m) for m in self.moments]),
                        "float32")

    def reset_state(self):
        for variable in self.moments:
            variable.assign(ops.zeros((), dtype="float64"))

    def get_config(self):
        return {**super().get_config(), "dimension": self.dimension}


def classification_scores(y_true: np.ndarray, y_pred: np.ndarray,
                          num_classes: int) -> dict[str, object]:
    """UAR (balanced accuracy), WA (accuracy), macro F1 and the confusion matrix.

    UAR is the mean recall of the classes present in `y_true`, read off the confusion matrix
    over all `num_classes` (balanced_accuracy_score's value, without its warnings when only
    one class is present or a class is predicted that never occurs).
    """
    labels = list(range(num_classes))
    present = sorted(set(np.asarray(y_true).tolist()))
    confusion = confusion_matrix(y_true, y_pred, labels=labels)
    support = confusion.sum(axis=1)
    recalls = np.diag(confusion)[support > 0] / support[support > 0]
    return {
        "uar": float(recalls.mean()) if present else float("nan"),
        "wa": float(np.mean(np.asarray(y_true) == np.asarray(y_pred))),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro",
                                   zero_division=0)),
        "confusion": confusion,
    }
