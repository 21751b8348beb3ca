"""In-process speech synthesis with libespeak-ng, reporting where each word starts.

The demo corpus needs speech whose word timings are known exactly; espeak-ng's synthesis
callback reports a WORD event at the sample where each word begins, so no alignment guess
is involved. The library is driven through ctypes (it ships with Debian's espeak-ng).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass

import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_END = 5
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4
_POS_CHARACTER = 1
_CHARS_UTF8 = 1


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class Synthesis:
    """Synthesised speech: int16 samples at `sample_rate` and (word, start, end) in samples."""

    samples: np.ndarray
    sample_rate: int
    words: tuple[tuple[str, int, int], ...]


class _Engine:
    """The process-wide libespeak-ng instance (the library keeps global state)."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(name)
        except OSError as error:
            raise RuntimeError(
                "libespeak-ng is not installed (Debian: apt-get install espeak-ng); "
                "tools/install.sh installs it"
            ) from error
        self.sample_rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0)
        if self.sample_rate <= 0:
            raise RuntimeError("libespeak-ng failed to initialise (espeak-ng-data missing?)")
        self.lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int]] = []
        self._callback = _Callback(self._collect)  # keep a reference: C holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, num_samples, events) -> int:
        if num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            event = events[i]
            self._events.append((event.type, event.text_position, event.length, event.sample))
            i += 1
        return 0

    def synthesize(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int,
                   volume: int) -> Synthesis:
        encoded = text.encode("utf-8")
        with self.lock:
            if self.lib.espeak_SetVoiceByName(voice.encode("ascii")) != 0:
                raise ValueError(f"espeak-ng has no voice {voice!r}")
            for parameter, value in ((_PARAM_RATE, rate), (_PARAM_VOLUME, volume),
                                     (_PARAM_PITCH, pitch), (_PARAM_RANGE, pitch_range)):
                self.lib.espeak_SetParameter(parameter, int(value), 0)
            self._chunks, self._events = [], []
            status = self.lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0,
                                           _CHARS_UTF8, None, None)
            if status != 0:
                raise RuntimeError(f"espeak-ng could not synthesise {text!r} (status {status})")
            chunks, events = self._chunks, self._events
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        return Synthesis(samples.astype(np.int16), self.sample_rate,
                         _word_spans(encoded, events, len(samples)))


def _word_spans(encoded: bytes, events, total: int) -> tuple[tuple[str, int, int], ...]:
    """Words from WORD events; each ends where the next starts, the last at the END event."""
    starts = [(pos, length, sample) for kind, pos, length, sample in events
              if kind == _EVENT_WORD and length > 0]
    end_samples = [sample for kind, _, _, sample in events if kind == _EVENT_END]
    final = min(end_samples[-1], total) if end_samples else total
    spans = []
    for k, (pos, length, sample) in enumerate(starts):
        word = encoded[pos - 1 : pos - 1 + length].decode("utf-8", errors="replace")
        end = starts[k + 1][2] if k + 1 < len(starts) else final
        spans.append((word, sample, end))
    return tuple(spans)


_engine: _Engine | None = None


def synthesize(text: str, voice: str = "en", rate: int = 175, pitch: int = 50,
               pitch_range: int = 50, volume: int = 100) -> Synthesis:
    """Synthesise `text` with an espeak-ng voice (e.g. "en+f3") and prosody settings.

    rate: words per minute (80-450); pitch: base pitch 0-100; pitch_range: 0 (monotone)
    to 100; volume: amplitude 0-200. Returns the samples and each word's sample span.

    The output depends on every earlier call in this process (espeak-ng keeps internal state,
    e.g. its pitch-flutter phase, between calls): a fixed sequence of calls in a fresh process
    gives the same bytes every time, so callers that need reproducible audio synthesise in a
    fresh process, in a fixed order.
    """
    global _engine
    if _engine is None:
        _engine = _Engine()
    return _engine.synthesize(text, voice, rate, pitch, pitch_range, volume)
