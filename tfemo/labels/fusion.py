"""Fusion baselines for several annotators' continuous ratings: mean and EWE, with options.

Every function works on one dimension at a time, `ratings[t, r]` = rater r at frame t (a
sequence of 1-D arrays, one per rater, is accepted too); `fuse` applies them to [T, D, R].

Options (both methods)
- `centre=True`: per-rater centring. Each rater minus its own mean plus the mean of all raters'
  means, so every rater has the same mean before fusion. For the plain mean this changes nothing
  (the offsets cancel); it matters for weighted fusion.
- `lag_frames=N`: lag compensation (annotators react late). Each rater is shifted EARLIER by the
  lag in 0..N that maximises its CCC with the mean of the other (already shifted) raters; the
  end is padded by holding the last value. The raters are visited in turn, round after round,
  until the lags stop changing. Only relative lags can be identified from the ratings alone
  (the true trace is unknown), so the lags are reported relative to the least delayed rater,
  whose lag is 0. Lag compensation is applied before centring.

EWE (evaluator weighted estimator, Grimm and Kroschel 2005): each rater is weighted by its
Pearson correlation with the mean of the OTHER raters (leave-one-out, so a rater does not
correlate with itself). Negative correlations are clipped to 0 (a rater who disagrees with
everyone else is ignored rather than subtracted) and the weights are normalised to sum to 1.
A constant rater has no defined correlation and gets weight 0; if every weight is 0, the
raters are weighted equally.

Invalid ratings (NaN or infinite values, fewer than 2 raters or 2 frames, raters of different
lengths) raise ValueError; callers wrap it with the file name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from tfemo.scoring.metrics import ccc

METHODS = ("mean", "ewe")
MAX_ROUNDS = 20

RatingsLike = np.ndarray | Sequence[np.ndarray]


@dataclass(frozen=True)
class FusionResult:
    """A fused trace `values` [T, D] with the rater `weights` [D, R] and `lags` [D, R] used."""

    values: np.ndarray
    weights: np.ndarray
    lags: np.ndarray


# ----------------------------------------------------------------------------- validation


def _stack(ratings: RatingsLike, ndim: int) -> np.ndarray:
    """Ratings as a float64 array of `ndim` axes, raters last; a list is one array per rater."""
    if isinstance(ratings, np.ndarray):
        array = ratings.astype(np.float64)
    else:
        raters = [np.asarray(rater, np.float64) for rater in ratings]
        if len(raters) < 2:
            raise ValueError(f"need at least 2 raters, got {len(raters)}")
        lengths = sorted({len(rater) for rater in raters})
        if len(lengths) > 1:
            raise ValueError(f"raters have different lengths {lengths}")
        shapes = {rater.shape for rater in raters}
        if len(shapes) > 1:
            raise ValueError(f"raters have different shapes {sorted(shapes)}")
        array = np.stack(raters, axis=-1)
    if array.ndim != ndim:
        layout = "[frames, raters]" if ndim == 2 else "[frames, dimensions, raters]"
        raise ValueError(f"ratings must be {layout}, got shape {array.shape}")
    if array.shape[-1] < 2:
        raise ValueError(f"need at least 2 raters, got {array.shape[-1]}")
    if array.shape[0] < 2:
        raise ValueError(f"need at least 2 frames, got {array.shape[0]}")
    bad = ~np.isfinite(array)
    if bad.any():
        frame, *rest = np.argwhere(bad)[0]
        raise ValueError(f"ratings hold {int(bad.sum())} NaN or infinite values (first at frame "
                         f"{frame}, rater {rest[-1]})")
    return array


def _check_lag(lag_frames: int | None, num_frames: int) -> int | None:
    """The maximum lag as an int in 0..T-1, or None for no lag compensation."""
    if lag_frames is None:
        return None
    if isinstance(lag_frames, bool) or not isinstance(lag_frames, int | np.integer):
        raise ValueError(f"lag_frames must be an int or None, got {lag_frames!r}")
    if not 0 <= lag_frames < num_frames:
        raise ValueError(f"lag_frames must be in 0..{num_frames - 1}, got {lag_frames}")
    return int(lag_frames)


# ----------------------------------------------------------------------------- building blocks


def _others_mean(ratings: np.ndarray) -> np.ndarray:
    """Mean of the other raters for every rater [T, R] (leave-one-out)."""
    return (ratings.sum(1, keepdims=True) - ratings) / (ratings.shape[1] - 1)


def _shift_earlier(ratings: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Each rater r moved earlier by lags[r] frames, the end held at its last value."""
    frames = ratings.shape[0]
    index = np.minimum(np.arange(frames)[:, None] + lags[None, :], frames - 1)
    return np.take_along_axis(ratings, index, axis=0)


def centre_raters(ratings: RatingsLike) -> np.ndarray:
    """Each rater minus its own mean plus the mean of all means, so all means are equal."""
    x = _stack(ratings, 2)
    means = x.mean(0)
    return x - means + means.mean()


def compensate_lags(ratings: RatingsLike, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Shift raters earlier to agree (CCC) with the others: shifted [T, R] and lags [R] used."""
    x = _stack(ratings, 2)
    frames, num_raters = x.shape
    max_lag = _check_lag(max_lag, frames)
    assert max_lag is not None
    # candidates[l, t, r] = rater r shifted earlier by l frames (end held)
    index = np.minimum(np.arange(frames)[None, :] + np.arange(max_lag + 1)[:, None], frames - 1)
    candidates = x[index]  # [L + 1, T, R]
    lags = np.zeros(num_raters, np.int64)
    for _ in range(MAX_ROUNDS):
        previous = lags.copy()
        shifted = _shift_earlier(x, lags)
        for rater in range(num_raters):
            reference = np.delete(shifted, rater, axis=1).mean(1)
            options = candidates[:, :, rater].T  # [T, L + 1]
            scores = ccc(options, np.broadcast_to(reference[:, None], options.shape))
            lags[rater] = int(np.argmax(scores))
            shifted[:, rater] = options[:, lags[rater]]
        lags -= lags.min()
        if np.array_equal(lags, previous):
            break
    return _shift_earlier(x, lags), lags


def _prepare(ratings: RatingsLike, centre: bool, lag_frames: int | None,
             ) -> tuple[np.ndarray, np.ndarray]:
    """Validated ratings after lag compensation (if asked) then centring (if asked), and lags."""
    x = _stack(ratings, 2)
    lags = np.zeros(x.shape[1], np.int64)
    if _check_lag(lag_frames, x.shape[0]) is not None:
        x, lags = compensate_lags(x, lag_frames)
    if centre:
        x = centre_raters(x)
    return x, lags


def _ewe_weights(x: np.ndarray) -> np.ndarray:
    """EWE weights [R] of validated ratings [T, R] (see the module docstring)."""
    reference = _others_mean(x)
    a = x - x.mean(0)
    b = reference - reference.mean(0)
    norm = np.sqrt((a * a).sum(0) * (b * b).sum(0))
    correlation = np.divide((a * b).sum(0), norm, out=np.zeros(x.shape[1]), where=norm > 0)
    weights = np.clip(correlation, 0.0, None)
    total = weights.sum()
    if total <= 0:
        return np.full(x.shape[1], 1.0 / x.shape[1])
    return weights / total


# ----------------------------------------------------------------------------- fusion


def mean_fusion(ratings: RatingsLike, *, centre: bool = False,
                lag_frames: int | None = None) -> np.ndarray:
    """The raters' plain mean [T], the usual gold-standard baseline."""
    x, _ = _prepare(ratings, centre, lag_frames)
    return x.mean(1)


def ewe_weights(ratings: RatingsLike, *, centre: bool = False,
                lag_frames: int | None = None) -> np.ndarray:
    """EWE rater weights [R]: clipped leave-one-out Pearson correlations, summing to 1."""
    x, _ = _prepare(ratings, centre, lag_frames)
    return _ewe_weights(x)


def ewe_fusion(ratings: RatingsLike, *, centre: bool = False,
               lag_frames: int | None = None) -> np.ndarray:
    """The EWE-weighted mean [T], trusting raters who agree with the others."""
    x, _ = _prepare(ratings, centre, lag_frames)
    return x @ _ewe_weights(x)


def fuse_details(ratings: RatingsLike, method: str = "mean", *, centre: bool = False,
                 lag_frames: int | None = None) -> FusionResult:
    """Fuse [T, D, R] per dimension, keeping the weights and lags used for inspection."""
    if method not in METHODS:
        raise ValueError(f"unknown fusion method {method!r}; expected one of {METHODS}")
    x = _stack(ratings, 3)
    frames, num_dims, num_raters = x.shape
    values = np.empty((frames, num_dims))
    weights = np.empty((num_dims, num_raters))
    lags = np.empty((num_dims, num_raters), np.int64)
    for dim in range(num_dims):
        prepared, lags[dim] = _prepare(x[:, dim], centre, lag_frames)
        weights[dim] = (_ewe_weights(prepared) if method == "ewe"
                        else np.full(num_raters, 1.0 / num_raters))
        values[:, dim] = prepared @ weights[dim]
    return FusionResult(values, weights, lags)


def fuse(ratings: RatingsLike, method: str = "mean", *, centre: bool = False,
         lag_frames: int | None = None) -> np.ndarray:
    """Fused trace [T, D] of ratings [T, D, R] by "mean" or "ewe", each dimension on its own."""
    return fuse_details(ratings, method, centre=centre, lag_frames=lag_frames).values


# ----------------------------------------------------------------------------- agreement


def agreement_table(gold: np.ndarray, ratings: RatingsLike) -> dict[str, np.ndarray]:
    """CCC of a fused trace with each rater, and the mean inter-rater CCC, per dimension.

    Keys: "rater_ccc" [D, R] = CCC(gold, rater); "mean_rater_ccc" [D]; "pairwise_ccc"
    [D, R, R] (diagonal 1); "inter_rater_ccc" [D] = mean CCC over the R (R - 1) / 2 rater pairs.
    """
    x = _stack(ratings, 3)
    frames, num_dims, num_raters = x.shape
    gold = np.asarray(gold, np.float64)
    if gold.shape != (frames, num_dims):
        raise ValueError(f"gold must be [frames, dimensions] = {(frames, num_dims)}, "
                         f"got shape {gold.shape}")
    if not np.isfinite(gold).all():
        raise ValueError("gold holds NaN or infinite values")
    expanded = np.broadcast_to(gold[:, :, None], x.shape)
    rater_ccc = ccc(expanded.reshape(frames, -1), x.reshape(frames, -1)).reshape(num_dims, -1)
    first, second = (np.array(side) for side in zip(*combinations(range(num_raters), 2),
                                                     strict=True))
    pair_ccc = ccc(x[:, :, first].reshape(frames, -1),
                   x[:, :, second].reshape(frames, -1)).reshape(num_dims, -1)
    pairwise = np.ones((num_dims, num_raters, num_raters))
    pairwise[:, first, second] = pair_ccc
    pairwise[:, second, first] = pair_ccc
    return {"rater_ccc": rater_ccc, "mean_rater_ccc": rater_ccc.mean(1),
            "pairwise_ccc": pairwise, "inter_rater_ccc": pair_ccc.mean(1)}
