"""Forced alignment of a long transcript in bounded memory: window by window along the audio.

aeneas holds the whole audio and the whole synthesised transcript as float64 waves, and its
DTW a matrix of (real frames x synthetic frames within its 60 s margin): aligning a file
whole costs ~2 MB per second of audio (1.2 GB for 10 minutes: tfemo.text.timed_alignment's
child, measured by benchmarks/predict.py --memory). Here a file longer than
`WINDOW_SECONDS` is aligned one window at a time, so one aligner call never sees more than
`WINDOW_SECONDS` of audio, whatever the file's length:

- a window starts where the last kept word ends (the file's start at first) and holds
  `KEEP_SECONDS` of audio plus `SPARE_SECONDS` after it;
- it gets the next words in proportion to its share of the remaining speech (speech: 10 ms
  frames louder than the file's floor, as tfemo.text.alignment's detector finds it), so the
  guess is re-made at every window and its errors do not add up;
- the words that end within its first `KEEP_SECONDS` are kept, except its last `guard`
  words: a wrong guess of the word count (too many or too few words for the window) is
  absorbed by the DTW at the window's end, in the spare audio, far from the kept words;
- the last window (at most `WINDOW_SECONDS`) takes every remaining word.
A window with no speech (a long silence) is stepped over. tests/test_piecewise_alignment.py
checks the word times against a whole-file alignment and the synthesiser's own word times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from tfemo.audio import SAMPLE_RATE
from tfemo.core.errors import InputError
from tfemo.corpora.base import WordTiming

# A window of 60 s costs aeneas ~70 MB (its DTW matrix grows with the square of the window:
# 45 s ~40 MB, 90 s ~120 MB, in-process HWM over the imports).
KEEP_SECONDS = 40.0  # the words of a window's first 40 s are kept
SPARE_SECONDS = 20.0  # audio after them that absorbs a wrong guess of the word count
WINDOW_SECONDS = KEEP_SECONDS + SPARE_SECONDS  # the most audio one aligner call gets
PAUSE_SECONDS = 0.1  # a gap between two words this long is a pause to cut at
MIN_SPEECH_SECONDS = 0.25  # a window with less speech than this holds no word
ENERGY_SECONDS = 0.01  # the speech profile's frame
_BELOW_PEAK_DB = 45.0  # speech: above max(peak - 45 dB, floor + 6 dB), as alignment.py's
_ABOVE_FLOOR_DB = 6.0

# (audio window, its words, offset in seconds) -> one WordTiming per word, offset added
Aligner = Callable[[np.ndarray, Sequence[str], float], list[WordTiming]]


class AudioCursor:
    """16 kHz mono samples read forwards from blocks, holding only what is still needed."""

    def __init__(self, blocks: Iterable[np.ndarray]) -> None:
        self._blocks: Iterator[np.ndarray] = iter(blocks)
        self._buffer = np.zeros(0, np.float32)
        self._origin = 0  # sample index of self._buffer[0]

    def samples(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) (fewer at the end of the audio); those before `start` are
        dropped (never asked for again)."""
        if start < self._origin:
            raise ValueError(f"samples before {self._origin} were dropped (asked {start})")
        drop = min(start - self._origin, len(self._buffer))
        pieces, self._origin = [self._buffer[drop:]], self._origin + drop
        have = self._origin + len(pieces[0])
        while have < stop:
            block = next(self._blocks, None)
            if block is None:
                break
            pieces.append(np.asarray(block, np.float32))
            have += len(block)
        buffer = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
        cut = min(start - self._origin, len(buffer))  # blocks wholly before `start`
        self._buffer, self._origin = buffer[cut:], self._origin + cut
        return self._buffer[:max(0, stop - self._origin)]


def energy_profile(blocks: Iterable[np.ndarray]) -> tuple[np.ndarray, int]:
    """(energy in dB per 10 ms frame, samples in all) of 16 kHz audio given block by block."""
    frame = int(round(SAMPLE_RATE * ENERGY_SECONDS))
    energies, rest, total = [], np.zeros(0, np.float32), 0
    for block in blocks:
        total += len(block)
        data = np.concatenate([rest, np.asarray(block, np.float32)])
        count = len(data) // frame
        framed = data[:count * frame].astype(np.float64).reshape(count, frame)
        energies.append(10.0 * np.log10(np.mean(framed ** 2, axis=1) + 1e-12))
        rest = data[count * frame:]
    energy = np.concatenate(energies) if energies else np.zeros(0)
    return energy.astype(np.float32), total


def speech_frames(energy: np.ndarray) -> np.ndarray:
    """Which 10 ms frames are speech-loud (bool), by the whole file's peak and floor."""
    if not len(energy):
        return np.zeros(0, bool)
    floor = float(np.percentile(energy, 5))
    threshold = max(float(energy.max()) - _BELOW_PEAK_DB, floor + _ABOVE_FLOOR_DB)
    return energy > threshold


def _kept(aligned: Sequence[WordTiming], most: int, horizon: float) -> int:
    """How many of a window's first words to keep: those (at most `most`) ending by
    `horizon`, cut at the last pause between two of them when there is one (so the next
    window starts in a pause, not inside a word's tail); at least one."""
    fits = 0
    while fits < most and aligned[fits].end <= horizon:
        fits += 1
    for kept in range(fits, fits // 2, -1):
        if kept < len(aligned) and aligned[kept].start - aligned[kept - 1].end >= PAUSE_SECONDS:
            return kept
    return max(fits, 1)


def align_piecewise(cursor: AudioCursor, total_samples: int, speech: np.ndarray,
                    words: Sequence[str], align: Aligner, source: str,
                    keep_seconds: float = KEEP_SECONDS,
                    spare_seconds: float = SPARE_SECONDS) -> list[WordTiming]:
    """`words` aligned to the audio `cursor` reads (16 kHz, `total_samples` long, `speech`
    its speech frames), `align` called on one window at a time (see the module docstring)."""
    words = list(words)
    rate = SAMPLE_RATE
    per_frame = int(round(rate * ENERGY_SECONDS))
    window = int(round((keep_seconds + spare_seconds) * rate))
    cumulative = np.concatenate([[0], np.cumsum(speech, dtype=np.int64)])

    def spoken(start: int, stop: int) -> int:  # speech frames in samples [start, stop)
        first = min(start // per_frame, len(speech))
        last = min(-(-stop // per_frame), len(speech))
        return int(cumulative[last] - cumulative[first])

    timings: list[WordTiming] = []
    position, index = 0, 0
    while index < len(words):
        remaining = words[index:]
        if total_samples - position <= window:  # the last window: every remaining word
            audio = cursor.samples(position, total_samples)
            timings += align(audio, remaining, position / rate)
            break
        stop = position + window
        left, here = spoken(position, total_samples), spoken(position, stop)
        if here * ENERGY_SECONDS < MIN_SPEECH_SECONDS:  # silence, or a word's tail: no word
            later = np.flatnonzero(speech[stop // per_frame:])
            position = stop if not len(later) else max(
                stop, (stop // per_frame + int(later[0])) * per_frame - per_frame * 10)
            position = min(position, max(total_samples - window, 0))
            continue
        count = min(len(remaining), max(1, int(np.ceil(len(remaining) * here / max(left, 1)))))
        aligned = align(cursor.samples(position, stop), remaining[:count], position / rate)
        guard = max(2, count // 10) if count < len(remaining) else 0
        horizon = position / rate + keep_seconds
        kept = _kept(aligned, count - guard, horizon)
        timings += aligned[:kept]
        index += kept
        # the next window starts in the middle of the gap after the last kept word
        middle = (aligned[kept - 1].end + aligned[kept].start) / 2 if kept < count else (
            aligned[kept - 1].end)
        position = max(position + 1, int(middle * rate))
    if len(timings) != len(words):
        raise InputError(source, "alignment failed",
                         f"{len(timings)} word times for {len(words)} words")
    return timings
