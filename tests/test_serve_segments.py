"""The service's emotion over time: `?segments=` on an upload gives tfemo.predict's segments;
`?segments=vad` on a stream answers each utterance once its pause is long enough. In-process
app over seeded untrained models (tests/predict_factory.py)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile
from fastapi.testclient import TestClient

from tests.predict_factory import write_train_dir
from tests.vad_audio import RATE, recording
from tfemo.audio.vad import Vad
from tfemo.inference.predictor import Predictor
from tfemo.service.app import create_app
from tfemo.service.config import ServiceConfig


@pytest.fixture(scope="module")
def talk() -> tuple[np.ndarray, list[tuple[float, float]]]:
    return recording()


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> tuple[TestClient, Predictor]:
    train_dir = write_train_dir(tmp_path_factory.mktemp("seg-cls") / "conv1d")
    predictor = Predictor(train_dir)
    with TestClient(create_app(ServiceConfig(model=train_dir), predictor)) as client:
        yield client, predictor


@pytest.fixture(scope="module")
def regressor(tmp_path_factory) -> tuple[TestClient, Predictor]:
    train_dir = write_train_dir(tmp_path_factory.mktemp("seg-reg") / "gru",
                                model="gru_regressor")
    predictor = Predictor(train_dir)
    with TestClient(create_app(ServiceConfig(model=train_dir), predictor)) as client:
        yield client, predictor


def _wav(audio: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _upload(client: TestClient, audio: np.ndarray, query: str, name: str = "talk.wav"):
    return client.post(f"/v1/predict{query}", files=[("file", (name, _wav(audio),
                                                               "audio/wav"))])


def _pcm16(audio: np.ndarray) -> np.ndarray:
    """The audio as the 16-bit WAV upload carries it."""
    return np.round(audio * 32768).clip(-32768, 32767).astype(np.int16) / np.float32(32768)


def test_an_upload_gets_one_result_per_speech_segment(classifier, talk):
    client, predictor = classifier
    audio, truth = talk
    response = _upload(client, audio, "?segments=vad")
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    segments = result["segments"]
    assert len(segments) == len(truth) and result["no_speech"] is False and result["top"]
    assert [s[:2] for s in result["speech"]] == [[s["start"], s["end"]] for s in segments]
    heard = _pcm16(audio)
    for entry, (true_start, true_end) in zip(segments, truth, strict=True):
        assert abs(entry["start"] - true_start) <= 0.3 and abs(entry["end"] - true_end) <= 0.3
        piece = heard[int(entry["start"] * RATE):int(entry["end"] * RATE)]
        expected = predictor.predict_audio(piece.astype(np.float32), "x").probabilities
        got = np.array([entry["probabilities"][n] for n in predictor.label_names])
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
        assert entry["top"] == predictor.label_names[int(np.argmax(expected))]
    plain = _upload(client, audio, "").json()["results"][0]
    assert "segments" not in plain  # without the parameter: today's answer


def test_noise_and_silence_uploads_have_no_segments_and_no_class(classifier):
    client, _ = classifier
    noise = (0.05 * np.random.default_rng(3).standard_normal(6 * RATE)).astype(np.float32)
    for audio in (noise, np.zeros(4 * RATE, np.float32)):
        result = _upload(client, audio, "?segments=vad").json()["results"][0]
        assert result["segments"] == [] and result["no_speech"] is True
        assert result["top"] is None
    windows = _upload(client, noise, "?segments=window:2").json()["results"][0]["segments"]
    assert [(w["start"], w["end"]) for w in windows] == [(0, 2), (2, 4), (4, 6)]
    assert all(w["no_speech"] and w["top"] is None and w["speech"] == 0 for w in windows)


def test_a_regressor_upload_marks_its_frames_and_averages_each_segment(regressor, talk):
    client, predictor = regressor
    audio, truth = talk
    result = _upload(client, audio, "?segments=vad").json()["results"][0]
    speech = np.array(result["speech_frames"])
    assert len(speech) == result["frames"] == len(result["trace"]["arousal"])
    assert 0.2 < speech.mean() < 0.9 and len(result["segments"]) == len(truth)
    arousal = np.array(result["trace"]["arousal"])
    for entry in result["segments"]:
        frames = arousal[int(entry["start"] / 0.04):int(np.ceil(entry["end"] / 0.04))]
        assert entry["means"]["arousal"] == pytest.approx(frames.mean(), abs=1e-5)
        assert entry["quadrant"]


@pytest.mark.parametrize("query", ["?segments=speech", "?segments=window:-1"])
def test_a_bad_segments_parameter_is_a_400(classifier, talk, query):
    client, _ = classifier
    response = _upload(client, talk[0][:RATE], query)
    assert response.status_code == 400 and response.json()["error"] == "bad segments"


def _stream(client: TestClient, audio: np.ndarray, query: str, chunk: float = 0.5):
    """Send 16-bit PCM in chunks, then end; (seconds sent, reply) per reply, and the rest."""
    data = (np.round(audio * 32768).clip(-32768, 32767).astype("<i2")).tobytes()
    step = int(chunk * RATE) * 2
    replies = []
    with client.websocket_connect(f"/v1/stream{query}") as ws:
        assert ws.receive_json()["type"] == "ready"
        for start in range(0, len(data), step):
            ws.send_bytes(data[start:start + step])
            replies.append(((start + step) / 2 / RATE, ws.receive_json()))
        ws.send_text(json.dumps({"type": "end"}))
        last, total = ws.receive_json(), ws.receive_json()
    return replies, last, total


def test_a_stream_answers_each_utterance_when_it_ends(classifier, talk):
    client, predictor = classifier
    audio, _ = talk
    expected = Vad().segments(_pcm16(audio))
    replies, last, total = _stream(client, audio, "?segments=vad")
    got = [(sent, u) for sent, reply in replies for u in reply["utterances"]]
    got += [(len(audio) / RATE, u) for u in last["utterances"]]
    assert len(got) == len(expected) and total["type"] == "summary"
    for (sent, utterance), (start, end) in zip(got, expected, strict=True):
        assert utterance["start"] == pytest.approx(start, abs=0.05)
        assert utterance["end"] == pytest.approx(end, abs=0.05)
        if end + 1.5 < len(audio) / RATE:  # answered soon after the utterance, mid-stream
            assert sent <= end + 0.5 + 0.5 + 0.1  # its pause (min_silence) + one chunk
        piece = _pcm16(audio)[int(utterance["start"] * RATE):int(utterance["end"] * RATE)]
        probabilities = predictor.predict_audio(piece.astype(np.float32), "x").probabilities
        found = np.array([utterance["probabilities"][n] for n in predictor.label_names])
        np.testing.assert_allclose(found, probabilities, rtol=1e-4, atol=1e-5)
    assert all(reply["windows"] is not None for _, reply in replies)  # the usual answer too


def test_a_stream_of_noise_has_no_utterance_and_other_segments_are_refused(classifier):
    client, _ = classifier
    noise = (0.05 * np.random.default_rng(4).standard_normal(5 * RATE)).astype(np.float32)
    replies, last, _ = _stream(client, noise, "?segments=vad")
    assert not any(reply["utterances"] for _, reply in replies) and last["utterances"] == []
    with client.websocket_connect("/v1/stream?segments=window:2") as ws:
        message = ws.receive_json()
    assert message["type"] == "error" and message["error"] == "bad segments"


def test_the_stream_keeps_only_the_audio_an_utterance_can_use(classifier, talk):
    from tfemo.service.segments import UtteranceTracker

    _, predictor = classifier
    audio, truth = talk
    tracker = UtteranceTracker(predictor)
    held = []
    for start in range(0, len(audio), RATE // 4):
        tracker.feed(audio[start:start + RATE // 4])
        held.append(len(tracker._audio) / RATE)
    longest = max(end - start for start, end in truth)
    assert max(held) <= longest + 0.5 + 0.25 + 0.2  # one utterance, its pause, a block
