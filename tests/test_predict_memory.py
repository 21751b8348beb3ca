"""Prediction in bounded memory gives the numbers of the whole-file path: a recurrent
regressor run 4 s at a time with its state carried, and a model that reads words fed a long
file chunk by chunk with the words of each chunk (tfemo.inference.predictor, words)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.predict_factory import WORDS, write_train_dir
from tfemo.corpora.base import WordTiming
from tfemo.inference.predictor import Predictor
from tfemo.text.transcripts import Transcript


def _tones(path: Path, seconds: float, seed: int = 0) -> Path:
    """Noisy tones switching on and off, 16 kHz PCM_16."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    audio = 0.3 * np.sin(2 * np.pi * (150 + 40 * np.sin(t)) * t) * (np.sin(2 * np.pi * 0.7 * t)
                                                                      > 0)
    audio += 0.02 * rng.standard_normal(len(t))
    soundfile.write(path, audio.astype(np.float32), 16000, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def gru_dir(tmp_path_factory) -> Path:
    return write_train_dir(tmp_path_factory.mktemp("gru") / "train", "gru_regressor")


@pytest.fixture(scope="module")
def fusion_dir(tmp_path_factory) -> Path:
    return write_train_dir(tmp_path_factory.mktemp("fusion") / "train", "semantic_fusion")


def _timed(seconds: float) -> Transcript:
    """A word every 0.55 s (0.4 s long), cycling through the factory's vocabulary."""
    words = tuple(WordTiming(WORDS[k % len(WORDS)], 0.55 * k + 0.1, 0.55 * k + 0.5)
                  for k in range(int((seconds - 0.6) / 0.55)))
    return Transcript(" ".join(w.word for w in words), words)


def test_steps_with_carried_state_equal_one_pass(gru_dir, tmp_path):
    path = _tones(tmp_path / "a.wav", 13.0)  # 325 frames: chunks of 120, steps of 7
    whole = Predictor(gru_dir, chunk_frames=120, step_frames=10**6, speech_check=False)
    stepped = Predictor(gru_dir, chunk_frames=120, step_frames=7, speech_check=False)
    assert stepped._step is not None and whole._step is not None
    assert whole.stream_seconds == pytest.approx(120.0)  # an audio model: 2 minutes
    first, second = whole.predict(path), stepped.predict(path)
    assert first.trace.shape == (325, 2) and first.chunks == second.chunks == 3
    np.testing.assert_allclose(second.trace, first.trace, atol=1e-5)
    assert np.abs(first.trace).sum() > 0


def test_semantic_fusion_steps_equal_one_pass(fusion_dir, tmp_path):
    path = _tones(tmp_path / "b.wav", 9.0)
    transcript = _timed(9.0)
    whole = Predictor(fusion_dir, chunk_frames=100, step_frames=10**6, speech_check=False)
    stepped = Predictor(fusion_dir, chunk_frames=100, step_frames=9, speech_check=False)
    first = whole.predict(path, transcript)
    second = stepped.predict(path, transcript)
    np.testing.assert_allclose(second.trace, first.trace, atol=1e-5)
    assert first.said.source == "timed" and len(first.said.words) == len(transcript.words)


def test_long_file_with_words_streams_and_equals_the_whole_file(fusion_dir, tmp_path):
    path = _tones(tmp_path / "c.wav", 11.0)
    transcript = _timed(11.0)
    streamed = Predictor(fusion_dir, chunk_frames=60, speech_check=False)
    assert streamed.stream_seconds == pytest.approx(2.4)  # one chunk: no long-context features
    assert streamed.streams_file(transcript) and not streamed.streams_file("")
    seen: list[int] = []
    original = streamed.word_inputs.on_chunks

    def counted(*args, **kwargs):
        for chunk in original(*args, **kwargs):
            seen.append(len(chunk["audio"]))
            yield chunk

    streamed.word_inputs.on_chunks = counted
    first = streamed.run(path, streamed.inputs(path, transcript))  # the whole-file path
    second = streamed.predict(path, transcript)
    assert seen == [60, 60, 60, 60, 35]  # the streamed path ran, chunk by chunk
    np.testing.assert_allclose(second.trace, first.trace, atol=1e-5)
    assert second.said == first.said


def test_chunk_words_equal_the_whole_file_cut(fusion_dir):
    from tfemo.inference.words import Said, chunks

    predictor = Predictor(fusion_dir, speech_check=False)
    said = Said(tuple(_timed(8.0).words), "timed")
    frames = 200
    whole = predictor.word_inputs.arrays(said, frames)
    whole["audio"] = np.zeros((frames, 640), np.float32)
    cut = list(chunks(whole, 45))
    streamed = list(predictor.word_inputs.on_chunks(
        ({"audio": c["audio"]} for c in cut), said, 45))
    assert len(streamed) == len(cut) == 5
    for a, b in zip(cut, streamed, strict=True):
        np.testing.assert_array_equal(a["words"], b["words"])


def test_step_frames_must_be_positive(gru_dir):
    with pytest.raises(ValueError, match="step_frames"):
        Predictor(gru_dir, step_frames=0)


def test_speech_check_in_pieces_equals_the_whole_audio(gru_dir, tmp_path):
    from scipy.signal import resample_poly

    from tfemo.audio.espeak import synthesize
    from tfemo.audio.speech_check import SpeechCheck

    speech = [resample_poly(synthesize(text, voice="en-us").samples / 32768.0, 320, 441)
              for text in ("Kids are talking by the door.", "Please bring the bottle home.")]
    audio = np.concatenate([np.zeros(8000), speech[0], np.zeros(24000), speech[1],
                            np.zeros(8000)]).astype(np.float32)
    path = tmp_path / "speech.wav"
    soundfile.write(path, audio, 16000, subtype="PCM_16")
    predictor = Predictor(gru_dir, chunk_frames=40, step_frames=7, vad="silero")
    result = predictor.predict(path)  # the VAD fed 7 frames at a time
    whole = SpeechCheck("silero")
    whole.add(predictor.inputs(path)["audio"].reshape(-1))  # the same frames, at once
    verdict = whole.verdict()
    assert len(verdict.segments) >= 1 and not result.no_speech
    assert result.voiced_fraction == pytest.approx(verdict.fraction, abs=1e-9)


def test_spectral_features_in_blocks_equal_one_pass(tmp_path, monkeypatch):
    from tfemo.audio import features

    rng = np.random.default_rng(5)
    audio = (np.sin(np.arange(16000 * 6) * 0.05) * np.linspace(0.001, 0.5, 16000 * 6)
             + 0.01 * rng.standard_normal(16000 * 6)).astype(np.float32)
    families = ("mfcc", "chroma", "mel_db", "contrast", "entropy")
    monkeypatch.setattr(features, "SPECTRAL_BLOCK", 7)  # 150 frames in 22 blocks
    blocked = features.extract_features(audio, 150, families)
    monkeypatch.setattr(features, "SPECTRAL_BLOCK", 10**9)
    whole = features.extract_features(audio, 150, families)
    for name in families:  # contrast's 80 dB floor is the whole file's, in both
        np.testing.assert_allclose(blocked[name], whole[name], rtol=1e-5, atol=1e-4)


EMODB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb" / "wav"


@pytest.mark.slow
@pytest.mark.skipif(not EMODB.is_dir(), reason="needs ../shared/data/emodb")
def test_real_speech_streamed_features_equal_the_whole_file(tmp_path):
    from tfemo.audio.io import load_audio, to_pcm_frames
    from tfemo.inference.streaming import stream_chunks
    from tfemo.records.example import frame_features

    pieces, total = [], 0
    for path in sorted(EMODB.glob("*.wav")):
        pieces.append(load_audio(path))
        total += len(pieces[-1])
        if total > 150 * 16000:
            break
    path = tmp_path / "joined.wav"
    soundfile.write(path, np.concatenate(pieces)[:150 * 16000], 16000, subtype="FLOAT")
    audio = load_audio(path)
    families = ("zcr", "rms", "mfcc", "chroma", "mel_db", "contrast", "entropy", "pitch")
    whole = frame_features(audio, len(to_pcm_frames(audio)), families)
    streamed = np.concatenate([c["features"] for c in stream_chunks(path, 1500, families)])
    np.testing.assert_array_equal(streamed[:, -2:], whole[:, -2:])  # pitch: F0 and voicing
    np.testing.assert_allclose(streamed, whole, atol=1e-5)


def test_predict_transcript_limit_follows_the_longest_audio():
    from tfemo import predict
    from tfemo.inference.budget import budget_of

    args = predict.parse_args(["a.wav", "--train_dir", "t"])
    args.max_seconds = 3600.0  # as predict sets it from its default
    assert budget_of(args).max_transcript_chars == 3600 * 8 * 8  # 8 words/s of 8 characters
    args = predict.parse_args(["a.wav", "--train_dir", "t", "--max_transcript_chars", "50"])
    args.max_seconds = 3600.0
    assert budget_of(args).max_transcript_chars == 50


def test_predict_refuses_a_transcript_limit_below_one(tmp_path, capsys):
    from tfemo import predict

    train_dir = write_train_dir(tmp_path / "train")
    path = _tones(tmp_path / "a.wav", 1.0)
    assert predict.main([str(path), "--train_dir", str(train_dir), "--output_dir",
                         str(tmp_path / "out"), "--max_transcript_chars", "0"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "--max_transcript_chars 0" in error[0]


def test_an_ensemble_aligns_a_long_file_once_and_streams_it_to_every_fold(tmp_path):
    from tfemo.inference.ensemble import Ensemble

    for fold, seed in (("fold-01", 3), ("fold-02", 4)):
        write_train_dir(tmp_path / "folds" / fold, "semantic_fusion", seed=seed)
    path = _tones(tmp_path / "d.wav", 8.0)
    text = " ".join(WORDS[k % len(WORDS)] for k in range(12))
    ensemble = Ensemble(tmp_path / "folds", chunk_frames=60, speech_check=False,
                        alignment="uniform")
    aligned: list[int] = []
    for member in ensemble.members:
        original = member.word_inputs.said_in_file

        def counted(path, transcript, original=original):
            if not isinstance(transcript, Transcript):
                aligned.append(1)  # a text to align, not the timed words of the first
            return original(path, transcript)

        member.word_inputs.said_in_file = counted
    result = ensemble.predict(path, text)
    assert aligned == [1] and result.said.source == "transcript"
    timed = Transcript(result.said.text, result.said.words, "transcript")
    traces = [member.run(path, member.inputs(path, timed)).trace
              for member in ensemble.members]
    np.testing.assert_allclose(result.trace, np.mean(traces, axis=0), atol=1e-5)
    assert not np.allclose(traces[0], traces[1])  # two different folds
