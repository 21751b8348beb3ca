"""CCC (loss, metric, streaming) and class scores against direct formulas."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score

from tfemo.scoring.metrics import StreamingCCC, ccc, ccc_loss, classification_scores, masked_ccc


def direct_ccc(x: np.ndarray, y: np.ndarray) -> float:
    """The textbook formula with population moments, one dimension."""
    mx, my = x.mean(), y.mean()
    return 2 * np.mean((x - mx) * (y - my)) / (x.var() + y.var() + (mx - my) ** 2)


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    y = rng.normal(size=(4, 30, 2))
    x = 0.6 * y + rng.normal(scale=0.5, size=y.shape) + 0.2
    mask = np.ones((4, 30), bool)
    for row, valid in enumerate((30, 17, 9, 1)):
        mask[row, valid:] = False
    return x, y, mask


def test_numpy_ccc_matches_the_formula_on_valid_frames(data):
    x, y, mask = data
    got = ccc(x, y, mask)
    for d in range(2):
        assert got[d] == pytest.approx(direct_ccc(x[..., d][mask], y[..., d][mask]), rel=1e-10)


def test_keras_masked_ccc_and_loss(data):
    x, y, mask = data
    got = np.asarray(masked_ccc(y.astype("float32"), x.astype("float32"), mask))
    np.testing.assert_allclose(got, ccc(x, y, mask), rtol=1e-4)
    loss = float(ccc_loss(y.astype("float32"), x.astype("float32"), mask))
    assert loss == pytest.approx(1 - ccc(x, y, mask).mean(), rel=1e-4)


def test_padding_does_not_change_the_loss(data):
    x, y, mask = data
    rng = np.random.default_rng(3)
    padded_x = np.where(mask[..., None], x, rng.normal(size=x.shape) * 100)
    padded_y = np.where(mask[..., None], y, rng.normal(size=y.shape) * 100)
    a = float(ccc_loss(y.astype("float32"), x.astype("float32"), mask))
    b = float(ccc_loss(padded_y.astype("float32"), padded_x.astype("float32"), mask))
    assert a == pytest.approx(b, rel=1e-5)
    unpadded = float(ccc_loss(y[0:1].astype("float32"), x[0:1].astype("float32"), mask[0:1]))
    assert unpadded == pytest.approx(1 - ccc(x[0], y[0]).mean(), rel=1e-4)


def test_constant_inputs_give_zero_not_nan():
    x = np.ones((10, 1))
    assert ccc(x, x * 0)[0] == 0.0
    assert np.isfinite(ccc(x, x)[0])


def test_streaming_ccc_equals_ccc_of_the_concatenation(data):
    x, y, mask = data
    for dimension in range(2):
        metric = StreamingCCC(dimension)
        for row in range(4):  # one sequence per batch, different lengths
            metric.update_state(y[row:row + 1], x[row:row + 1], mask[row:row + 1])
        assert float(metric.result()) == pytest.approx(ccc(x, y, mask)[dimension], abs=1e-6)
        metric.reset_state()
        metric.update_state(y, x, mask)
        assert float(metric.result()) == pytest.approx(ccc(x, y, mask)[dimension], abs=1e-6)


def test_class_scores_match_scikit_learn():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 4, 200))
    scores = classification_scores(y_true, y_pred, 4)
    assert scores["uar"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert scores["wa"] == pytest.approx(np.mean(y_true == y_pred))
    assert scores["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert scores["confusion"].sum() == 200


def test_class_scores_of_one_class_or_an_absent_prediction_are_defined(recwarn):
    one = classification_scores(np.array([2, 2, 2]), np.array([2, 2, 2]), 4)
    assert one["uar"] == 1.0 and one["confusion"].shape == (4, 4)
    assert one["confusion"][2, 2] == 3
    # class 3 predicted but never true: UAR averages over the true classes 0 and 1 only
    absent = classification_scores(np.array([0, 0, 1, 1]), np.array([0, 3, 1, 1]), 4)
    assert absent["uar"] == pytest.approx((0.5 + 1.0) / 2)
    assert not [str(w.message) for w in recwarn]


def test_the_keras_loss_takes_the_mask_as_sample_weight(data):
    from tfemo.scoring.losses import MaskedCCCLoss

    x, y, mask = data
    loss = MaskedCCCLoss()
    padded_x = np.where(mask[..., None], x, 100.0).astype("float32")
    masked = float(loss(y.astype("float32"), padded_x, sample_weight=mask))
    assert masked == pytest.approx(1 - ccc(x, y, mask).mean(), rel=1e-4)
    unmasked = float(loss(y.astype("float32"), padded_x))
    assert unmasked != pytest.approx(masked, rel=1e-2)


def test_the_loss_weights_every_dimension_equally():
    """Upstream divided the loss by a running count (weights 1, 1/2, 1/3): here each of three
    dimensions counts 1/3, whatever its order."""
    rng = np.random.default_rng(3)
    y = rng.normal(size=(2, 40, 3)).astype("float32")
    x = np.stack([y[..., 0], -y[..., 1], rng.normal(size=(2, 40))], axis=-1).astype("float32")
    mask = np.ones((2, 40), bool)
    per_dimension = ccc(x, y, mask)
    expected = 1 - per_dimension.mean()
    assert float(ccc_loss(y, x, mask)) == pytest.approx(expected, rel=1e-5)
    reordered = [2, 0, 1]
    assert float(ccc_loss(y[..., reordered], x[..., reordered], mask)) == pytest.approx(
        expected, rel=1e-5)
    assert abs(expected - (1 - np.average(per_dimension, weights=[1, 1 / 2, 1 / 3]))) > 0.05
