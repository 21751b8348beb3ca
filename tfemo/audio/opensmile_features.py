"""openSMILE low-level descriptors (eGeMAPSv02, ComParE_2016) on the 40 ms record frame grid.

Needs the optional `opensmile` package (`pip install 'tfemo[opensmile]'`, under audEERING's
research-only licence, see the README); it is imported only when a family here is extracted,
so tfemo imports and plans (tfemo.audio.features.feature_dims) without it.

Families (widths are the documented LLD counts, asserted against opensmile on every call):
- egemaps (25): eGeMAPSv02 LowLevelDescriptors;
- compare (65): ComParE_2016 LowLevelDescriptors;
- compare_de (65): ComParE_2016 LowLevelDescriptors_Deltas (the deltas of `compare`).

Alignment.  openSMILE frames every 10 ms with left-aligned windows (frameCenterSpecial =
left): row r of its output reads a 20 ms window [10 r, 10 r + 20) ms (energy, spectral,
cepstral and formant descriptors) or a 60 ms window [10 r, 10 r + 60) ms (F0, voicing,
jitter, shimmer, HNR, harmonic amplitudes, and ComParE's zcr), then smooths 3 rows
symmetrically, so within one row the two kinds are centred 20 ms apart (10 r + 10 and
10 r + 30 ms).  The item's audio, zero-padded or trimmed to num_frames * 640 samples like every
other family, gets 25 ms of zeros in front (and 80 ms behind, so the last windows exist);
then a 20 ms descriptor of row s + 2 and a 60 ms descriptor of row s are both centred at
10 s + 5 ms of the item, i.e. on sub-frame s = 4 i + j, j = 0..3, at 40 i + 5 + 10 j ms:
4 sub-frames symmetric about record frame i's centre 40 i + 20 ms (as mfb_cat's).  Each
record frame is the mean of its 4 sub-frames; for the descriptors openSMILE smooths with
noZeroSma (eGeMAPS' `*_sma3nz`, ComParE's voicing group: zero means "not voiced, undefined")
the mean is over the non-zero sub-frames only, 0 when all 4 are 0, so F0 is never averaged
with the zeros of unvoiced neighbours.  tests/test_opensmile_features.py checks that a tone
burst centred on a frame gives every descriptor a response symmetric about it.

Cost: one openSMILE run per family per item (the Smile objects are built once per process).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from tfemo.audio import FRAME_LENGTH, SAMPLE_RATE
from tfemo.core.errors import UserError

INSTALL_HINT = "pip install 'tfemo[opensmile]'"
SUBFRAME = SAMPLE_RATE // 100  # openSMILE's 10 ms hop, in samples
SUBFRAMES = FRAME_LENGTH // SUBFRAME  # 4 sub-frames per 40 ms record frame
LAG_ROWS = 2  # a 20 ms window's centre is 2 rows (20 ms) before a 60 ms window's of the same row
FRONT_PAD = 5 * SUBFRAME // 2  # 25 ms: row s's 60 ms window is centred on sub-frame s
BACK_PAD = 8 * SUBFRAME  # 80 ms: enough rows for the last sub-frame (asserted)

_EGEMAPS_LONG = ("F0semitoneFrom27.5Hz_sma3nz", "jitterLocal_sma3nz", "shimmerLocaldB_sma3nz",
                 "HNRdBACF_sma3nz", "logRelF0-H1-H2_sma3nz", "logRelF0-H1-A3_sma3nz",
                 "F1amplitudeLogRelF0_sma3nz", "F2amplitudeLogRelF0_sma3nz",
                 "F3amplitudeLogRelF0_sma3nz")
_COMPARE_VOICING = ("F0final_sma", "voicingFinalUnclipped_sma", "jitterLocal_sma",
                    "jitterDDP_sma", "shimmerLocal_sma", "logHNR_sma")


@dataclass(frozen=True)
class SmileFamily:
    """One family: its openSMILE feature set and level, its width, and which of its columns
    come from 60 ms windows (`long`) or are undefined where zero (`nonzero`)."""

    feature_set: str
    feature_level: str
    dim: int
    long: tuple[str, ...]
    nonzero: tuple[str, ...] | None  # None: every column whose name ends in "nz"


OPENSMILE_SPECS: dict[str, SmileFamily] = {
    "egemaps": SmileFamily("eGeMAPSv02", "LowLevelDescriptors", 25, _EGEMAPS_LONG, None),
    "compare": SmileFamily("ComParE_2016", "LowLevelDescriptors", 65,
                           (*_COMPARE_VOICING, "pcm_zcr_sma"), _COMPARE_VOICING),
    "compare_de": SmileFamily(
        "ComParE_2016", "LowLevelDescriptors_Deltas", 65,
        tuple(f"{name}_de" for name in (*_COMPARE_VOICING, "pcm_zcr_sma")),
        tuple(f"{name}_de" for name in _COMPARE_VOICING)),
}
OPENSMILE_FAMILIES: tuple[str, ...] = tuple(OPENSMILE_SPECS)
OPENSMILE_DIMS: dict[str, int] = {name: spec.dim for name, spec in OPENSMILE_SPECS.items()}


def import_opensmile() -> Any:
    """The opensmile module, or a one-line UserError saying how to install the extra."""
    try:
        import opensmile
    except ImportError:
        raise UserError("the openSMILE feature families (" + ", ".join(OPENSMILE_FAMILIES)
                        + ") need the opensmile package", INSTALL_HINT) from None
    return opensmile


@dataclass(frozen=True)
class _Extractor:
    """A built Smile object and the column layout checked against the family's spec."""

    smile: Any
    long: np.ndarray  # bool [dim]: column from a 60 ms window
    nonzero: np.ndarray  # bool [dim]: zero means undefined


@lru_cache(maxsize=8)
def _extractor(family: str) -> _Extractor:
    """Build (once per process) the family's Smile and check its columns are the documented ones."""
    opensmile = import_opensmile()
    spec = OPENSMILE_SPECS[family]
    smile = opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, spec.feature_set),
                            feature_level=getattr(opensmile.FeatureLevel, spec.feature_level))
    names = list(smile.feature_names)
    missing = [name for name in (*spec.long, *(spec.nonzero or ())) if name not in names]
    if len(names) != spec.dim or missing:
        raise RuntimeError(f"opensmile {opensmile.__version__} {spec.feature_set} "
                           f"{spec.feature_level} gives {len(names)} columns (expected "
                           f"{spec.dim}; missing {missing}); tfemo is tested with the "
                           "version pinned in setup.cfg's opensmile extra")
    nonzero = ([name.endswith("nz") for name in names] if spec.nonzero is None
               else [name in spec.nonzero for name in names])
    return _Extractor(smile, np.array([name in spec.long for name in names]),
                      np.array(nonzero))


def feature_names(family: str) -> list[str]:
    """openSMILE's column names of one family, in stored order (needs the extra)."""
    return list(_extractor(family).smile.feature_names)


def subframe_features(frame_audio: np.ndarray, family: str) -> np.ndarray:
    """One family's descriptors on the 10 ms sub-frames: float32 [len / 160, dim], row s
    centred at 10 s + 5 ms of `frame_audio` (a whole number of 40 ms frames, see module doc)."""
    extractor = _extractor(family)
    subframes = len(frame_audio) // SUBFRAME
    padded = np.zeros(FRONT_PAD + len(frame_audio) + BACK_PAD, dtype=np.float32)
    padded[FRONT_PAD:FRONT_PAD + len(frame_audio)] = frame_audio
    rows = extractor.smile.process_signal(padded, SAMPLE_RATE).to_numpy(dtype=np.float32)
    if len(rows) < subframes + LAG_ROWS:
        raise RuntimeError(f"openSMILE gave {len(rows)} rows for {subframes} sub-frames")
    return np.where(extractor.long, rows[:subframes], rows[LAG_ROWS:subframes + LAG_ROWS])


def opensmile_features(frame_audio: np.ndarray, num_frames: int,
                       families: Iterable[str]) -> dict[str, np.ndarray]:
    """{family: float32 [num_frames, dim]} for openSMILE families, each record frame the mean
    of its 4 sub-frames (non-zero ones for noZeroSma descriptors); `frame_audio` is exactly
    num_frames * 640 samples of 16 kHz mono."""
    if len(frame_audio) != num_frames * FRAME_LENGTH:
        raise ValueError(f"expected {num_frames * FRAME_LENGTH} samples, got {len(frame_audio)}")
    out: dict[str, np.ndarray] = {}
    for family in families:
        extractor = _extractor(family)
        sub = subframe_features(frame_audio, family).reshape(num_frames, SUBFRAMES, -1)
        mean = sub.mean(axis=1)
        voiced = sub != 0.0
        count = voiced.sum(axis=1)
        nz_mean = np.where(voiced, sub, 0.0).sum(axis=1) / np.maximum(count, 1)
        out[family] = np.where(extractor.nonzero, nz_mean, mean).astype(np.float32)
    return out
