"""Tests of the annotator fusion baselines: mean, EWE, centring, lag compensation, agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tfemo.labels.fusion import (
    agreement_table,
    centre_raters,
    compensate_lags,
    ewe_fusion,
    ewe_weights,
    fuse,
    fuse_details,
    mean_fusion,
)
from tfemo.scoring.metrics import ccc

RECOLA_RATINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "recola_ratings"

# a tiny 3-rater example, one column per rater
TINY = np.array([[1, 2, 3, 4, 5], [1, 3, 2, 5, 4], [4, 5, 1, 2, 3]], float).T


def _delayed_raters(delays: tuple[int, ...], seed: int = 0, frames: int = 3000,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random trace [T] and raters [T, R] = the trace delayed by `delays` plus noise."""
    rng = np.random.default_rng(seed)
    kernel = np.exp(-0.5 * (np.arange(-40, 41) / 10.0) ** 2)
    full = np.convolve(rng.standard_normal(frames + 200), kernel / kernel.sum(), mode="same")
    full = full[100:] / full[100:].std()
    start = 50
    trace = full[start:start + frames]
    raters = np.stack([full[start - d:start - d + frames] + 0.05 * rng.standard_normal(frames)
                       for d in delays], axis=1)
    return trace, raters


def _ccc1(x: np.ndarray, y: np.ndarray) -> float:
    """CCC of two 1-D traces."""
    return float(ccc(x[:, None], y[:, None])[0])


def test_ewe_weights_match_a_hand_computation():
    # rater 0 vs mean of raters 1, 2 = [2.5, 4, 1.5, 3.5, 3.5]:
    #   centred rater [-2, -1, 0, 1, 2], centred reference [-.5, 1, -1.5, .5, .5]
    #   r = (1 - 1 + 0 + .5 + 1) / sqrt(10 * 4) = 1.5 / sqrt(40)
    # rater 1 vs mean of raters 0, 2 = [2.5, 3.5, 2, 3, 4]:
    #   centred rater [-2, 0, -1, 2, 1], centred reference [-.5, .5, -1, 0, 1]
    #   r = (1 + 0 + 1 + 0 + 1) / sqrt(10 * 2.5) = 3 / 5
    # rater 2 vs mean of raters 0, 1 = [1, 2.5, 2.5, 4.5, 4.5]:
    #   centred rater [1, 2, -2, -1, 0], centred reference [-2, -.5, -.5, 1.5, 1.5]
    #   r = (-2 - 1 + 1 - 1.5 + 0) / ... < 0  -> clipped to 0
    raw = np.array([1.5 / np.sqrt(40.0), 0.6, 0.0])
    expected = raw / raw.sum()
    np.testing.assert_allclose(ewe_weights(TINY), expected, rtol=1e-12)
    np.testing.assert_allclose(ewe_fusion(TINY), TINY @ expected, rtol=1e-12)
    assert ewe_weights(TINY).sum() == pytest.approx(1.0)


def test_ewe_weights_fall_back_to_equal_when_nobody_agrees():
    ratings = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # r = -1 for both
    np.testing.assert_allclose(ewe_weights(ratings), [0.5, 0.5])


def test_mean_fusion_equals_numpy_mean():
    rng = np.random.default_rng(1)
    ratings = rng.standard_normal((200, 6))
    np.testing.assert_allclose(mean_fusion(ratings), ratings.mean(1))
    as_list = [ratings[:, r] for r in range(6)]
    np.testing.assert_allclose(mean_fusion(as_list), ratings.mean(1))


def test_centring_makes_rater_means_equal():
    rng = np.random.default_rng(2)
    ratings = rng.standard_normal((300, 4)) + np.array([0.5, -0.2, 0.1, 0.9])
    centred = centre_raters(ratings)
    np.testing.assert_allclose(centred.mean(0), np.full(4, ratings.mean(0).mean()))
    np.testing.assert_allclose(centred - centred.mean(0), ratings - ratings.mean(0))
    # for the plain mean the offsets cancel; for EWE they change the weighted mean's level
    np.testing.assert_allclose(mean_fusion(ratings, centre=True), ratings.mean(1))
    weights = ewe_weights(ratings, centre=True)
    np.testing.assert_allclose(ewe_fusion(ratings, centre=True), centred @ weights)


def test_lag_compensation_recovers_known_lags():
    delays = (10, 25, 40)
    trace, raters = _delayed_raters(delays)
    shifted, lags = compensate_lags(raters, 60)
    # only relative lags are identifiable: reported relative to the least delayed rater
    expected = np.array(delays) - min(delays)
    assert np.all(np.abs(lags - expected) <= 1), lags
    # shifted earlier, the end held at the last value
    lag = int(lags[2])
    np.testing.assert_array_equal(shifted[:-lag, 2], raters[lag:, 2])
    np.testing.assert_array_equal(shifted[-lag:, 2], raters[-1, 2])
    plain = _ccc1(mean_fusion(raters), trace)
    compensated = _ccc1(mean_fusion(raters, lag_frames=60), trace)
    assert compensated > plain + 0.1, (plain, compensated)


def test_lag_compensation_recovers_absolute_lags_with_a_prompt_rater():
    delays = (0, 10, 25, 40)
    trace, raters = _delayed_raters(delays, seed=3)
    result = fuse_details(raters[:, None, :], "ewe", lag_frames=50)
    assert np.all(np.abs(result.lags[0] - np.array(delays)) <= 1), result.lags
    assert _ccc1(result.values[:, 0], trace) > 0.98
    assert _ccc1(ewe_fusion(raters), trace) < 0.9


def test_fuse_works_per_dimension():
    rng = np.random.default_rng(4)
    ratings = rng.standard_normal((100, 2, 5))
    np.testing.assert_allclose(fuse(ratings), ratings.mean(2))
    fused = fuse(ratings, "ewe", centre=True)
    for dim in range(2):
        np.testing.assert_allclose(fused[:, dim], ewe_fusion(ratings[:, dim], centre=True))
    with pytest.raises(ValueError, match="unknown fusion method"):
        fuse(ratings, "median")


@pytest.mark.parametrize(("ratings", "message"), [
    (np.array([[1.0, 2.0], [np.nan, 1.0], [0.0, 1.0]]), "NaN"),
    (np.array([[1.0], [2.0], [3.0]]), "at least 2 raters"),
    ([np.arange(5.0)], "at least 2 raters"),
    ([np.arange(5.0), np.arange(6.0)], "different lengths"),
    (np.arange(5.0), "frames, raters"),
])
def test_invalid_ratings_raise_value_error(ratings, message):
    with pytest.raises(ValueError, match=message):
        mean_fusion(ratings)
    with pytest.raises(ValueError, match=message):
        ewe_fusion(ratings)


def test_invalid_lag_raises_value_error():
    with pytest.raises(ValueError, match="lag_frames"):
        mean_fusion(TINY, lag_frames=5)
    with pytest.raises(ValueError, match="lag_frames"):
        mean_fusion(TINY, lag_frames=-1)


def test_agreement_table_on_known_values():
    rng = np.random.default_rng(5)
    ratings = rng.standard_normal((400, 2, 3))
    ratings[:, :, 1] = ratings[:, :, 0]  # raters 0 and 1 agree perfectly
    gold = fuse(ratings)
    table = agreement_table(gold, ratings)
    assert table["rater_ccc"].shape == (2, 3)
    expected = ccc(gold, ratings[:, :, 2])
    np.testing.assert_allclose(table["rater_ccc"][:, 2], expected)
    np.testing.assert_allclose(table["pairwise_ccc"][:, 0, 1], 1.0)
    pairs = [ccc(ratings[:, :, i], ratings[:, :, j]) for i, j in ((0, 1), (0, 2), (1, 2))]
    np.testing.assert_allclose(table["inter_rater_ccc"], np.mean(pairs, axis=0))
    np.testing.assert_allclose(table["mean_rater_ccc"], table["rater_ccc"].mean(1))


@pytest.mark.skipif(not RECOLA_RATINGS.is_dir(), reason="RECOLA ratings not available")
def test_mean_fusion_reproduces_recola_gold_standard():
    from tfemo.corpora.recola import RecolaCorpus

    corpus = RecolaCorpus(RECOLA_RATINGS)
    traces = [corpus.read_recording_trace(name) for name in corpus.recordings()]
    assert len(traces) == 9
    scores = {"mean": [], "ewe": [], "mean_centred": []}
    for trace in traces:
        scores["mean"].append(ccc(fuse(trace.ratings), trace.values))
        scores["ewe"].append(ccc(fuse(trace.ratings, "ewe"), trace.values))
        scores["mean_centred"].append(ccc(fuse(trace.ratings, centre=True), trace.values))
    means = {name: np.mean(values, axis=0) for name, values in scores.items()}
    print({name: np.round(value, 4).tolist() for name, value in means.items()})
    arousal, valence = means["mean"]
    assert arousal >= 0.99
    assert valence >= 0.98
    np.testing.assert_allclose(means["mean_centred"], means["mean"])
    assert np.all(means["ewe"] > 0.95)
