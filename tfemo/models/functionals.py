"""The "full" utterance functionals of `--model svm|logreg`: 16 per feature, plus voicing.

"basic" and "rich" statistics (mean, std; percentiles, mean |delta|) are the ones conv1d's
utterance variants pool. "full" adds the field's usual functionals of every feature over the
real frames: the 1st/25th/50th/75th/99th percentiles, the interquartile and 1-99 ranges,
skewness, kurtosis, the std of the frame-to-frame change and the linear slope over the
utterance. When the records hold the `pitch` family (F0, voiced flag), it adds the F0
functionals over the voiced frames only (an unvoiced frame's F0 of 0 Hz is not a pitch), the
voiced fraction, voiced segments per second, the mean voiced and unvoiced segment lengths, and
every feature's mean over the voiced and over the unvoiced frames.

Per-speaker standardisation of the vectors (`--utterance_norm speaker` of the estimators):
each speaker's utterance vectors are z-scored with that speaker's own mean and std, which
removes the speaker's voice and recording level from every functional at once (the frame-level
`--normalise speaker` does not reach the std, percentiles or slopes); no labels are used.

Pure numpy over masked arrays: training and prediction compute the same numbers. A voiced
frame is one whose voiced column is > 0, which holds for the raw flag (0/1) and after any
standardisation the reader applies (a positive scale maps 0 below the mean and 1 above it).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

PER_FEATURE = 16  # functionals per feature column
PERCENTILES = (1, 10, 25, 50, 75, 90, 99)
F0_FUNCTIONALS = 8
VOICING_FUNCTIONALS = 4
_EPSILON = 1e-6


def full_width(feature_dim: int, pitch_column: int | None) -> int:
    """The length of the "full" vector for `feature_dim` features (with or without pitch)."""
    width = PER_FEATURE * feature_dim
    if pitch_column is not None:
        width += F0_FUNCTIONALS + VOICING_FUNCTIONALS + 2 * feature_dim
    return width


def _masked(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """x [B, T, F] as float64 with NaN where mask [B, T] is False."""
    return np.where(mask[..., None], x.astype(np.float64), np.nan)


def _nanmean(x: np.ndarray, axis: int) -> np.ndarray:
    """Mean ignoring NaN; 0 where every value is NaN (an empty set of frames)."""
    count = np.sum(~np.isnan(x), axis=axis)
    total = np.nansum(x, axis=axis)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def _slope(values: np.ndarray) -> np.ndarray:
    """Least-squares slope [B, F] of values [B, T, F] (NaN = absent) over time scaled to [-1, 1]
    of each row's own frames, so it does not depend on the utterance's length."""
    present = ~np.isnan(values)
    count = present.sum(axis=1, keepdims=True)  # [B, 1, F]
    order = np.cumsum(present, axis=1) - 1  # the frame's rank among the row's real frames
    t = np.where(present, 2.0 * order / np.maximum(count - 1, 1) - 1.0, 0.0)
    mean = _nanmean(values, axis=1)[:, None, :]
    centred = np.where(present, values - mean, 0.0)
    return np.sum(t * centred, axis=1) / np.maximum(np.sum(t * t, axis=1), _EPSILON)


def _per_feature(x: np.ndarray) -> list[np.ndarray]:
    """The 16 functionals [B, F] each of NaN-masked x [B, T, F]."""
    with _quiet():
        mean = _nanmean(x, axis=1)
        centred = x - mean[:, None, :]
        std = np.sqrt(_nanmean(centred ** 2, axis=1))
        z = centred / (std[:, None, :] + _EPSILON)
        skew, kurtosis = _nanmean(z ** 3, axis=1), _nanmean(z ** 4, axis=1)
        p1, p10, p25, p50, p75, p90, p99 = np.nan_to_num(
            np.nanpercentile(x, PERCENTILES, axis=1))
        delta = x[:, 1:] - x[:, :-1]  # NaN across a padded frame
        delta_mean = _nanmean(np.abs(delta), axis=1)
        delta_std = np.sqrt(_nanmean((delta - _nanmean(delta, axis=1)[:, None]) ** 2, axis=1))
    return [mean, std, p10, p90, delta_mean, p1, p25, p50, p75, p99, p75 - p25, p99 - p1,
            skew, kurtosis, delta_std, _slope(x)]


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence numpy's expected all-NaN warnings (a row without voiced frames)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def run_lengths(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lengths in frames of the runs of True and of False in a 1-D flag array."""
    edges = np.flatnonzero(np.diff(flags.astype(np.int8))) + 1
    runs = np.split(flags, edges)
    return (np.array([len(r) for r in runs if len(r) and r[0]], dtype=np.int64),
            np.array([len(r) for r in runs if len(r) and not r[0]], dtype=np.int64))


def _segments(voiced: np.ndarray, mask: np.ndarray, frame_seconds: float) -> np.ndarray:
    """[B, 4]: voiced fraction, voiced segments per second, mean voiced and unvoiced segment
    lengths in seconds, of each row's real frames."""
    out = np.zeros((len(voiced), VOICING_FUNCTIONALS))
    for row, (flags, real) in enumerate(zip(voiced, mask, strict=True)):
        flags = flags[real]
        if not len(flags):
            continue
        voiced_runs, unvoiced_runs = run_lengths(flags)
        seconds = len(flags) * frame_seconds
        out[row] = (flags.mean(), len(voiced_runs) / seconds,
                    voiced_runs.mean() * frame_seconds if len(voiced_runs) else 0.0,
                    unvoiced_runs.mean() * frame_seconds if len(unvoiced_runs) else 0.0)
    return out


def utterance_functionals(features: np.ndarray, mask: np.ndarray, pitch_column: int | None,
                          frame_seconds: float) -> np.ndarray:
    """[B, full_width] functionals of features [B, T, F] over the real frames (mask [B, T]);
    `pitch_column` is the F0 column (the voiced flag follows it) or None without pitch."""
    features = np.asarray(features)
    mask = np.asarray(mask, bool)
    x = _masked(features, mask)
    parts = _per_feature(x)
    if pitch_column is not None:
        voiced = mask & (features[..., pitch_column + 1] > 0)
        f0 = np.where(voiced, features[..., pitch_column].astype(np.float64), np.nan)[..., None]
        with _quiet():
            p10, p50, p90 = np.nan_to_num(np.nanpercentile(f0, (10, 50, 90), axis=1))
            mean = _nanmean(f0, axis=1)
            std = np.sqrt(_nanmean((f0 - mean[:, None]) ** 2, axis=1))
            change = _nanmean(np.abs(f0[:, 1:] - f0[:, :-1]), axis=1)
        parts += [mean, std, p10, p50, p90, p90 - p10, _slope(f0), change,
                  _segments(voiced, mask, frame_seconds),
                  _nanmean(np.where(voiced[..., None], x, np.nan), axis=1),
                  _nanmean(np.where(voiced[..., None], np.nan, x), axis=1)]
    return np.concatenate([np.asarray(p, np.float64).reshape(len(features), -1)
                           for p in parts], axis=-1)




MIN_SPEAKER_FILES = 2  # fewer utterances of a speaker give no std: the fallback is used
STD_FLOOR = 1e-6  # a functional constant over every training utterance is centred only
RELATIVE_FLOOR = 0.1  # a speaker's std is floored at this share of the mean within-speaker std


def speaker_statistics(vectors: np.ndarray, speakers: np.ndarray, floor: np.ndarray | float
                       ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each speaker's mean and std (at least `floor`) of its utterance vectors [N, D]; no labels.
    The floor keeps a functional that hardly varies within one speaker (a voice measure that
    is 0 in most of their files) from being blown up to thousands of standard deviations."""
    vectors, speakers = np.asarray(vectors, np.float64), np.asarray(speakers)
    return {str(s): (vectors[speakers == s].mean(axis=0),
                     np.maximum(vectors[speakers == s].std(axis=0), floor))
            for s in dict.fromkeys(speakers.tolist())}


def speaker_fallback(vectors: np.ndarray, speakers: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What per-speaker standardisation keeps from the training utterances: the pooled mean and
    the mean of the speakers' own stds (what a lone file is standardised with), and the std
    floor (RELATIVE_FLOOR x that mean within-speaker std)."""
    vectors = np.asarray(vectors, np.float64)
    within = np.mean([std for _, std in speaker_statistics(vectors, speakers, 0.0).values()],
                     axis=0)
    floor = np.maximum(RELATIVE_FLOOR * within, STD_FLOOR)
    stats = speaker_statistics(vectors, speakers, floor)
    return vectors.mean(axis=0), np.mean([std for _, std in stats.values()], axis=0), floor


def standardise_by_speaker(vectors: np.ndarray, speakers: np.ndarray | None,
                           fallback: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """vectors [N, D] z-scored with each speaker's own statistics (std floored as `fallback`
    says); a speaker with fewer than MIN_SPEAKER_FILES utterances, or no speakers at all (one
    new file), gets the training speakers' pooled mean and average within-speaker std."""
    mean, std, floor = fallback
    vectors = np.asarray(vectors, np.float64)
    out = (vectors - mean) / std
    if speakers is None:
        return out
    speakers = np.asarray(speakers)
    for speaker, (own_mean, own_std) in speaker_statistics(vectors, speakers, floor).items():
        rows = speakers == speaker
        if rows.sum() >= MIN_SPEAKER_FILES:
            out[rows] = (vectors[rows] - own_mean) / own_std
    return out

__all__ = ["PER_FEATURE", "full_width", "run_lengths", "speaker_fallback", "speaker_statistics",
           "standardise_by_speaker", "utterance_functionals"]
