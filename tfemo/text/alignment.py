"""Word timings for a transcript: forced alignment with aeneas, or a uniform baseline.

aeneas aligns by synthesising the words with eSpeak and matching MFCCs of the synthetic and the
real speech with DTW. Both functions take the audio as a float32 mono array at 16 kHz and return
one `WordTiming` per input word, in seconds from the start of that array plus `offset`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from collections.abc import Sequence
from math import gcd

import numpy as np
import soundfile
from aeneas.audiofile import AudioFile
from aeneas.exacttiming import TimeValue
from aeneas.executetask import ExecuteTask
from aeneas.logger import Logger
from aeneas.runtimeconfiguration import RuntimeConfiguration
from aeneas.syncmap.fragment import SyncMapFragment
from aeneas.task import Task
from aeneas.ttswrappers.espeakttswrapper import ESPEAKTTSWrapper
from scipy.signal import resample_poly

from tfemo.audio import SAMPLE_RATE
from tfemo.core.errors import InputError
from tfemo.corpora.base import WordTiming

# Speech detection (used to trim leading/trailing silence) works on 10 ms energy frames.
_VAD_FRAME_SECONDS = 0.01
# A frame is speech when its energy is above both (peak - 45 dB) and (noise floor + 6 dB),
# the floor being the 5th percentile of frame energies; the span is widened by 30 ms on each
# side so that quiet onsets and releases (fricatives, stop bursts) stay inside it.
_VAD_BELOW_PEAK_DB = 45.0
_VAD_ABOVE_FLOOR_DB = 6.0
_VAD_MARGIN_SECONDS = 0.03
# Audio whose loudest 10 ms frame is below -70 dBFS holds no speech at all, nor does audio
# without 6 dB between its floor and its peak (steady noise).
_SILENCE_DBFS = -70.0
# Less speech than this per word cannot be an utterance of those words: 12.5 words/s, about
# twice the fastest speaking rates (~6 words/s).
_MIN_SECONDS_PER_WORD = 0.08
# A word shorter than this (below aeneas's zero-duration shift) counts as zero length.
_ZERO_LENGTH_SECONDS = 0.002

# aeneas runtime settings for word-level alignment. Chosen on two sets of 70 espeak-ng
# utterances each (14 sentences, 8 voices, 120-260 wpm; clean, with leading/trailing silence,
# 30 dB noise, inserted 150-500 ms pauses, pauses + 20 dB noise), scoring every word start and
# the last word's end against the synthesiser's own word events (880 boundaries):
# - mfcc_mask_nonspeech: DTW skips non-speech frames (aeneas's "--presets-word"). This matters
#   most: pauses that the synthetic reference lacks otherwise pull boundaries by hundreds of ms.
#   aeneas defaults: mean error 44 ms, 47 of 440 boundaries off by more than 100 ms (set 1).
# - mfcc_window_length/shift 0.040/0.020 s instead of the sentence-level 0.100/0.040: a 20 ms
#   time step (the resolution of every boundary) and a window short enough for short words.
#   Masked, 0.100/0.040 gave mean 23 ms; 0.060 or 0.050/0.020, 23 and 20 ms with a few
#   600 ms failures under noise; 0.030/0.010, 23 ms and more failures (too little context per
#   frame); 0.040/0.020: 16 ms mean, 12 ms median, 6 of 880 over 100 ms, none over 180 ms.
# - dtw_algorithm "stripe" with its default 60 s margin: exact DTW for utterances, bounded
#   memory for long turns (137 s of speech: 1.5 s, 470 MB).
# - tts "espeak" (libespeak 1.48 via aeneas's C extension): its "espeak-ng" wrapper aligned
#   badly (ENVIRONMENT.md).
# - cew_subprocess_enabled: libespeak keeps state between calls in a process, so in-process
#   synthesis made the same utterance align differently (by one 20 ms step) depending on what
#   the process had aligned before; a fresh process per alignment (~90 ms) makes the result a
#   function of the input only (aeneas documents this workaround in aeneas/cewsubprocess.py).
_RUNTIME_SETTINGS = (
    "tts=espeak|mfcc_mask_nonspeech=True|mfcc_window_length=0.040|mfcc_window_shift=0.020"
    "|dtw_algorithm=stripe|cew_subprocess_enabled=True"
)
# Task settings: one plain-text fragment per word. Leading and trailing silence are passed as
# the audio head/tail (is_audio_file_head_length/process_length, found by the energy detector
# above) so that they are never given to the first or last word. A pause of 100 ms or more on
# which a word boundary falls is cut out of both words (nonspeech fragments, then removed), so
# the words after it start at their onset and frames in the pause get no word.
_TASK_SETTINGS = (
    "is_text_type=plain|os_task_file_format=json"
    "|task_adjust_boundary_algorithm=auto"
    "|task_adjust_boundary_nonspeech_min=0.100|task_adjust_boundary_nonspeech_string=REMOVE"
)


def speech_span(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[float, float] | None:
    """(start, end) in seconds of the audio between leading and trailing silence, None if silent.

    Energy based, so that alignment neither gives silence to the first/last word nor needs it.
    """
    frame = max(1, int(round(sample_rate * _VAD_FRAME_SECONDS)))
    count = len(audio) // frame
    if count == 0:
        return None
    frames = np.asarray(audio[: count * frame], dtype=np.float64).reshape(count, frame)
    energy_db = 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    peak = float(energy_db.max())
    if peak < _SILENCE_DBFS:
        return None
    floor = float(np.percentile(energy_db, 5))
    threshold = max(peak - _VAD_BELOW_PEAK_DB, floor + _VAD_ABOVE_FLOOR_DB)
    loud = np.flatnonzero(energy_db > threshold)
    if len(loud) == 0:  # less than 6 dB of dynamic range: steady noise or hum, not speech
        return None
    margin = _VAD_MARGIN_SECONDS * sample_rate
    start = max(0.0, loud[0] * frame - margin) / sample_rate
    end = min(float(len(audio)), (loud[-1] + 1) * frame + margin) / sample_rate
    return start, end


def _checked_speech(audio: np.ndarray, words: Sequence[str], source: str) -> tuple[float, float]:
    """The speech span of `audio`, or InputError when it cannot hold `words`."""
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono (1-D), got shape {audio.shape}")
    if len(audio) == 0:
        raise InputError(source, "alignment failed", "empty audio")
    span = speech_span(audio)
    if span is None:
        raise InputError(source, "alignment failed",
                         "no speech in the audio (silence or steady noise)")
    duration = span[1] - span[0]
    if duration < _MIN_SECONDS_PER_WORD * len(words):
        raise InputError(
            source, "alignment failed",
            f"{len(words)} words cannot be spoken in {duration:.2f} s of speech",
        )
    return span


def _clean_words(words: Sequence[str]) -> list[str]:
    """Words as one-line text fragments; an empty word is a caller error."""
    cleaned = [" ".join(str(word).split()) for word in words]
    if any(not word for word in cleaned):
        raise ValueError("words must be non-empty strings (use tfemo.text.tokens.tokenize)")
    return cleaned


def align_uniform(audio: np.ndarray, words: Sequence[str], source: str,
                  offset: float = 0.0) -> list[WordTiming]:
    """Spread the words over the speech span in proportion to their lengths: a cheap baseline."""
    words = _clean_words(words)
    if not words:
        return []
    audio = np.asarray(audio, dtype=np.float32)
    start, end = _checked_speech(audio, words, source)
    weights = np.array([len(word) for word in words], dtype=np.float64)
    edges = start + (end - start) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    edges[-1] = end
    return [WordTiming(word, float(edges[i]) + offset, float(edges[i + 1]) + offset)
            for i, word in enumerate(words)]


#: Language codes aeneas's espeak wrapper accepts ("eng", "deu", "fra", ...).
LANGUAGES = frozenset(ESPEAKTTSWrapper.LANGUAGE_TO_VOICE_CODE)


def _read_wave(path: str, sample_rate: int) -> np.ndarray:
    """A wave file as float64 mono at `sample_rate` (what aeneas would get from ffmpeg)."""
    samples, rate = soundfile.read(path, dtype="float64", always_2d=True)
    samples = samples.mean(axis=1)
    if rate != sample_rate:
        common = gcd(int(rate), int(sample_rate))
        samples = resample_poly(samples, sample_rate // common, int(rate) // common)
    return samples


def _in_memory_audio(samples: np.ndarray, rconf: RuntimeConfiguration, logger: Logger) -> AudioFile:
    """An aeneas AudioFile holding `samples` (float, mono, at the configured sample rate)."""
    audio_file = AudioFile(rconf=rconf, logger=logger)
    audio_file.audio_format = "pcm16"
    audio_file.audio_channels = 1
    audio_file.audio_sample_rate = rconf.sample_rate
    audio_file.add_samples(np.asarray(samples, dtype=np.float64))
    return audio_file


class _ArrayExecuteTask(ExecuteTask):
    """ExecuteTask that takes the real audio from memory and reads synthetic waves in-process.

    Stock aeneas runs ffprobe once and ffmpeg twice per task (to read the real audio and to
    resample the 22.05 kHz synthetic wave): ~0.25 s of process start-ups for an utterance that
    takes ~0.03 s to align. `_extract_mfcc` is the one place where aeneas 1.7.3 loads audio, and
    AudioFileMFCC's `audio_file` argument is its in-memory input.
    """

    def __init__(self, task: Task, samples: np.ndarray, rconf: RuntimeConfiguration,
                 logger: Logger) -> None:
        super().__init__(task=task, rconf=rconf, logger=logger)
        self._samples = samples

    def _extract_mfcc(self, file_path=None, file_format=None, audio_file=None):
        if audio_file is None:
            rate = self.rconf.sample_rate
            # file_path is None for the real audio (the task has no audio path), else it is
            # the synthetic wave aeneas has just written into the temporary directory
            samples = self._samples if file_path is None else _read_wave(file_path, rate)
            audio_file = _in_memory_audio(samples, self.rconf, self.logger)
        return super()._extract_mfcc(audio_file=audio_file)


def _run_aeneas(audio: np.ndarray, words: list[str], language: str, head: float,
                process: float, tmp_dir: str) -> list[tuple[str, float, float]]:
    """Align with aeneas's ExecuteTask; return (text, begin, end) of the regular fragments."""
    logger = Logger(tee=False)  # aeneas logs into this object only: nothing is printed
    rconf = RuntimeConfiguration(_RUNTIME_SETTINGS)
    # Paths go in by item, not in the "key=value|..." string (a path may contain "|" or "=").
    rconf[RuntimeConfiguration.TMP_PATH] = tmp_dir
    rconf[RuntimeConfiguration.CEW_SUBPROCESS_PATH] = sys.executable
    # Head and middle are given in ms, rounded down, and the middle stops one MFCC step short
    # of the end: aeneas rejects a head + middle longer than the audio.
    total = len(audio) / rconf.sample_rate
    head = np.floor(head * 1000.0) / 1000.0
    process = np.floor(min(process, total - head - float(rconf.mws)) * 1000.0) / 1000.0
    text_path = os.path.join(tmp_dir, "words.txt")
    with open(text_path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(words) + "\n")
    task = Task(
        config_string=f"task_language={language}|{_TASK_SETTINGS}"
        f"|is_audio_file_head_length={head:.3f}|is_audio_file_process_length={process:.3f}",
        logger=logger,
    )
    task.text_file_path_absolute = text_path
    task.audio_file = AudioFile(rconf=rconf, logger=logger)  # execute() reads only its length
    task.audio_file.audio_length = TimeValue(f"{total:.6f}")
    _ArrayExecuteTask(task, audio, rconf=rconf, logger=logger).execute()
    return [(fragment.text, float(fragment.begin), float(fragment.end))
            for fragment in task.sync_map_leaves(SyncMapFragment.REGULAR)]


def align_aeneas(audio: np.ndarray, words: Sequence[str], language: str, source: str,
                 offset: float = 0.0) -> list[WordTiming]:
    """Force-align `words` to 16 kHz mono `audio` with aeneas (eSpeak + DTW), word by word.

    `language` is an aeneas code ("eng", "deu", ...); `source` names the audio file in errors.
    Raises InputError(source, "alignment failed", ...) when the audio is empty, silent or too
    short for the words, when aeneas fails, or when the result is degenerate.
    """
    if language not in LANGUAGES:
        raise ValueError(f"aeneas/eSpeak has no language {language!r} (use codes like 'eng')")
    words = _clean_words(words)
    if not words:
        return []
    audio = np.asarray(audio, dtype=np.float32)
    start, end = _checked_speech(audio, words, source)
    with warnings.catch_warnings():
        # aeneas/wavfile.py uses numpy APIs that numpy 1.26 deprecates
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"aeneas(\.|$)")
        try:
            with tempfile.TemporaryDirectory(prefix="tfemo-align-") as tmp_dir:
                fragments = _run_aeneas(audio, words, language, start, end - start, tmp_dir)
        except Exception as error:  # aeneas raises many types; all mean "could not align"
            raise InputError(source, "alignment failed",
                             f"aeneas: {type(error).__name__}: {error}") from error
    if len(fragments) != len(words):
        raise InputError(source, "alignment failed",
                         f"aeneas returned {len(fragments)} fragments for {len(words)} words")
    lengths = np.array([fragment_end - begin for _, begin, fragment_end in fragments])
    zero = int(np.sum(lengths < _ZERO_LENGTH_SECONDS))
    if zero * 2 >= len(words):
        raise InputError(source, "alignment failed",
                         f"{zero} of {len(words)} words aligned with zero length")
    timings = [[begin, fragment_end] for _, begin, fragment_end in fragments]
    # aeneas's voice detector is coarser than ours: it may call the quiet release of the last
    # word (a final fricative) non-speech and cut it off; nothing else can own that audio.
    timings[-1][1] = max(timings[-1][1], end)
    return [WordTiming(word, begin + offset, fragment_end + offset)
            for word, (begin, fragment_end) in zip(words, timings, strict=True)]
