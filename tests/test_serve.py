"""tfemo.serve: the app in-process and as a real uvicorn process; predict, stream, page, errors.

Models are tiny tfemo.train runs on tone records (tests/serve_models.py), exported with
tfemo.export; the service and tfemo.predict run the same export through the same Predictor.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile
from fastapi.testclient import TestClient

from tests.records_factory import write_synthetic_records
from tests.serve_models import (
    free_port,
    start_server,
    stop_server,
    tone_audio,
    train_tiny,
    write_tone,
    write_tone_records,
)
from tfemo import export, predict
from tfemo.audio.io import frame_count
from tfemo.inference.predictor import Predictor
from tfemo.service.app import create_app
from tfemo.service.config import ServiceConfig


def _export(records: Path, task_dir: Path, model: str, *extra: str) -> Path:
    train_dir = train_tiny(records, task_dir / "train", model, *extra)
    assert export.main(["--train_dir", str(train_dir), "--export_dir",
                        str(task_dir / "export")]) == 0
    return task_dir / "export"


@pytest.fixture(scope="module")
def regressor(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("regressor")
    write_tone_records(base / "records", "continuous")
    return _export(base / "records", base, "gru_regressor")


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("classifier")
    write_tone_records(base / "records", "categorical")
    return _export(base / "records", base, "conv1d", "--filters", "8", "--blocks", "1",
                   "--max_steps", "30", "--learning_rate", "3e-3")


@pytest.fixture(scope="module")
def text_model(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("text")
    write_synthetic_records(base / "records", {"train": [40, 50], "devel": [30], "test": [30]})
    return _export(base / "records", base, "semantic_fusion")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(5)
    return {"loud": write_tone(folder / "loud.wav", tone_audio(rng, 440.0, 0.5, 1.3)),
            "quiet": write_tone(folder / "quiet.wav", tone_audio(rng, 150.0, 0.05, 0.9)),
            "long": write_tone(folder / "long.wav", tone_audio(rng, 220.0, 0.3, 3.1))}


def _client(model: Path, predictor: Predictor | None = None, **limits) -> TestClient:
    return TestClient(create_app(ServiceConfig(model=model, **limits), predictor))


@pytest.fixture(scope="module")
def regressor_app(regressor):
    with _client(regressor) as client:
        yield client


@pytest.fixture(scope="module")
def classifier_app(classifier):
    with _client(classifier) as client:
        yield client


def _post(client: TestClient, *paths: Path, **kwargs):
    files = [("file", (p.name, p.read_bytes(), "audio/wav")) for p in paths]
    return client.post("/v1/predict", files=files, **kwargs)


def _wav_bytes(audio: np.ndarray, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, 16000, format="WAV", subtype=subtype)
    return buffer.getvalue()


def _ok(client: TestClient) -> None:
    """The server still answers after a bad request."""
    assert client.get("/healthz").json() == {"status": "ok"}


def test_healthz_and_model_metadata(classifier_app):
    _ok(classifier_app)
    info = classifier_app.get("/v1/model").json()
    assert info["task"] == "categorical" and info["labels"] == ["anger", "neutral", "sadness"]
    assert info["stream"] == {"mode": "window", "window_seconds": 2.0, "hop_seconds": 0.4}
    assert info["metadata"]["model"]["name"] == "conv1d"


def test_a_classifier_predicts_as_tfemo_predict_does(classifier_app, classifier, clips,
                                                     tmp_path):
    response = _post(classifier_app, clips["loud"], clips["quiet"])
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["name"] for r in results] == ["loud.wav", "quiet.wav"]
    predictor = Predictor(classifier)
    for result, path in zip(results, (clips["loud"], clips["quiet"]), strict=True):
        expected = predictor.predict(path).probabilities
        got = np.array([result["probabilities"][n] for n in predictor.label_names])
        assert np.array_equal(got, expected.astype(np.float64))  # the same numbers, exactly
        assert result["top"] == predictor.label_names[int(np.argmax(expected))]
    assert results[0]["top"] == "anger" and results[1]["top"] == "sadness"
    # the command on the same export and files: the CSV holds the same numbers (9 digits)
    assert predict.main([str(clips["loud"]), str(clips["quiet"]), "--train_dir",
                         str(classifier), "--output_dir", str(tmp_path)]) == 0
    rows = list(csv.DictReader((tmp_path / "predictions.csv").open()))
    for row, result in zip(rows, results, strict=True):
        for name, value in result["probabilities"].items():
            assert float(row[f"p_{name}"]) == pytest.approx(value, rel=1e-8, abs=1e-12)


def test_a_regressor_returns_the_trace_means_and_quadrant(regressor_app, regressor, clips):
    response = _post(regressor_app, clips["long"])
    assert response.status_code == 200
    result = response.json()["results"][0]
    expected = Predictor(regressor).predict(clips["long"]).trace
    assert result["frames"] == len(expected) == frame_count(int(3.1 * 16000))
    trace = np.stack([result["trace"]["arousal"], result["trace"]["valence"]], axis=1)
    assert np.array_equal(trace, expected.astype(np.float64))
    means = expected.mean(axis=0)
    assert result["means"]["arousal"] == pytest.approx(float(means[0]), abs=1e-6)
    assert result["quadrant"].startswith("high arousal" if means[0] >= 0 else "low arousal")


def test_long_files_are_chunked_as_tfemo_predict_chunks_them(regressor, clips):
    predictor = Predictor(regressor, chunk_frames=25)
    with _client(regressor, chunk_seconds=1.0) as client:
        result = _post(client, clips["long"]).json()["results"][0]
    assert result["chunks"] == predictor.predict(clips["long"]).chunks == 4
    trace = np.stack([result["trace"]["arousal"], result["trace"]["valence"]], axis=1)
    assert np.array_equal(trace, predictor.predict(clips["long"]).trace.astype(np.float64))


def test_flac_and_other_rates_are_decoded_in_memory(classifier_app, classifier, tmp_path):
    audio = tone_audio(np.random.default_rng(2), 440.0, 0.5, 1.0)
    path = tmp_path / "loud.flac"
    import soxr

    soundfile.write(path, soxr.resample(audio, 16000, 44100), 44100)
    result = _post(classifier_app, path).json()["results"][0]
    expected = Predictor(classifier).predict(path).probabilities
    assert np.allclose([result["probabilities"][n] for n in ("anger", "neutral", "sadness")],
                       expected, atol=1e-6)


def _bad(client: TestClient, status: int, error: str, **kwargs) -> dict:
    response = client.post("/v1/predict", **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error and body["detail"], body
    _ok(client)
    return body


def test_every_bad_upload_gets_a_4xx_that_names_the_problem(classifier_app, clips):
    client = classifier_app
    body = _bad(client, 415, "unsupported audio",
                files=[("file", ("broken.wav", b"RIFF but not really audio", "audio/wav"))])
    assert "broken.wav" in body["detail"]
    _bad(client, 415, "unsupported audio",
         files=[("file", ("notes.txt", b"hello " * 200, "text/plain"))])
    _bad(client, 400, "empty audio", files=[("file", ("empty.wav", b"", "audio/wav"))])
    _bad(client, 400, "empty audio",
         files=[("file", ("silent.wav", _wav_bytes(np.zeros(0, np.float32)), "audio/wav"))])
    nan = np.full(3200, 0.1, np.float32)
    nan[100] = np.nan
    body = _bad(client, 400, "non-finite audio",
                files=[("file", ("nan.wav", _wav_bytes(nan, "FLOAT"), "audio/wav"))])
    assert "1 NaN or infinite" in body["detail"]
    _bad(client, 400, "no audio file", files=[("transcript", (None, b"hello"))])
    _bad(client, 400, "not a form upload", content=b"raw bytes",
         headers={"content-type": "audio/wav"})
    assert client.get("/nowhere").json()["error"] == "not found"
    wrong_method = client.get("/v1/predict")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "method not allowed"
    tiny = client.post("/v1/predict", files=[("file", ("click.wav", _wav_bytes(
        np.full(10, 0.2, np.float32)), "audio/wav"))])  # shorter than one frame: still fine
    assert tiny.status_code == 200 and tiny.json()["results"][0]["frames"] == 1
    assert _post(client, clips["loud"]).status_code == 200


def test_too_long_and_too_large_get_413(classifier, clips):
    predictor = Predictor(classifier)
    with _client(classifier, predictor, max_seconds=1.0) as client:
        body = _bad(client, 413, "audio too long",
                    files=[("file", ("long.wav", clips["long"].read_bytes(), "audio/wav"))])
        assert "3.1 s" in body["detail"] and "at most 1 s" in body["detail"]
    with _client(classifier, predictor, max_upload_mb=0.05) as client:
        _bad(client, 413, "upload too large",
             files=[("file", ("long.wav", clips["long"].read_bytes(), "audio/wav"))])
        assert _post(client, clips["quiet"]).status_code == 200  # 29 kB < 52 kB


def test_a_text_model_of_another_language_needs_a_transcript_and_cannot_stream(text_model,
                                                                             clips):
    """The recogniser knows English only (tests/test_serve_words.py: English audio alone)."""
    with _client(text_model, Predictor(text_model, language="deu")) as client:
        assert client.get("/v1/model").json()["needs_transcript"] is True
        body = _bad(client, 400, "missing transcript",
                    files=[("file", ("loud.wav", clips["loud"].read_bytes(), "audio/wav"))])
        assert "transcript" in body["detail"]
        with client.websocket_connect("/v1/stream") as ws:
            message = ws.receive_json()
            assert message["type"] == "error" and message["error"] == "stream unsupported"
        _ok(client)


def test_the_token_guards_every_endpoint_but_healthz(classifier, clips):
    secret = "s3cret-token"
    with _client(classifier, Predictor(classifier), token=secret) as client:
        assert client.get("/healthz").status_code == 200
        for path in ("/", "/v1/model"):
            response = client.get(path)
            assert response.status_code == 401 and response.json()["error"] == "missing token"
            wrong = client.get(path, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401 and wrong.json()["error"] == "wrong token"
            assert client.get(path, headers={"Authorization": f"Bearer {secret}"}).is_success
        assert client.get("/v1/model", params={"token": secret}).is_success
        assert _post(client, clips["loud"]).status_code == 401
        assert _post(client, clips["loud"],
                     headers={"Authorization": f"Bearer {secret}"}).status_code == 200
        with client.websocket_connect("/v1/stream") as ws:
            assert ws.receive_json()["error"] == "missing token"
        with client.websocket_connect(f"/v1/stream?token={secret}") as ws:
            assert ws.receive_json()["type"] == "ready"


def _pcm(path: Path) -> bytes:
    audio, _ = soundfile.read(path, dtype="int16")
    return audio.astype("<i2").tobytes()


def _stream(client: TestClient, data: bytes, sizes: list[int]) -> list[dict]:
    """Send `data` in chunks of the given sizes (cycled), then end; every message received."""
    messages = []
    with client.websocket_connect("/v1/stream") as ws:
        messages.append(ws.receive_json())
        start, k = 0, 0
        while start < len(data):
            size = sizes[k % len(sizes)]
            ws.send_bytes(data[start:start + size])
            messages.append(ws.receive_json())
            start, k = start + size, k + 1
        ws.send_text(json.dumps({"type": "end"}))
        messages.extend([ws.receive_json(), ws.receive_json()])
    return messages


def test_a_stream_answers_every_chunk_with_the_frames_it_completed(regressor_app, regressor,
                                                                   clips):
    data = _pcm(clips["long"])
    messages = _stream(regressor_app, data, [6400, 1002, 2, 640, 9000])  # any size, even tiny
    assert messages[0]["type"] == "ready" and messages[0]["mode"] == "frames"
    frames = [m for m in messages[1:-1]]
    assert all(m["type"] == "frames" for m in frames)
    starts = [m["start"] for m in frames if m["values"]]
    values = np.array([v for m in frames for v in m["values"]])
    assert len(values) == frame_count(len(data) // 2)  # every frame answered exactly once
    assert starts == sorted(starts)
    summary = messages[-1]
    assert summary["type"] == "summary" and summary["frames"] == len(values)
    # chunk sizes do not matter: the recurrent state carries over exactly
    again = _stream(regressor_app, data, [32000])
    assert np.allclose(np.array([v for m in again[1:-1] for v in m["values"]]), values,
                       atol=1e-5)
    # and the stream tracks the file's trace (features see 1 s of context, 80 ms ahead)
    trace = Predictor(regressor).predict(clips["long"]).trace
    assert np.abs(values - trace).max() < 0.05


def test_streams_keep_their_own_state(regressor_app, clips):
    data, other = _pcm(clips["long"]), _pcm(clips["quiet"])
    alone = _stream(regressor_app, data, [3200])
    with regressor_app.websocket_connect("/v1/stream") as a, \
            regressor_app.websocket_connect("/v1/stream") as b:
        a.receive_json(), b.receive_json()
        got = []
        for start in range(0, len(data), 3200):
            a.send_bytes(data[start:start + 3200])
            got.append(a.receive_json())
            b.send_bytes(other[start % len(other):start % len(other) + 3200])
            b.receive_json()
        a.send_text('{"type": "end"}')
        got.append(a.receive_json())
    assert np.array_equal(np.array([v for m in got for v in m["values"]]),
                          np.array([v for m in alone[1:-1] for v in m["values"]]))


def test_a_classifier_stream_answers_on_a_sliding_window(classifier_app, clips):
    data = _pcm(clips["long"])  # 3.1 s: windows of 2 s every 0.4 s end at 2.0, 2.4, 2.8 s
    messages = _stream(classifier_app, data, [3200])
    assert messages[0]["window_seconds"] == 2.0 and messages[0]["hop_seconds"] == 0.4
    windows = [w for m in messages[1:-1] for w in m["windows"]]
    assert [(w["start"], w["end"]) for w in windows] == [(0.0, 2.0), (0.4, 2.4), (0.8, 2.8)]
    for window in windows:
        assert sum(window["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert messages[-1]["type"] == "summary" and messages[-1]["top"]
    short = _stream(classifier_app, _pcm(clips["quiet"]), [3200])  # 0.9 s: one answer at the end
    assert [len(m["windows"]) for m in short[1:-1]][-1] == 1


@pytest.mark.parametrize("frame, error", [
    (b"\x01\x02\x03", "malformed stream frame"),  # odd byte count
    ("not json", "malformed stream frame"),
    ('{"type": "pause"}', "malformed stream frame"),
])
def test_a_malformed_stream_frame_is_refused(regressor_app, frame, error):
    with regressor_app.websocket_connect("/v1/stream") as ws:
        ws.receive_json()
        ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_text(frame)
        message = ws.receive_json()
        assert message["type"] == "error" and message["error"] == error and message["detail"]
    _ok(regressor_app)


def test_a_stream_longer_than_max_seconds_is_refused(regressor, clips):
    with _client(regressor, max_seconds=1.0) as client:
        with client.websocket_connect("/v1/stream") as ws:
            ws.receive_json()
            ws.send_bytes(_pcm(clips["long"]))
            message = ws.receive_json()
            assert message["error"] == "stream too long"
        _ok(client)


def test_the_page_is_served_from_the_package_without_a_cdn(classifier_app):
    response = classifier_app.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<canvas id="chart"' in html and "/v1/predict" in html and "/v1/stream" in html
    assert "src=\"http" not in html and "href=\"http" not in html


@pytest.fixture(scope="module")
def server(regressor, tmp_path_factory):
    token = tmp_path_factory.mktemp("token") / "token"
    token.write_text("process-token\n")
    port = free_port()
    process = start_server(regressor, port, "--token_file", str(token))
    yield f"127.0.0.1:{port}"
    stop_server(process)


@pytest.mark.slow
def test_a_real_uvicorn_process_predicts_and_streams(server, regressor, clips):
    import asyncio

    import httpx
    import websockets

    auth = {"Authorization": "Bearer process-token"}
    base = f"http://{server}"
    assert httpx.get(f"{base}/v1/model").status_code == 401
    files = [("file", ("long.wav", clips["long"].read_bytes(), "audio/wav"))]
    result = httpx.post(f"{base}/v1/predict", files=files, headers=auth, timeout=60).json()
    expected = Predictor(regressor).predict(clips["long"]).trace
    assert np.array_equal(np.array(result["results"][0]["trace"]["arousal"]),
                          expected[:, 0].astype(np.float64))
    bad = httpx.post(f"{base}/v1/predict", headers=auth, timeout=60,
                     files=[("file", ("x.wav", b"garbage" * 10, "audio/wav"))])
    assert bad.status_code == 415 and bad.json()["error"] == "unsupported audio"

    async def stream() -> list[dict]:
        async with websockets.connect(f"ws://{server}/v1/stream",
                                      additional_headers=auth) as ws:
            out = [json.loads(await ws.recv())]
            data = _pcm(clips["long"])
            for start in range(0, len(data), 6400):
                await ws.send(data[start:start + 6400])
                out.append(json.loads(await ws.recv()))
            await ws.send(json.dumps({"type": "end"}))
            out += [json.loads(await ws.recv()), json.loads(await ws.recv())]
            return out

    messages = asyncio.run(stream())
    assert messages[0]["type"] == "ready" and messages[-1]["type"] == "summary"
    assert sum(len(m["values"]) for m in messages[1:-1]) == len(expected)
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}


def test_serve_refuses_a_folder_that_is_not_an_export(tmp_path, capsys):
    from tfemo import serve

    assert serve.main(["--export_dir", str(tmp_path)]) == 2
    assert "no tfemo.json" in capsys.readouterr().err


def test_batched_chunks_of_many_streams_equal_each_stream_alone(regressor):
    from tfemo.service.batching import ChunkBatcher
    from tfemo.training.exported import ExportedModel

    exported = ExportedModel.load(regressor)
    batcher = ChunkBatcher(exported)
    rng = np.random.default_rng(9)
    width = exported.metadata["signatures"]["serve"]["inputs"]["features"]["shape"][-1]
    batches = [{"features": rng.normal(size=(1, n, width)).astype(np.float32) * 3,
                "mask": np.ones((1, n), bool),
                **{k: rng.normal(size=v.shape).astype(np.float32)
                   for k, v in exported.initial_state().items()}} for n in (1, 5, 3, 8)]
    together = batcher._run(batches)
    batcher.close()
    for batch, got in zip(batches, together, strict=True):
        alone = exported.serve_chunk(batch)
        assert got.keys() == alone.keys()
        for name in alone:
            assert got[name].shape == alone[name].shape
            assert np.abs(got[name] - alone[name]).max() < 1e-5


@pytest.mark.skipif(__import__("shutil").which("ffmpeg") is None, reason="no ffmpeg")
def test_formats_libsndfile_cannot_read_go_through_an_ffmpeg_pipe(classifier_app, clips):
    # ALAC in MP4: lossless, so the numbers must be those of the WAV it was made from
    encoded = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(clips["loud"]),
                              "-c:a", "alac", "-f", "mp4", "-movflags",
                              "frag_keyframe+empty_moov", "pipe:1"],
                             capture_output=True, check=True).stdout
    with pytest.raises(soundfile.LibsndfileError):
        soundfile.info(io.BytesIO(encoded))
    response = classifier_app.post("/v1/predict",
                                   files=[("file", ("loud.m4a", encoded, "audio/mp4"))])
    assert response.status_code == 200, response.text
    wav = _post(classifier_app, clips["loud"]).json()["results"][0]
    result = response.json()["results"][0]
    assert result["frames"] == wav["frames"] and result["top"] == wav["top"] == "anger"
    for name, p in wav["probabilities"].items():
        assert result["probabilities"][name] == pytest.approx(p, abs=1e-6)


def test_the_checkpoint_and_its_export_predict_the_same(classifier, regressor, clips):
    for export_dir, field in ((classifier, "probabilities"), (regressor, "trace")):
        from_checkpoint = getattr(Predictor(export_dir.parent / "train").predict(clips["long"]),
                                  field)
        from_export = getattr(Predictor(export_dir).predict(clips["long"]), field)
        assert np.abs(from_checkpoint - from_export).max() < 1e-5
