"""Models that read words, fed from audio alone: predict, export and the service recognise the
words when no transcript is given, and return them with the result."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile
from fastapi.testclient import TestClient

from tests.text_models import fusion_export, multimodal_export, speech
from tfemo import predict
from tfemo.audio import SAMPLE_RATE
from tfemo.core.errors import InputError
from tfemo.corpora.base import WordTiming
from tfemo.inference.predictor import Predictor
from tfemo.inference.words import SAID, WORD_FRAME, Said, chunks
from tfemo.service.app import create_app
from tfemo.service.config import ServiceConfig
from tfemo.text.transcription import recognise
from tfemo.training.exported import METADATA_FILE


@pytest.fixture(scope="module")
def multimodal(tmp_path_factory):
    return multimodal_export(tmp_path_factory.mktemp("multimodal"))


@pytest.fixture(scope="module")
def fusion(tmp_path_factory):
    return fusion_export(tmp_path_factory.mktemp("fusion"))


@pytest.fixture(scope="module")
def kids(tmp_path_factory):
    path = speech(tmp_path_factory.mktemp("speech") / "kids.wav")
    audio, _ = soundfile.read(path, dtype="float32")
    return path, audio, recognise(audio, str(path))


def _words(said: list[WordTiming]) -> list[dict]:
    return [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)} for w in said]


def test_the_export_of_a_multimodal_text_model_takes_the_word_sequence(multimodal):
    meta = json.loads((multimodal / METADATA_FILE).read_text())
    inputs = meta["signatures"]["serve"]["inputs"]
    assert inputs["word_sequence"]["shape"] == [None, None, 6]
    assert inputs["word_mask"] == {"shape": [None, None], "dtype": "bool"}
    assert meta["word_dim"] == 6 and meta["embeddings"].endswith("vectors.txt")


def test_predict_without_a_transcript_uses_the_recognised_words(multimodal, kids, tmp_path):
    path, audio, said = kids
    assert len(said) >= 3
    predictor = Predictor(multimodal)
    result = predictor.predict(path)
    assert result.said == Said(tuple(said), "asr")
    assert np.isclose(result.probabilities.sum(), 1.0, atol=1e-5)
    # the words change the answer: the same audio with other words is another answer
    other = predictor.predict(path, "happy happy happy")
    assert other.said.source == "transcript" and other.said.text == "happy happy happy"
    assert not np.allclose(other.probabilities, result.probabilities)
    assert predict.main([str(path), "--train_dir", str(multimodal), "--output_dir",
                         str(tmp_path / "p")]) == 0
    with open(tmp_path / "p" / "predictions.csv") as handle:
        row = next(csv.DictReader(handle))
    assert row["transcript"] == " ".join(w.word for w in said)
    assert row["transcript_source"] == "asr"
    assert np.isclose(float(row[f"p_{predictor.label_names[0]}"]),
                      result.probabilities[0], atol=1e-5)


def test_predict_from_a_train_dir_and_a_timed_csv(multimodal, kids, tmp_path):
    path, _, said = kids
    listing = tmp_path / "words.csv"
    listing.write_text(f"path,word,start,end\n{path},happy,0.3,0.6\n{path},sad,0.7,1.0\n")
    train_dir = multimodal.parent / "train"
    assert predict.main([str(path), "--train_dir", str(train_dir), "--transcripts",
                         str(listing), "--output_dir", str(tmp_path / "p")]) == 0
    with open(tmp_path / "p" / "predictions.csv") as handle:
        row = next(csv.DictReader(handle))
    assert (row["transcript"], row["transcript_source"]) == ("happy sad", "timed")


def test_other_languages_without_a_transcript_are_skipped_naming_the_file(multimodal, kids,
                                                                          tmp_path, capsys):
    path, audio, _ = kids
    predictor = Predictor(multimodal, language="deu")
    assert predictor.needs_transcripts
    with pytest.raises(InputError) as caught:
        predictor.predict(path)
    assert caught.value.path == str(path) and "English only" in caught.value.detail
    capsys.readouterr()
    assert predict.main([str(path), "--train_dir", str(multimodal), "--language", "deu",
                         "--output_dir", str(tmp_path / "p")]) == 2
    assert str(path) in capsys.readouterr().out.replace("\n", "")


def test_words_are_chunked_where_they_start():
    sequence = np.arange(12, dtype=np.float32).reshape(3, 4)
    inputs = {"audio": np.zeros((10, 2), np.float32), "word_sequence": sequence,
              WORD_FRAME: np.array([0, 1, 7]), SAID: Said((), "asr")}
    parts = list(chunks(inputs, 4))
    assert [len(p["audio"]) for p in parts] == [4, 4, 2]
    assert np.array_equal(parts[0]["word_sequence"], sequence[:2])
    assert parts[0]["word_mask"].tolist() == [True, True]
    assert parts[1]["word_sequence"].tolist() == [sequence[2].tolist()]
    assert parts[2]["word_mask"].tolist() == [False]  # no word: one padded row, masked
    assert SAID not in parts[0] and WORD_FRAME not in parts[0]


# ----------------------------------------------------------------------------- the service
def _client(model, **options) -> TestClient:
    return TestClient(create_app(ServiceConfig(model=model, **options)))


def test_an_audio_text_export_answers_an_audio_only_upload_with_the_words(multimodal, kids):
    path, _, said = kids
    expected = Predictor(multimodal).predict(path)
    with _client(multimodal) as client:
        info = client.get("/v1/model").json()
        assert info["reads_words"] is True and info["needs_transcript"] is False
        assert info["stream"]["mode"] == "utterance"
        response = client.post("/v1/predict", files=[("file", ("kids.wav", path.read_bytes(),
                                                                "audio/wav"))])
        assert response.status_code == 200, response.text
        result = response.json()["results"][0]
        assert result["transcript"] == {"source": "asr", "text": expected.said.text,
                                        "words": _words(said)}
        probabilities = [result["probabilities"][n] for n in expected_names(multimodal)]
        assert np.allclose(probabilities, expected.probabilities, atol=1e-5)
        given = client.post("/v1/predict", data={"transcript": "happy sad"},
                            files=[("file", ("kids.wav", path.read_bytes(), "audio/wav"))])
        assert given.json()["results"][0]["transcript"]["source"] == "transcript"


def expected_names(model) -> list[str]:
    return json.loads((model / METADATA_FILE).read_text())["label_names"]


def test_an_audio_text_export_answers_a_stream_with_the_words(multimodal, kids):
    path, audio, said = kids
    expected = Predictor(multimodal).predict(path)
    pcm = np.round(audio * 32768).clip(-32768, 32767).astype("<i2").tobytes()
    with _client(multimodal) as client, client.websocket_connect("/v1/stream") as ws:
        hello = ws.receive_json()
        assert hello["mode"] == "utterance" and hello["type"] == "ready"
        partial = []
        for start in range(0, len(pcm), 6400):
            ws.send_bytes(pcm[start:start + 6400])
            partial.append(ws.receive_json())
        ws.send_text(json.dumps({"type": "end"}))
        result, summary = ws.receive_json(), ws.receive_json()
    assert {m["type"] for m in partial} == {"words"} and partial[-1]["text"]
    assert result["type"] == "result" and summary["type"] == "summary"
    assert result["transcript"] == {"source": "asr", "text": expected.said.text,
                                    "words": _words(said)}
    assert summary["transcript"] == result["transcript"]
    names = expected_names(multimodal)
    assert np.allclose([result["probabilities"][n] for n in names], expected.probabilities,
                       atol=1e-5)
    assert summary["top"] == names[int(np.argmax(expected.probabilities))]


def test_a_stream_of_silence_gives_no_words_and_still_an_answer(multimodal):
    with _client(multimodal) as client, client.websocket_connect("/v1/stream") as ws:
        ws.receive_json()
        ws.send_bytes(np.zeros(SAMPLE_RATE, "<i2").tobytes())
        ws.receive_json()
        ws.send_text(json.dumps({"type": "end"}))
        result = ws.receive_json()
    assert result["transcript"] == {"source": "asr", "text": "", "words": []}
    assert np.isclose(sum(result["probabilities"].values()), 1.0, atol=1e-5)


def test_semantic_fusion_answers_an_audio_only_upload_with_the_words(fusion, kids):
    path, _, said = kids
    with _client(fusion) as client:
        response = client.post("/v1/predict", files=[("file", ("kids.wav", path.read_bytes(),
                                                                "audio/wav"))])
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert result["transcript"]["words"] == _words(said)
    assert len(result["trace"]["arousal"]) == result["frames"]
    assert result["frames"] == Predictor(fusion).predict(path).frames


def test_a_service_of_another_language_asks_for_the_transcript(multimodal, kids):
    path, _, _ = kids
    with _client(multimodal, language="deu") as client:
        assert client.get("/v1/model").json()["needs_transcript"] is True
        response = client.post("/v1/predict", files=[("file", ("kids.wav", path.read_bytes(),
                                                                "audio/wav"))])
        assert response.status_code == 400 and response.json()["error"] == "missing transcript"
        given = client.post("/v1/predict", data={"transcript": "kids are talking"},
                            files=[("file", ("kids.wav", path.read_bytes(), "audio/wav"))])
        assert given.status_code == 200, given.text
        assert given.json()["results"][0]["transcript"]["source"] == "transcript"
