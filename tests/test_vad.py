"""Speech segments (tfemo.audio.vad): each backend finds espeak sentences placed at known times
between pauses of noise, finds none in silence, noise and a tone (Silero), and the online
stream gives the same segments as the whole recording; the no_speech check uses the VAD and
falls back to the Praat rule."""

from __future__ import annotations

import numpy as np
import pytest

from tests.vad_audio import RATE, recording
from tfemo.audio import vad as vad_module
from tfemo.audio.speech_check import SpeechCheck
from tfemo.audio.vad import BACKENDS, Segmenter, Vad, VadSettings, iter_blocks, speech_mask


@pytest.fixture(scope="module")
def known() -> tuple[np.ndarray, list[tuple[float, float]]]:
    return recording()


def _quiet_inputs() -> dict[str, np.ndarray]:
    t = np.arange(6 * RATE) / RATE
    return {"silence": np.zeros(6 * RATE, np.float32),
            "noise": (0.1 * np.random.default_rng(1).standard_normal(6 * RATE)).astype(
                np.float32),
            "tone": (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)}


@pytest.mark.parametrize("backend", ["silero", "webrtc"])
def test_each_backend_finds_the_sentences_within_a_third_of_a_second(backend, known):
    audio, truth = known
    found = Vad(backend).segments(audio)
    assert len(found) == len(truth)
    tolerance = 0.3 + VadSettings().padding  # segments are widened by the padding
    for (start, end), (true_start, true_end) in zip(found, truth, strict=True):
        assert abs(start - true_start) <= tolerance and abs(end - true_end) <= tolerance
    mask = speech_mask(found, len(audio) // 640)
    true = speech_mask(truth, len(audio) // 640)
    assert (mask == true).mean() > 0.9


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_agrees_with_the_truth_on_most_frames(backend, known):
    audio, truth = known
    frames = len(audio) // 640
    found = speech_mask(Vad(backend).segments(audio), frames)
    true = speech_mask(truth, frames)
    # Praat's voicing misses unvoiced stretches inside a sentence: the weakest, the fallback
    assert (found == true).mean() > (0.8 if backend == "praat" else 0.9)
    assert found[true].mean() > 0.6 and not found[~true].mean() > 0.2


def test_silero_finds_no_speech_in_silence_noise_or_a_tone():
    for name, audio in _quiet_inputs().items():
        assert Vad("silero").segments(audio) == [], name


def test_the_stream_gives_the_segments_of_the_whole_recording(known):
    audio, _ = known
    vad = Vad("silero")
    whole = vad.segments(audio)
    stream = vad.stream()
    found = []
    for block in iter_blocks(audio, 0.37):  # blocks that do not align with the windows
        found += stream.push(block)
        if found:  # a segment is given out once its pause is long enough, before the end
            assert stream.seconds >= found[-1][1]
    found += stream.finish()
    assert len(found) == len(whole)
    np.testing.assert_allclose(np.array(found), np.array(whole), atol=0.05)


def test_the_segmenter_keeps_long_enough_segments_padded_and_bridges_short_pauses():
    settings = VadSettings(threshold=0.5, hysteresis=0.1, min_speech=0.2, min_silence=0.3,
                           padding=0.1)
    hop = 0.1
    #            speech 0.3 s, pause 0.2 s (bridged), speech 0.2 s, pause 1 s, blip 0.1 s
    p = np.array([0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])
    segmenter = Segmenter(hop, settings)
    assert segmenter.push(p) == [(0.1, 1.0)]  # 0.2-0.9 s, padded; the blip is too short
    assert segmenter.finish() == []
    assert vad_module.segments_of(np.array([0, 1, 1, 1]), hop, settings) == [(0.0, 0.4)]
    with pytest.raises(ValueError):
        VadSettings(min_silence=0.1, padding=0.1)


def test_speech_mask_marks_the_frames_whose_centre_is_in_a_segment():
    mask = speech_mask([(0.05, 0.12), (0.3, 1.0)], 10, 0.04)
    # centres 0.02, 0.06, 0.10 ... 0.38 s
    assert mask.tolist() == [False, True, True, False, False, False, False, True, True, True]


def test_no_speech_uses_the_vad_and_falls_back_to_praat(known, monkeypatch):
    audio, _ = known
    for name, quiet in _quiet_inputs().items():
        check = SpeechCheck("silero")
        check.add(quiet)
        assert check.verdict().no_speech and check.verdict().backend == "silero", name
    check = SpeechCheck("silero")
    for block in iter_blocks(audio, 4.0):
        check.add(block)
    verdict = check.verdict()
    assert not verdict.no_speech and len(verdict.segments) == 4
    assert 0.3 < verdict.fraction < 0.9

    def unavailable(name):
        raise ImportError(name)

    monkeypatch.setattr(vad_module, "load_backend", unavailable)
    check = SpeechCheck("silero")
    assert check.backend == "praat"
    check.add(_quiet_inputs()["tone"])
    assert check.verdict().no_speech  # the Praat rule: a steady tone has no pitch range
    check = SpeechCheck("silero")
    check.add(audio)
    assert not check.verdict().no_speech and check.verdict().backend == "praat"
