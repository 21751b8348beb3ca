"""Tests of tfemo.text.piecewise_alignment: a long transcript aligned window by window gives
the word times of a whole-file alignment (and of the synthesiser), in bounded windows."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from tfemo.audio.espeak import synthesize
from tfemo.corpora.base import WordTiming
from tfemo.text.alignment import align_aeneas
from tfemo.text.piecewise_alignment import (
    AudioCursor,
    align_piecewise,
    energy_profile,
    speech_frames,
)
from tfemo.text.tokens import tokenize

SENTENCES = (
    "Kids are talking by the door every evening.",
    "Please bring the blue bottle back home.",
    "We should leave now, before it starts raining.",
    "The old man walked slowly across the field.",
    "Nobody knew what had happened to the red car.",
    "She opened the window and looked at the sea.",
    "Tomorrow we will visit our friends at home.",
    "A small dog was barking at the postman again.",
    "They built a wooden house near the river bank.",
    "I think the meeting starts after lunch today.",
)


def _blocks(audio: np.ndarray, size: int = 5000) -> list[np.ndarray]:
    return [audio[i:i + size] for i in range(0, len(audio), size)]


def long_speech(sentences: int, seed: int = 1, silence: float = 0.0,
                rates: tuple[int, int] = (150, 220), pauses: tuple[float, float] = (0.2, 1.2)):
    """espeak-ng sentences at `rates` words/min with `pauses` seconds between them (and
    `silence` seconds of silence in the middle), faint noise; the audio, its words and their
    true times."""
    rng = np.random.default_rng(seed)
    pieces, truth, words, now = [], [], [], 0.0
    for k in range(sentences):
        text = SENTENCES[k % len(SENTENCES)]
        synthesis = synthesize(text, voice="en-us", rate=int(rng.integers(*rates)))
        audio = resample_poly(synthesis.samples / 32768.0, 320, 441).astype(np.float32)
        hz = synthesis.sample_rate
        truth += [WordTiming(w, now + a / hz, now + b / hz) for w, a, b in synthesis.words]
        words += tokenize(text)
        pause = np.zeros(int(rng.uniform(*pauses) * 16000)
                         + (int(silence * 16000) if k == sentences // 2 else 0), np.float32)
        pieces += [audio, pause]
        now += (len(audio) + len(pause)) / 16000
    audio = np.concatenate(pieces)
    audio += 0.001 * rng.standard_normal(len(audio)).astype(np.float32)
    assert len(truth) == len(words)
    return audio, words, truth


def piecewise(audio, words, keep, spare, calls=None):
    energy, total = energy_profile(_blocks(audio))
    assert total == len(audio)

    def align(window, some, offset):
        if calls is not None:
            calls.append(len(window) / 16000)
        return align_aeneas(window, some, "eng", "long.wav", offset=offset)

    return align_piecewise(AudioCursor(_blocks(audio)), total, speech_frames(energy), words,
                           align, "long.wav", keep_seconds=keep, spare_seconds=spare)


def starts(timings):
    return np.array([t.start for t in timings])


def test_cursor_gives_the_samples_asked_for():
    audio = np.random.default_rng(0).standard_normal(100_000).astype(np.float32)
    cursor = AudioCursor(_blocks(audio, 777))
    for start, stop in ((0, 100), (50, 5000), (4000, 4000), (20_000, 30_000),
                        (29_000, 99_999), (99_990, 200_000)):
        np.testing.assert_array_equal(cursor.samples(start, stop), audio[start:stop])
    with pytest.raises(ValueError, match="dropped"):
        cursor.samples(10, 20)


def test_energy_profile_frames_and_speech():
    audio = np.zeros(16_000 * 3, np.float32)
    audio[16_000:32_000] = 0.3 * np.sin(np.arange(16_000) * 0.2)
    energy, total = energy_profile(_blocks(audio, 1234))
    assert total == len(audio) and len(energy) == 300
    speech = speech_frames(energy)
    assert not speech[:100].any() and speech[100:200].all() and not speech[200:].any()


def test_windows_agree_with_the_whole_file_and_the_truth():
    audio, words, truth = long_speech(20)  # ~58 s in windows of 15 + 8 s
    calls: list[float] = []
    pieces = piecewise(audio, words, 15.0, 8.0, calls)
    whole = align_aeneas(audio, words, "eng", "long.wav")
    assert [t.word for t in pieces] == words
    assert len(calls) >= 3 and max(calls) <= 23.0 + 1e-6  # no call saw more than a window
    # espeak-ng's output depends on what the process synthesised before (tfemo.audio.espeak),
    # so the bounds leave room for the audio of any test order
    difference = np.abs(starts(pieces) - starts(whole))
    assert np.mean(difference) < 0.02, difference.round(3)
    assert np.percentile(difference, 95) < 0.06 and np.max(difference) < 0.3
    error = np.abs(starts(pieces) - starts(truth))[1:]
    whole_error = np.abs(starts(whole) - starts(truth))[1:]
    assert np.mean(error) < np.mean(whole_error) + 0.01 and np.max(error) < 0.3
    for before, after in zip(pieces, pieces[1:], strict=False):
        assert before.start < before.end <= after.start + 1e-6


def test_a_long_silence_is_stepped_over():
    audio, words, truth = long_speech(12, seed=2, silence=40.0)
    pieces = piecewise(audio, words, 15.0, 8.0)
    error = np.abs(starts(pieces) - starts(truth))[1:]
    assert np.mean(error) < 0.03 and np.max(error) < 0.3, error.round(3)


def test_a_short_file_is_one_call():
    audio, words, _ = long_speech(3)
    calls: list[float] = []
    pieces = piecewise(audio, words, 15.0, 8.0, calls)
    assert len(calls) == 1
    assert pieces == align_aeneas(audio, words, "eng", "long.wav")


def test_a_file_is_aligned_in_windows_as_the_array_is(tmp_path, monkeypatch):
    import soundfile

    from tfemo.inference.words import WordInputs
    from tfemo.text import piecewise_alignment

    audio, words, truth = long_speech(20, seed=3)
    path = tmp_path / "long.wav"
    soundfile.write(path, audio, 16000, subtype="FLOAT")
    calls: list[int] = []
    original = piecewise_alignment.align_piecewise

    def small_windows(*args, **kwargs):
        calls.append(1)
        return original(*args, keep_seconds=15.0, spare_seconds=8.0, **kwargs)

    monkeypatch.setattr(piecewise_alignment, "align_piecewise", small_windows)
    word_inputs = WordInputs(("audio", "words"), 6, "unused", "aeneas", None, "eng")
    from_file = word_inputs.said_in_file(path, " ".join(words))
    from_array = word_inputs.said(audio, str(path), " ".join(words))  # over 90 s: windows too
    assert calls == [1] and from_file.source == "transcript"
    assert from_file.words == tuple(piecewise(audio, words, 15.0, 8.0))
    error = np.abs(starts(from_file.words) - starts(truth))[1:]
    assert np.mean(error) < 0.03, error.round(3)
    assert len(from_array.words) == len(words)
