"""Fuzzing the service in-process (hypothesis; profiles in conftest.py): multipart bodies,
request headers and WebSocket messages.

The property, for any input: the answer is never a 5xx, an error is JSON `{"error", "detail"}`
with a 4xx, and the app stays healthy (/healthz answers after every example). The "long"
profile (benchmarks/fuzz.py -k service) tries at least 1,000 examples per property.
"""

from __future__ import annotations

import io
import json
import os
import string

import numpy as np
import pytest
import soundfile
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.websockets import WebSocketDisconnect

from tests.predict_factory import write_train_dir
from tfemo.inference.predictor import Predictor
from tfemo.service.app import create_app
from tfemo.service.config import ServiceConfig

TOKEN = "fuzz-token"
# the long profile tries at least 1,000 examples per property here
PER_PROPERTY = (settings(max_examples=1000) if os.environ.get("HYPOTHESIS_PROFILE") == "long"
                else settings())
BOUNDARY_CHARS = string.ascii_letters + string.digits + "'()+_,-./:=? "
HEADER_VALUE = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=300)


def _wav(seconds: float, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    soundfile.write(buffer, (0.3 * np.sin(2 * np.pi * 220 * t)).astype("f4"), rate,
                    format="WAV", subtype="PCM_16")
    return buffer.getvalue()


WAVS = [_wav(0.3), _wav(0.05, 8000), _wav(0.2, 44100)]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    train_dir = write_train_dir(tmp_path_factory.mktemp("fuzz") / "train")
    config = ServiceConfig(model=train_dir, token=TOKEN, max_upload_mb=1.0, max_seconds=5.0,
                           window_seconds=0.4, hop_seconds=0.2)
    with TestClient(create_app(config, Predictor(train_dir)),
                    headers={"Authorization": f"Bearer {TOKEN}"}) as test_client:
        yield test_client


def _check(client: TestClient, response) -> None:
    """Never a 5xx; an error is JSON with a reason; the app still answers."""
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert body["error"] and isinstance(body["detail"], str), body
    assert client.get("/healthz").json() == {"status": "ok"}


@st.composite
def parts(draw) -> bytes:
    """One form part: a name, maybe a filename, maybe odd headers, and audio or bytes."""
    name = draw(st.sampled_from(["file", "file", "transcript", "other", ""]) | st.text(max_size=8))
    filename = draw(st.none() | st.sampled_from(["a.wav", "b.m4a", "", "..", "x\"y"])
                    | st.text(max_size=12))
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    lines = [f"Content-Disposition: {disposition}"]
    if draw(st.booleans()):
        lines.append(f"Content-Type: {draw(st.sampled_from(['audio/wav', 'text/plain', '']))}")
    if draw(st.integers(0, 5)) == 0:
        lines.append(f"X-{draw(st.text(string.ascii_letters, min_size=1, max_size=5))}: "
                     + "v" * draw(st.integers(0, 6000)))
    if draw(st.integers(0, 6)) == 0:
        lines = [draw(st.text(max_size=40))]  # not a header at all
    data = draw(st.sampled_from(WAVS) | st.binary(max_size=400)
                | st.text(max_size=200).map(str.encode))
    if draw(st.integers(0, 4)) == 0:
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=20))
    return ("\r\n".join(lines)).encode("utf-8", errors="replace") + b"\r\n\r\n" + data


@st.composite
def bodies(draw) -> tuple[str, bytes]:
    """(content type, body): multipart bodies with odd boundaries, parts and damage."""
    boundary = draw(st.sampled_from(["B", "x" * 70, "x" * 71, "y" * 300, ""])
                    | st.text(BOUNDARY_CHARS, min_size=1, max_size=80))
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n"
                    for part in draw(st.lists(parts(), max_size=5)))
    if draw(st.booleans()):
        body += b"--" + boundary.encode() + b"--\r\n"
    if draw(st.integers(0, 3)) == 0:
        body = body[:draw(st.integers(0, len(body)))]
    if draw(st.integers(0, 5)) == 0:
        spot = draw(st.integers(0, len(body)))
        body = body[:spot] + draw(st.binary(max_size=30)) + body[spot:]
    kind = draw(st.sampled_from([f"multipart/form-data; boundary={boundary}",
                                 f'multipart/form-data; boundary="{boundary}"',
                                 "multipart/form-data", "multipart/mixed; boundary=B",
                                 "audio/wav", ""]) | HEADER_VALUE)
    return kind, body


@PER_PROPERTY
@given(case=bodies())
def test_any_multipart_body_gets_a_4xx_or_a_result(client, case):
    kind, body = case
    _check(client, client.post("/v1/predict", content=body, headers={"content-type": kind}))


HEADER_NAME = st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=20)


@PER_PROPERTY
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
       path=st.sampled_from(["/", "/healthz", "/v1/model", "/v1/predict", "/v1/stream", "/x"]),
       query=st.dictionaries(st.sampled_from(["token", "sample_rate", "x"]), HEADER_VALUE,
                             max_size=3),
       headers=st.dictionaries(st.sampled_from(["authorization", "content-type",
                                                "content-length", "transfer-encoding",
                                                "accept", "cookie", "x-forwarded-for"])
                               | HEADER_NAME, HEADER_VALUE, max_size=6),
       body=st.none() | st.sampled_from(WAVS) | st.binary(max_size=300))
def test_any_headers_and_query_get_a_4xx_or_a_result(client, method, path, query, headers,
                                                     body):
    headers = {k: v.strip() for k, v in headers.items()
               if k.lower() not in ("content-length", "transfer-encoding", "host")}
    response = client.request(method, path, params=query, headers=headers, content=body)
    _check(client, response)


MESSAGES = st.one_of(
    st.binary(max_size=4000),
    st.sampled_from(WAVS[:1]).map(lambda w: w[44:44 + 6400]),  # PCM of a tone
    st.just('{"type": "end"}'),
    st.text(max_size=60),
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5),
                    max_size=3).map(json.dumps),
)


@PER_PROPERTY
@given(rate=st.none() | st.sampled_from(["8000", "16000", "44100", "1", "0", "-5", "abc",
                                         "99999999999999999999"]) | st.text(max_size=8),
       token=st.sampled_from([TOKEN, TOKEN, "", "wrong"]),
       messages=st.lists(MESSAGES, max_size=6))
def test_any_websocket_messages_get_json_answers(client, rate, token, messages):
    from urllib.parse import urlencode

    query = urlencode({"token": token} | ({} if rate is None else {"sample_rate": rate}))
    with client.websocket_connect(f"/v1/stream?{query}") as ws:
        first = ws.receive_json()
        assert first["type"] in ("ready", "error")
        if first["type"] == "error":
            assert first["error"] and first["detail"]
            return
        try:
            for message in messages:
                if isinstance(message, bytes):
                    ws.send_bytes(message)
                else:
                    ws.send_text(message)
                answer = ws.receive_json()
                assert answer["type"] in ("windows", "frames", "error"), answer
                if answer["type"] == "error":
                    assert answer["error"] and answer["detail"]
                    return
                if message == '{"type": "end"}':
                    assert ws.receive_json()["type"] == "summary"
                    return
        except WebSocketDisconnect:
            return
    assert client.get("/healthz").json() == {"status": "ok"}
