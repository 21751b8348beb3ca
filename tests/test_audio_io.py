"""Audio loading: mono, resampling, framing, and errors that name the file."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from tfemo.audio import FRAME_LENGTH, SAMPLE_RATE
from tfemo.audio.io import frame_count, load_audio, to_pcm_frames
from tfemo.core.errors import InputError


def _sine(seconds: float, rate: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_stereo_44k_becomes_mono_16k(tmp_path):
    left = _sine(1.0, 44_100)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, left], axis=1), 44_100, subtype="PCM_24")
    audio = load_audio(path)
    assert audio.dtype == np.float32
    assert abs(len(audio) - SAMPLE_RATE) <= 1
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(audio) - 440.0) < 2.0


def test_aiff_behind_a_wav_name_is_read_by_content(tmp_path):
    path = tmp_path / "really_aiff.wav"
    soundfile.write(path, _sine(0.5, SAMPLE_RATE), SAMPLE_RATE, format="AIFF")
    assert len(load_audio(path)) == SAMPLE_RATE // 2


@pytest.mark.parametrize(("content", "reason"), [
    (None, "missing audio"),
    (b"this is not audio at all" * 10, "corrupt audio"),
])
def test_bad_files_name_the_file(tmp_path, content, reason):
    path = tmp_path / "bad.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        load_audio(path)
    assert caught.value.reason == reason
    assert str(path) in str(caught.value)


def test_zero_length_file_is_an_error(tmp_path):
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros(0, np.float32), SAMPLE_RATE)
    with pytest.raises(InputError, match="empty audio"):
        load_audio(path)


def test_frames_cover_the_audio_and_pad_the_last():
    audio = np.linspace(-0.5, 0.5, FRAME_LENGTH * 3 + 17, dtype=np.float32)
    frames = to_pcm_frames(audio)
    assert frames.shape == (4, FRAME_LENGTH) == (frame_count(len(audio)), FRAME_LENGTH)
    assert frames.dtype == np.int16
    flat = frames.reshape(-1)
    np.testing.assert_allclose(flat[: len(audio)] / 32768.0, audio, atol=1 / 32768)
    assert not flat[len(audio):].any()
