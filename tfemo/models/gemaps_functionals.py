"""The "gemaps" utterance functionals: a compact eGeMAPS-like vector of 49 (67 with `voice`).

eGeMAPS (Eyben et al. 2016) is a minimal set of parameters chosen for emotion across
languages; a linear model on its 88 functionals beats one on a thousand generic ones when
there are few speakers to learn from, because the prosody is not drowned. This is the same
recipe on tfemo's own frame families (no openSMILE), from the records' columns:
- F0 (the `pitch` family, over voiced frames) and loudness (`tilt`, over every real frame):
  mean, std, 20th/50th/80th percentiles, the 20-80 range, and the mean and std of the rising
  and of the falling frame-to-frame slopes (per second; across voiced frames only for F0);
- MFCC 1-4 and spectral flux: mean and std over every real frame;
- alpha ratio, Hammarberg index and the two spectral slopes (`tilt`): mean and std over the
  voiced frames, mean over the unvoiced ones;
- with the `voice` family: jitter, shimmer, HNR, F1-F3 and bandwidths, mean and std over the
  voiced frames;
- timing: loudness peaks per second, voiced segments per second, the mean and std of the
  voiced and of the unvoiced segment lengths, and the voiced fraction.

Every functional is a mean, std, percentile or rate of one column, so a positive affine
rescaling of the frames (the reader's normalisation) changes each by an affine map that
per-speaker standardisation (`utterance_norm = "speaker"`) removes; a voiced frame is one whose
voiced flag is > 0, which survives that rescaling.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tfemo.models.functionals import _nanmean, _quiet, run_lengths

REQUIRED_FAMILIES = ("pitch", "mfcc", "tilt")
CONTOUR_FUNCTIONALS = 10
TIMING_FUNCTIONALS = 7
MFCC_COEFFICIENTS = (1, 2, 3, 4)
BALANCE_COLUMNS = (1, 2, 3, 4)  # tilt's alpha ratio, Hammarberg index and the two slopes
LOUDNESS_COLUMN, FLUX_COLUMN = 0, 5


def gemaps_width(families: Mapping[str, tuple[int, int]]) -> int:
    """The length of the vector for records with these families ({name: (start, dim)})."""
    voice = families["voice"][1] if "voice" in families else 0
    return (2 * CONTOUR_FUNCTIONALS + 2 * len(MFCC_COEFFICIENTS) + 2
            + 3 * len(BALANCE_COLUMNS) + 2 * voice + TIMING_FUNCTIONALS)


def missing_families(families: Mapping[str, tuple[int, int]]) -> list[str]:
    """The families the vector needs that the records lack (empty: it can be computed); an
    `mfcc` family without coefficients 1-4 counts as missing."""
    missing = [name for name in REQUIRED_FAMILIES if name not in families]
    if "mfcc" in families and families["mfcc"][1] <= max(MFCC_COEFFICIENTS):
        missing.append(f"mfcc with at least {max(MFCC_COEFFICIENTS) + 1} coefficients")
    return missing


def _mean_std(values: np.ndarray, valid: np.ndarray) -> list[np.ndarray]:
    """Mean and std [B, K] of values [B, T, K] over the frames where valid [B, T]."""
    x = np.where(valid[..., None], values, np.nan)
    mean = _nanmean(x, axis=1)
    return [mean, np.sqrt(_nanmean((x - mean[:, None]) ** 2, axis=1))]


def _contour(values: np.ndarray, valid: np.ndarray, frame_seconds: float) -> np.ndarray:
    """[B, 10] functionals of one contour values [B, T] over the valid frames [B, T]."""
    x = np.where(valid, values, np.nan)
    p20, p50, p80 = np.nan_to_num(np.nanpercentile(x, (20, 50, 80), axis=1))
    parts = [*_mean_std(values[..., None], valid), p20[:, None], p50[:, None], p80[:, None],
             (p80 - p20)[:, None]]
    change = (values[:, 1:] - values[:, :-1]) / frame_seconds
    both = valid[:, 1:] & valid[:, :-1]
    parts += _mean_std(change[..., None], both & (change > 0))
    parts += _mean_std(change[..., None], both & (change < 0))
    return np.concatenate(parts, axis=1)


def _timing(loudness: np.ndarray, voiced: np.ndarray, mask: np.ndarray,
            frame_seconds: float) -> np.ndarray:
    """[B, 7]: loudness peaks per second, voiced segments per second, mean and std voiced and
    unvoiced segment lengths (s), voiced fraction, over each row's real frames."""
    out = np.zeros((len(mask), TIMING_FUNCTIONALS))
    for row, (level, flags, real) in enumerate(zip(loudness, voiced, mask, strict=True)):
        level, flags = level[real], flags[real]
        if not len(flags):
            continue
        seconds = len(flags) * frame_seconds
        middle = level[1:-1]
        peaks = np.sum((middle > level[:-2]) & (middle > level[2:])
                       & (middle > np.median(level)))
        on, off = (lengths * frame_seconds for lengths in run_lengths(flags))
        out[row] = (peaks / seconds, len(on) / seconds,
                    on.mean() if len(on) else 0.0, on.std() if len(on) else 0.0,
                    off.mean() if len(off) else 0.0, off.std() if len(off) else 0.0,
                    flags.mean())
    return out


def gemaps_functionals(features: np.ndarray, mask: np.ndarray,
                       families: Mapping[str, tuple[int, int]],
                       frame_seconds: float) -> np.ndarray:
    """[B, gemaps_width] functionals of features [B, T, F] over the real frames (mask [B, T]);
    `families` maps each family of the records to its (first column, width)."""
    missing = missing_families(families)
    if missing:
        raise ValueError(f"the gemaps functionals need the feature families "
                         f"{', '.join(REQUIRED_FAMILIES)}; the records lack {', '.join(missing)}")
    features = np.asarray(features, np.float64)
    mask = np.asarray(mask, bool)
    pitch, mfcc, tilt = (families[name][0] for name in REQUIRED_FAMILIES)
    voiced = mask & (features[..., pitch + 1] > 0)
    loudness = features[..., tilt + LOUDNESS_COLUMN]
    with _quiet():
        parts = [_contour(features[..., pitch], voiced, frame_seconds),
                 _contour(loudness, mask, frame_seconds)]
        parts += _mean_std(features[..., [mfcc + k for k in MFCC_COEFFICIENTS]], mask)
        parts += _mean_std(features[..., [tilt + FLUX_COLUMN]], mask)
        balance = features[..., [tilt + k for k in BALANCE_COLUMNS]]
        parts += _mean_std(balance, voiced) + _mean_std(balance, mask & ~voiced)[:1]
        if "voice" in families:
            start, dim = families["voice"]
            parts += _mean_std(features[..., start:start + dim], voiced)
        parts.append(_timing(loudness, voiced, mask, frame_seconds))
    return np.nan_to_num(np.concatenate(parts, axis=1))


__all__ = ["REQUIRED_FAMILIES", "gemaps_functionals", "gemaps_width", "missing_families"]
