"""Cross-CCC (FFT, all shifts at once) against a direct double loop over sequences and shifts."""

from __future__ import annotations

import numpy as np
import pytest

from tfemo.scoring.losses import cross_ccc, cross_ccc_per_shift
from tfemo.scoring.metrics import ccc


def direct_per_shift(y_true, y_pred, mask, max_shift):
    """ccc[b, c, n] and pairs[b, n] by looping: pred[t - n] against true[t], both valid."""
    batch, frames = mask.shape
    flat_true = y_true.reshape(batch, frames, -1)
    flat_pred = y_pred.reshape(batch, frames, -1)
    values = np.zeros((batch, flat_true.shape[2], max_shift + 1))
    pairs = np.zeros((batch, max_shift + 1))
    for b in range(batch):
        for n in range(max_shift + 1):
            t = np.arange(n, frames)
            keep = mask[b, t] & mask[b, t - n]
            pairs[b, n] = keep.sum()
            if keep.sum() >= 2:
                values[b, :, n] = ccc(flat_pred[b, t - n][keep], flat_true[b, t][keep])
    return values, pairs


def direct_cross_ccc(y_true, y_pred, mask, max_shift):
    values, pairs = direct_per_shift(y_true, y_pred, mask, max_shift)
    valid = np.broadcast_to((pairs >= 2)[:, None, :], values.shape)
    return values[valid].mean()


@pytest.fixture
def batch():
    """[B=4, T=50, D=2, R=3] targets, related predictions, masks with end padding."""
    rng = np.random.default_rng(3)
    y_true = rng.normal(size=(4, 50, 2, 3)).cumsum(axis=1) * 0.1 + 0.4
    y_pred = 0.7 * np.roll(y_true, -2, axis=1) + rng.normal(scale=0.3, size=y_true.shape) - 0.1
    mask = np.ones((4, 50), bool)
    for row, valid in enumerate((50, 31, 9, 4)):  # shorter sequences padded at the end
        mask[row, valid:] = False
    y_pred[~mask] = 123.0  # garbage in padding must not count
    y_true[~mask] = -55.0
    return y_true.astype(np.float32), y_pred.astype(np.float32), mask


def test_every_shift_matches_a_direct_loop(batch):
    y_true, y_pred, mask = batch
    values, pairs = cross_ccc_per_shift(y_true, y_pred, mask, 12)
    expected, expected_pairs = direct_per_shift(y_true.astype(np.float64),
                                                y_pred.astype(np.float64), mask, 12)
    np.testing.assert_array_equal(np.asarray(pairs), expected_pairs)
    valid = np.broadcast_to((expected_pairs >= 2)[:, None, :], expected.shape)
    np.testing.assert_allclose(np.asarray(values)[valid], expected[valid], atol=2e-5)


@pytest.mark.parametrize("max_shift", [0, 5, 12, 60])
def test_cross_ccc_matches_a_direct_loop(batch, max_shift):
    y_true, y_pred, mask = batch
    got = float(cross_ccc(y_true, y_pred, mask, max_shift))
    expected = direct_cross_ccc(y_true.astype(np.float64), y_pred.astype(np.float64), mask,
                                max_shift)
    assert got == pytest.approx(expected, abs=2e-5)


def test_shift_zero_is_the_per_sequence_ccc(batch):
    y_true, y_pred, mask = batch
    values, _ = cross_ccc_per_shift(y_true, y_pred, mask, 0)
    for b in range(len(mask)):
        expected = ccc(y_pred[b].reshape(50, -1)[mask[b]], y_true[b].reshape(50, -1)[mask[b]])
        np.testing.assert_allclose(np.asarray(values)[b, :, 0], expected, atol=2e-5)


def test_a_leading_prediction_scores_best_at_its_lead():
    """pred[t] = true[t + 7]: the CCC of pred delayed by 7 against true is 1."""
    rng = np.random.default_rng(0)
    signal = np.convolve(rng.normal(size=300), np.ones(5) / 5, mode="same")
    y_true, y_pred = signal[None, 7:207, None], signal[None, 14:214, None]
    values, _ = cross_ccc_per_shift(y_true.astype(np.float32), y_pred.astype(np.float32),
                                    np.ones((1, 200), bool), 20)
    assert int(np.argmax(np.asarray(values)[0, 0])) == 7
    assert float(np.asarray(values)[0, 0, 7]) == pytest.approx(1.0, abs=1e-5)


def test_long_sequences_stay_accurate_in_float32():
    """RECOLA-sized: T 7501, 12 channels, shifts 0..124, targets far from zero."""
    rng = np.random.default_rng(1)
    y_true = 5.0 + rng.normal(size=(2, 7501, 2, 6)).cumsum(axis=1) * 0.01
    y_pred = y_true + rng.normal(scale=0.05, size=y_true.shape)
    mask = np.ones((2, 7501), bool)
    mask[1, 6000:] = False
    got = float(cross_ccc(y_true.astype(np.float32), y_pred.astype(np.float32), mask, 124))
    shifts = [0, 31, 124]  # spot-check a few shifts with float64 NumPy
    values, _ = cross_ccc_per_shift(y_true.astype(np.float32), y_pred.astype(np.float32), mask,
                                    124)
    for n in shifts:
        t = np.arange(n, 6000)
        expected = ccc(y_pred[1, t - n].reshape(len(t), -1), y_true[1, t].reshape(len(t), -1))
        np.testing.assert_allclose(np.asarray(values)[1, :, n], expected, atol=1e-4)
    assert 0.0 < got < 1.0


def test_gradient_reaches_the_prediction(batch):
    import tensorflow as tf

    y_true, y_pred, mask = batch
    pred = tf.Variable(y_pred)
    with tf.GradientTape() as tape:
        value = cross_ccc(y_true, pred, mask, 6)
    gradient = tape.gradient(value, pred).numpy()
    assert np.abs(gradient[mask]).sum() > 0
    np.testing.assert_allclose(gradient[~mask], 0.0, atol=1e-6)  # padding gets no gradient


def test_bad_max_shift():
    with pytest.raises(ValueError, match="max_shift"):
        cross_ccc(np.zeros((1, 5, 1), np.float32), np.zeros((1, 5, 1), np.float32),
                  np.ones((1, 5), bool), -1)
