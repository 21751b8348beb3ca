"""Fuzzing the audio entry points with hand-made WAV bytes (hypothesis; profiles in conftest.py).

Every entry point that reads a user's audio file (load_audio, audio_blocks, build_example as
make_tfrecords calls it, Predictor.predict as tfemo.predict calls it) must, for any bytes,
either give finite float32 audio / a built example / a prediction, or raise InputError naming
the file. Files that are well formed by construction must be read, with the right length;
files that are bad by construction (rate 0 or 1, 0 channels, no samples, NaN or Inf) must be
refused for that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.predict_factory import write_train_dir
from tests.wav_bytes import IEEE_FLOAT, PCM, float32, pcm8, pcm16, pcm24, wav_bytes
from tfemo.audio import FRAME_LENGTH, SAMPLE_RATE
from tfemo.audio.io import MIN_SAMPLE_RATE, audio_blocks, frame_count, load_audio
from tfemo.core.errors import InputError
from tfemo.corpora.base import Item
from tfemo.records.example import BuildOptions, build_example

ENCODERS = {8: pcm8, 16: pcm16, 24: pcm24}
FEATURES = ("rms", "mfcc", "contrast", "pitch", "mfb_mean")


@dataclass(frozen=True)
class WavCase:
    """Bytes of a WAV file and what they are by construction."""

    data: bytes
    frames: int  # sample frames in the data chunk (before any truncation)
    rate: int
    channels: int
    truncated: bool  # cut short or with a declared size larger than the file
    nonfinite: int  # NaN/Inf samples put in (float data)
    first_bad: int  # frame of the first one
    placeholder: bool = False  # the declared size is a streaming writer's 0xFFFFFFFF

    @property
    def valid(self) -> bool:
        """Well formed, readable and usable by construction."""
        return (not self.truncated and self.frames > 0 and self.channels >= 1
                and self.rate >= MIN_SAMPLE_RATE and not self.nonfinite
                and self.frames * SAMPLE_RATE >= self.rate)  # at least one sample at 16 kHz


@st.composite
def wav_cases(draw) -> WavCase:
    """Integer and float WAVs with odd rates, channel counts, sizes, NaN/Inf and truncation."""
    rate = draw(st.sampled_from([0, 1, 7999, 8000, 16000, 22050, 44100, 48000])
                | st.integers(0, 200_000))
    channels = draw(st.sampled_from([0, 1, 2, 64]) | st.integers(0, 8))
    frames = draw(st.sampled_from([0, 1, 2, 639, 640, 641]) | st.integers(0, 4000))
    kind = draw(st.sampled_from(["int8", "int16", "int24", "float"]))
    width = max(channels, 1)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    samples = 0.5 * np.sin(np.arange(frames * width) * 0.05) * rng.uniform(0.1, 1.0)
    nonfinite, first_bad = 0, -1
    if kind == "float":
        bits, fmt = 32, IEEE_FLOAT
        if frames and draw(st.booleans()):
            spots = draw(st.lists(st.integers(0, frames * width - 1), min_size=1, max_size=5,
                                  unique=True))
            values = draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf]),
                                   min_size=len(spots), max_size=len(spots)))
            samples[spots] = values
            nonfinite, first_bad = len(spots), min(spots) // width
        data = float32(samples)
    else:
        bits, fmt = int(kind[3:]), PCM
        data = ENCODERS[bits](samples)
    declared = draw(st.sampled_from([None, None, len(data) + 1, len(data) * 4 + 1000,
                                     2**32 - 1]))
    blob = wav_bytes(data, channels=channels, rate=rate, bits=bits, fmt=fmt, data_size=declared,
                     block_align=width * bits // 8)
    cut = draw(st.sampled_from([None, None, None]) | st.integers(0, len(blob)))
    cut_short = cut is not None and cut < len(blob)
    truncated = declared is not None or cut_short
    placeholder = declared == 2**32 - 1  # "until the end of the file": a cut is invisible
    blob = blob[:cut]
    return WavCase(blob, frames, rate, channels, truncated, nonfinite, first_bad, placeholder)


def _write(folder: Path, data: bytes, name: str = "fuzz.wav") -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _check_refusal(error: InputError, path: Path, case: WavCase | None) -> None:
    assert error.path == str(path) and str(path) in str(error)
    if case is None:
        return
    if case.rate < MIN_SAMPLE_RATE and not case.truncated and case.channels >= 1:
        assert error.reason in ("bad sample rate", "corrupt audio"), error
    if case.nonfinite and not case.truncated and case.rate >= MIN_SAMPLE_RATE \
            and case.channels >= 1:
        assert error.reason == "non-finite audio", error
        assert f"{case.nonfinite} of {case.frames * case.channels} samples" in error.detail
        assert f"first at {case.first_bad / case.rate:.3f} s" in error.detail


def _check_audio(audio: np.ndarray, path: Path, case: WavCase | None) -> None:
    assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) > 0
    assert np.isfinite(audio).all()
    if case is not None:
        assert not case.nonfinite and case.rate >= MIN_SAMPLE_RATE and case.channels >= 1
        assert not case.truncated or case.placeholder, "a truncated file was read"
        if not case.truncated:
            expected = case.frames * SAMPLE_RATE / case.rate
            assert abs(len(audio) - expected) <= 1 + expected * 1e-6


@given(case=wav_cases())
def test_load_audio_reads_or_names_the_file(tmp_path_factory, case):
    path = _write(tmp_path_factory.mktemp("a"), case.data)
    try:
        audio = load_audio(path)
    except InputError as error:
        assert not case.valid, f"a valid file was refused: {error}"
        _check_refusal(error, path, case)
        return
    _check_audio(audio, path, case)


@given(data=st.binary(max_size=3000))
def test_random_bytes_are_refused_by_name(tmp_path_factory, data):
    path = _write(tmp_path_factory.mktemp("r"), data)
    try:
        audio = load_audio(path)
    except InputError as error:
        _check_refusal(error, path, None)
        return
    _check_audio(audio, path, None)  # libsndfile found some format in them: fine if finite


@given(data=st.binary(min_size=1, max_size=600))
def test_random_bytes_after_a_real_header_are_handled(tmp_path_factory, data):
    header = wav_bytes(b"")[:44 - 8]  # RIFF, WAVE and fmt chunks of a 16-bit mono file
    path = _write(tmp_path_factory.mktemp("h"), header + data)
    try:
        _check_audio(load_audio(path), path, None)
    except InputError as error:
        _check_refusal(error, path, None)


@given(case=wav_cases(), block=st.integers(1, 5000))
def test_blocks_give_exactly_the_samples_of_load_audio(tmp_path_factory, case, block):
    path = _write(tmp_path_factory.mktemp("b"), case.data)
    try:
        whole = load_audio(path)
    except InputError as error:
        with pytest.raises(InputError) as caught:
            list(audio_blocks(path, block_frames=block))
        assert caught.value.reason == error.reason and caught.value.path == error.path
        return
    pieces = list(audio_blocks(path, block_frames=block))
    np.testing.assert_array_equal(np.concatenate(pieces), whole)


@given(case=wav_cases())
def test_building_an_example_succeeds_or_names_the_file(tmp_path_factory, case):
    assume(case.frames <= 3000)
    path = _write(tmp_path_factory.mktemp("e"), case.data)
    item = Item(id="x", speaker="s", corpus="fuzz", portion="train", audio_path=path,
                label="a")
    options = BuildOptions(task="categorical", class_names=("a", "b"), features=FEATURES)
    try:
        result = build_example(item, options, {})
    except InputError as error:
        assert not case.valid, f"a valid file was refused: {error}"
        _check_refusal(error, path, case)
        return
    example = result.example
    assert example.audio.shape == (frame_count(int(result.seconds * SAMPLE_RATE + 0.5)),
                                   FRAME_LENGTH)
    assert np.isfinite(example.features).all()


@pytest.fixture(scope="module")
def predictors(tmp_path_factory):
    from tfemo.inference.predictor import Predictor

    train_dir = write_train_dir(tmp_path_factory.mktemp("train"), "conv1d",
                                ("rms", "mfcc", "mfb_mean"))
    return (Predictor(train_dir, chunk_frames=3),
            Predictor(train_dir, chunk_frames=3, stream_frames=1))


@given(case=wav_cases())
def test_predict_labels_or_names_the_file_and_streams_the_same(tmp_path_factory, predictors,
                                                               case):
    assume(case.frames <= 3000 and case.channels <= 8)
    path = _write(tmp_path_factory.mktemp("p"), case.data)
    whole, streamed = predictors
    try:
        result = whole.predict(path)
    except InputError as error:
        assert not case.valid, f"a valid file was refused: {error}"
        _check_refusal(error, path, case)
        with pytest.raises(InputError):
            streamed.predict(path)
        return
    assert np.isfinite(result.probabilities).all()
    assert result.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    again = streamed.predict(path)
    assert (again.frames, again.chunks) == (result.frames, result.chunks)
    np.testing.assert_array_equal(again.probabilities, result.probabilities)


@pytest.mark.slow
def test_a_one_hour_file_is_read_and_framed_in_bounded_blocks(tmp_path):
    """One hour of 8-bit 16 kHz audio (58 MB): the header, the block reader and the framing."""
    from tfemo.inference.streaming import stream_chunks

    seconds, path = 3600, tmp_path / "hour.wav"
    with soundfile.SoundFile(path, "w", SAMPLE_RATE, 1, "PCM_U8") as handle:
        minute = (0.25 * np.sin(np.arange(60 * SAMPLE_RATE) * 0.03)).astype(np.float32)
        for _ in range(seconds // 60):
            handle.write(minute)
    frames, chunks, largest = 0, 0, 0
    for chunk in stream_chunks(path, 1500):
        frames += len(chunk["audio"])
        chunks += 1
        largest = max(largest, len(chunk["audio"]))
        assert np.isfinite(chunk["audio"]).all()
    assert frames == seconds * SAMPLE_RATE // FRAME_LENGTH == 90_000
    assert chunks == 60 and largest == 1500
