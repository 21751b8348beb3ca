"""tfemo.serve cannot be tied up (issue 26): the work budget, malformed bodies, seekable
decoding, deadlines and the token kept out of the log.

In-process tests use the app with TestClient; the deadline, disconnect and log tests need a
real uvicorn process (127.0.0.1, a free port) and a raw socket.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests import test_serve
from tests.serve_models import free_port, start_server, stop_server, tone_audio, write_tone
from tests.test_serve import _bad, _client, _ok, _post
from tfemo.inference.predictor import Predictor

# the tiny exported models and clips of tests/test_serve.py (trained again for this module)
classifier, regressor, text_model, clips = (test_serve.classifier, test_serve.regressor,
                                            test_serve.text_model, test_serve.clips)
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="no ffmpeg")


@pytest.fixture(scope="module")
def classifier_app(classifier):
    with _client(classifier) as client:
        yield client


def _wav_declaring(rate: int, frames: int = 600) -> bytes:
    """A 16-bit mono WAV whose header says `rate` Hz (1.2 kB for 600 frames)."""
    data = (np.sin(np.arange(frames) * 0.3) * 8000).astype("<i2").tobytes()
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(data), b"WAVE", b"fmt ", 16,
                         1, 1, rate, rate * 2, 2, 16, b"data", len(data))
    return header + data


def test_one_hertz_files_are_refused_before_decoding(classifier_app):
    # the probe: 8 such files in a 9.9 kB body cost 24.8 s of CPU (each featurised as 600 s)
    files = [("file", (f"slow{k}.wav", _wav_declaring(1), "audio/wav")) for k in range(8)]
    started = time.process_time()
    body = _bad(classifier_app, 400, "bad sample rate", files=files)
    assert time.process_time() - started < 2.0
    assert "slow0.wav" in body["detail"] and "1 Hz" in body["detail"]
    _bad(classifier_app, 400, "bad sample rate",
         files=[("file", ("fast.wav", _wav_declaring(1_000_000), "audio/wav"))])


def test_files_per_request_are_limited(classifier, clips):
    with _client(classifier, Predictor(classifier), max_files=2) as client:
        files = [("file", (f"{k}.wav", clips["quiet"].read_bytes(), "audio/wav"))
                 for k in range(3)]
        body = _bad(client, 413, "too many files", files=files)
        assert "at most 2" in body["detail"]
        assert _post(client, clips["quiet"], clips["loud"]).status_code == 200


def test_a_huge_transcript_is_refused_before_any_work(text_model, clips):
    transcript = "a" * 1_000_000  # the probe: 23-34 s of CPU and +2.4 GB through aeneas
    with _client(text_model, max_upload_mb=5) as client:
        files = [("file", ("loud.wav", clips["loud"].read_bytes(), "audio/wav"))]
        started = time.perf_counter()
        _bad(client, 413, "transcript too long", files=files,
             data={"transcript": transcript})
        assert time.perf_counter() - started < 5.0
        body = _bad(client, 400, "word too long", files=files,
                    data={"transcript": "hello " + "x" * 500})
        assert "500 characters" in body["detail"]
        # 1.3 s of audio takes at most 8 words per second: 10 words are fine, 40 are not
        body = _bad(client, 400, "transcript too long", files=files,
                    data={"transcript": " ".join(["word"] * 40)})
        assert "40 words" in body["detail"]


def test_an_alignment_past_its_time_limit_is_stopped(text_model):
    from fastapi.testclient import TestClient

    from tfemo.inference.budget import WorkBudget
    from tfemo.service.app import create_app, load_predictor
    from tfemo.service.config import ServiceConfig

    t = np.arange(3 * 16000) / 16000  # a tone switched on and off twice a second: "speech"
    audio = (0.3 * np.sin(2 * np.pi * 200 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype("f4")
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, 16000, format="WAV")
    files = [("file", ("talk.wav", buffer.getvalue(), "audio/wav"))]
    config = ServiceConfig(model=text_model, budget=WorkBudget(alignment_seconds=0.01))
    predictor = load_predictor(config)
    assert predictor.alignment_seconds == 0.01
    with TestClient(create_app(config, predictor)) as client:
        body = _bad(client, 400, "alignment failed", files=files,
                    data={"transcript": "one two three"})
        assert "more than 0.01 s" in body["detail"]
    # with time enough, the same alignment in its child process gives one timing per word
    from tfemo.text.timed_alignment import align_aeneas_within

    timings = align_aeneas_within(audio, ["one", "two", "three"], "eng", "talk.wav", 60)
    assert [t.word for t in timings] == ["one", "two", "three"]
    assert 0 <= timings[0].start < timings[-1].end <= 3.0


def _raw(client, body: bytes, content_type: str, **headers):
    return client.post("/v1/predict", content=body,
                       headers={"content-type": content_type, **headers})


@pytest.mark.parametrize("boundary", ["b" * 300, "b" * 71, ""])
def test_an_overlong_or_empty_boundary_is_a_400(classifier_app, boundary):
    # the probe: a 300-character boundary was a 500 with a traceback
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"a.wav\"\r\n\r\nxx\r\n--{boundary}--\r\n").encode()
    response = _raw(classifier_app, body, f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 400, response.text
    assert response.json()["error"] in ("malformed form", "not a form upload")
    _ok(classifier_app)


def _part(name: str, filename: str | None, data: bytes, boundary: str = "B0undary",
          extra: str = "") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n{extra}\r\n").encode() \
        + data + b"\r\n"


def test_broken_parts_and_huge_headers_are_4xx_with_a_reason(classifier_app, clips):
    wav = clips["quiet"].read_bytes()
    form = "multipart/form-data; boundary=B0undary"
    cases = [
        (_part("file", "a.wav", wav) + b"--B0undary--\r\n", 200, None),
        # part headers of 1 MB
        (_part("file", "a.wav", wav, extra="X-Pad: " + "p" * 1_000_000 + "\r\n")
         + b"--B0undary--\r\n", 400, "malformed form"),  # python-multipart's own header cap
        (_part("file", "a.wav", wav, extra="".join(f"X-{k}: 1\r\n" for k in range(20)))
         + b"--B0undary--\r\n", 400, "malformed form"),  # and on the number of headers
        # no Content-Disposition
        (b"--B0undary\r\nContent-Type: audio/wav\r\n\r\n" + wav + b"\r\n--B0undary--\r\n",
         400, "malformed form"),
        # garbage where the first boundary should be
        (b"not a boundary at all\r\n" + wav, 400, ""),
        # a header line without a colon
        (b"--B0undary\r\nthis is no header\r\n\r\n" + wav + b"\r\n--B0undary--\r\n", 400,
         "malformed form"),
        # cut off inside the headers
        (b"--B0undary\r\nContent-Disposition: form-data; na", 400, ""),
        # a field other than file/transcript carrying a filename is not taken as a file
        (_part("upload", "a.wav", wav) + b"--B0undary--\r\n", 400, "unknown form field"),
        (_part("transcript", "a.txt", b"hello") + _part("file", "a.wav", wav)
         + b"--B0undary--\r\n", 400, "unknown form field"),
        (_part("file", None, wav) + b"--B0undary--\r\n", 400, "malformed form"),
    ]
    for body, status, error in cases:
        response = _raw(classifier_app, body, form)
        assert response.status_code == status, (error, response.text)
        if status != 200:
            assert response.json()["error"] == (error or response.json()["error"])
            assert response.json()["error"] and response.json()["detail"]
        _ok(classifier_app)
    # 1 MB of request headers (uvicorn caps them before the app in a real server)
    response = _raw(classifier_app, cases[0][0], form, **{"x-pad": "p" * 1_000_000})
    assert response.status_code == 200
    long_type = "multipart/form-data; boundary=B0undary; x=" + "y" * 1_000_000
    assert _raw(classifier_app, cases[0][0], long_type).status_code == 200


def test_bearer_is_case_insensitive(classifier, clips):
    with _client(classifier, Predictor(classifier), token="tok") as client:
        for scheme in ("bearer", "BEARER", "Bearer"):
            assert client.get("/v1/model", headers={"Authorization": f"{scheme} tok"}).is_success
        assert client.get("/v1/model", headers={"Authorization": "Basic tok"}).status_code == 401


def _m4a(source: Path, target: Path, *extra: str) -> Path:
    """AAC in MP4 the way ffmpeg writes it by default: the index (moov) after the samples."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), "-c:a", "aac",
                    "-b:a", "64k", *extra, str(target)], check=True)
    return target


def _moov_after_mdat(data: bytes) -> bool:
    position, order = 0, []
    while position + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[position:position + 8])
        order.append(kind)
        position += size if size >= 8 else len(data)
    return order.index(b"moov") > order.index(b"mdat")


@needs_ffmpeg
def test_m4a_with_the_index_at_the_end_works_in_serve_and_predict(classifier_app, classifier,
                                                                  clips, tmp_path):
    from tfemo import predict

    path = _m4a(clips["loud"], tmp_path / "loud.m4a")
    data = path.read_bytes()
    assert _moov_after_mdat(data)  # not readable from a pipe (the probe: "empty audio")
    response = classifier_app.post("/v1/predict", files=[("file", ("loud.m4a", data,
                                                                   "audio/mp4"))])
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    wav = _post(classifier_app, clips["loud"]).json()["results"][0]
    assert abs(result["seconds"] - wav["seconds"]) <= 0.1  # AAC pads a few ms
    # predict reads the same file, and a folder scan finds it
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(path, folder / "loud.m4a")
    out = tmp_path / "out"
    assert predict.main([str(folder), "--train_dir", str(classifier), "--output_dir",
                         str(out)]) == 0
    rows = (out / "predictions.csv").read_text().splitlines()
    assert len(rows) == 2 and "loud.m4a" in rows[1]
    served = Predictor(classifier).predict(folder / "loud.m4a").probabilities
    got = [result["probabilities"][n] for n in ("anger", "neutral", "sadness")]
    assert np.allclose(got, served, atol=1e-6)


@needs_ffmpeg
def test_a_too_long_m4a_is_a_413_before_it_is_decoded(classifier, clips, tmp_path):
    long = write_tone(tmp_path / "long.wav",
                      tone_audio(np.random.default_rng(1), 300.0, 0.3, 8.0))
    data = _m4a(long, tmp_path / "long.m4a").read_bytes()
    with _client(classifier, Predictor(classifier), max_seconds=3.0) as client:
        body = _bad(client, 413, "audio too long",
                    files=[("file", ("long.m4a", data, "audio/mp4"))])
        assert "long.m4a" in body["detail"] and "8.0 s" in body["detail"]


def test_a_stream_may_declare_its_sample_rate(classifier, clips):
    import soxr

    audio, _ = soundfile.read(clips["long"], dtype="float32")
    low = soxr.resample(audio, 16000, 8000)
    pcm = (np.clip(low, -1, 1) * 32767).astype("<i2").tobytes()
    with _client(classifier, Predictor(classifier)) as client:
        with client.websocket_connect("/v1/stream?sample_rate=8000") as ws:
            assert ws.receive_json()["sample_rate"] == 8000
            for start in range(0, len(pcm), 3200):
                ws.send_bytes(pcm[start:start + 3200])
                ws.receive_json()
            ws.send_text('{"type": "end"}')
            ws.receive_json()
            summary = ws.receive_json()
        # 3.1 s whatever the rate (read as 16 kHz it was 1.55 s)
        assert summary["seconds"] == pytest.approx(3.1, abs=0.05)
        assert summary["top"] == "sadness" or summary["top"]
        for bad in ("1", "abc", "10000000"):
            with client.websocket_connect(f"/v1/stream?sample_rate={bad}") as ws:
                message = ws.receive_json()
                assert message["type"] == "error" and message["error"] == "bad sample rate"
        _ok(client)


# ---- a real uvicorn process: deadlines, disconnects and the access log ----------------------

SECRET = "log-secret-token-1234"


@pytest.fixture(scope="module")
def live(regressor, tmp_path_factory):
    folder = tmp_path_factory.mktemp("live")
    token = folder / "token"
    token.write_text(SECRET)
    port = free_port()
    process = start_server(regressor, port, "--token_file", str(token), "--log_level", "info",
                           "--body_seconds", "2", "--idle_seconds", "2")
    yield port, process
    stop_server(process)


def _log(process: subprocess.Popen) -> str:
    """What the server has printed so far (stdout and stderr are one pipe)."""
    import fcntl
    import os

    fd = process.stdout.fileno()
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


@pytest.fixture(scope="module")
def logged(regressor, tmp_path_factory):
    """A server at the default log level (info: the access log) with a token."""
    token = tmp_path_factory.mktemp("logged") / "token"
    token.write_text(SECRET)
    port = free_port()
    process = start_server(regressor, port, "--token_file", str(token), "--log_level", "info")
    yield port, process
    stop_server(process)


@pytest.mark.slow
def test_the_access_log_never_holds_the_token(logged):
    import asyncio

    import httpx
    import websockets

    port, process = logged
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/v1/model", params={"token": SECRET}).status_code == 200
    assert httpx.get(f"{base}/", params={"token": SECRET, "x": "1"}).status_code == 200

    async def stream() -> str:
        async with websockets.connect(f"ws://127.0.0.1:{port}/v1/stream?token={SECRET}") as ws:
            return json.loads(await ws.recv())["type"]

    assert asyncio.run(stream()) == "ready"
    time.sleep(0.5)
    log = _log(process)
    assert SECRET not in log
    assert log.count("token=REDACTED") >= 3, log[-2000:]
    assert '"WebSocket /v1/stream?token=REDACTED"' in log


def _slow_upload(port: int, declared: int) -> socket.socket:
    """A connection that has sent its headers and the first byte of a `declared`-byte form
    body (each next byte of `_SLOW_BODY` keeps it well formed)."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    connection.sendall((f"POST /v1/predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                        f"{SECRET}\r\nContent-Type: multipart/form-data; boundary=abc\r\n"
                        f"Content-Length: {declared}\r\n\r\n-").encode())
    return connection


_SLOW_BODY = b"--abc\r\nContent-Disposition: form-data"


@pytest.mark.slow
def test_a_body_that_does_not_arrive_in_time_is_a_408(live):
    port, _ = live
    connection = _slow_upload(port, 1000)
    started = time.monotonic()
    try:
        for byte in _SLOW_BODY[1:4]:  # a byte a second: not stalled, yet past the deadline
            time.sleep(0.9)
            connection.sendall(bytes([byte]))
        answer = connection.recv(4096).decode(errors="replace")
    finally:
        connection.close()
    assert answer.startswith("HTTP/1.1 408"), answer
    assert '"request timeout"' in answer and time.monotonic() - started < 6


@pytest.mark.slow
def test_an_idle_stream_is_closed(live):
    import asyncio

    import websockets

    port, _ = live

    async def idle() -> tuple[dict, int]:
        async with websockets.connect(f"ws://127.0.0.1:{port}/v1/stream?token={SECRET}") as ws:
            await ws.recv()
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            try:
                await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed as closed:
                return message, closed.rcvd.code
            return message, 0

    message, code = asyncio.run(idle())
    assert message["error"] == "stream idle" and code == 1008


@pytest.mark.slow
def test_work_stops_when_the_client_has_gone(live, tmp_path):
    port, process = live
    audio = tone_audio(np.random.default_rng(3), 220.0, 0.3, 60.0)
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, 16000, format="WAV", subtype="PCM_16")
    wav = buffer.getvalue()
    body = b"".join(_part("file", f"f{k}.wav", wav, boundary="abc") for k in range(6)) \
        + b"--abc--\r\n"
    _log(process)
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    connection.sendall((f"POST /v1/predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                        f"{SECRET}\r\nContent-Type: multipart/form-data; boundary=abc\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    time.sleep(0.3)
    connection.close()  # gone before the first of six 60 s files is done
    deadline = time.monotonic() + 60
    log = ""
    while time.monotonic() < deadline and "the client has gone" not in log:
        time.sleep(0.5)
        log += _log(process)
    assert "the client has gone" in log


@needs_ffmpeg
def test_ffmpeg_files_read_block_by_block_equal_the_whole_file(clips, tmp_path):
    from tfemo.audio.io import audio_blocks, load_audio, open_audio

    path = _m4a(clips["long"], tmp_path / "long.m4a", "-ar", "44100", "-ac", "2")
    assert open_audio(path).decoder == "ffmpeg" and open_audio(path).channels == 2
    whole = load_audio(path)
    blocks = np.concatenate(list(audio_blocks(path, block_frames=5000)))
    assert len(whole) == len(blocks) and abs(len(whole) / 16000 - 3.1) < 0.1
    assert np.abs(whole - blocks).max() < 1e-5
