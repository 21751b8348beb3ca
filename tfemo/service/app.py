"""The FastAPI app: `create_app(config)` serves one export of tfemo.export.

Endpoints: GET /healthz; GET /v1/model (the export's metadata); POST /v1/predict (multipart:
one or more `file` parts and optional `transcript` fields, one for all files or one per file in
order); WS /v1/stream (16-bit PCM at 16 kHz in, predictions out; see tfemo.service.streaming);
GET / (the page). The model is loaded once, in the lifespan, and warmed up; predictions run in
worker threads so the event loop keeps answering. Bad input gets a 4xx `{"error", "detail"}`.
"""

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from http import HTTPStatus
from importlib import resources
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from tfemo.core.errors import InputError
from tfemo.inference.predictor import Predictor
from tfemo.service.audio import decode_audio, pcm16_samples
from tfemo.service.auth import check_token
from tfemo.service.batching import ChunkBatcher
from tfemo.service.config import ServiceConfig
from tfemo.service.errors import ApiError
from tfemo.service.results import file_result
from tfemo.service.streaming import StreamSession, stream_mode
from tfemo.service.upload import read_form

LOG = logging.getLogger("tfemo.service")
WARMUP_SECONDS = 1.0
# WebSocket close codes (RFC 6455 and the registry): unsupported data, invalid payload,
# policy violation (auth), message too big.
CLOSE_CODES = {400: 1003, 401: 1008, 413: 1009}


def load_predictor(config: ServiceConfig) -> Predictor:
    """The Predictor over the export, run once on a second of quiet noise (warm-up)."""
    from tfemo.audio import FRAME_SECONDS, SAMPLE_RATE

    predictor = Predictor(config.model, chunk_frames=max(1, round(config.chunk_seconds
                                                                  / FRAME_SECONDS)),
                          alignment=config.alignment)
    noise = np.random.default_rng(0).normal(scale=0.01, size=int(SAMPLE_RATE * WARMUP_SECONDS))
    if predictor.needs_transcripts:
        # the graph only: word vectors (and their table) load on the first real request
        inputs = {"audio": np.zeros((1, 25, predictor.description.frame_length), np.float32),
                  "words": np.zeros((1, 25, predictor.description.word_dim), np.float32)}
        predictor.forward({k: v for k, v in inputs.items() if k in predictor.keys}
                          | {"mask": np.ones((1, 25), bool)})
    else:
        predictor.predict_audio(noise.astype(np.float32), "warm-up")
        try:  # and the stream's path (serve_chunk or the window), so no stream pays for it
            session = StreamSession(predictor, WARMUP_SECONDS * 2, WARMUP_SECONDS / 2, 0.2)
        except ApiError:
            return predictor  # the model cannot stream
        session.feed(noise.astype(np.float32))
        session.finish()
    return predictor


def _error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status)


def _transcripts(parts: list, files: int, needs: bool) -> list[str]:
    """One transcript per file: none, one for all, or one per file in order."""
    given = [bytes(p.data).decode("utf-8", errors="replace") for p in parts
             if p.name == "transcript" and p.filename is None]
    if len(given) == 1:
        given = given * files
    if given and len(given) != files:
        raise ApiError(400, "transcripts do not match files",
                       f"{len(given)} transcript fields for {files} files: give one for all "
                       "or one per file")
    if needs and (not given or not all(t.strip() for t in given)):
        raise ApiError(400, "missing transcript",
                       "the model reads words: send a 'transcript' field with each file")
    return given or [""] * files


def create_app(config: ServiceConfig, predictor: Predictor | None = None) -> FastAPI:
    """The service over `config.model` (or over a Predictor already loaded, for tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.predictor = predictor or await run_in_threadpool(load_predictor, config)
        exported = app.state.predictor.exported
        app.state.batcher = ChunkBatcher(exported) if exported and exported.streams else None
        LOG.info("serving %s", config.model)
        yield
        if app.state.batcher is not None:
            app.state.batcher.close()

    app = FastAPI(title="tfemo", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return _error_response(error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": HTTPStatus(error.status_code).phrase.lower(),
                             "detail": f"{request.method} {request.url.path}: {error.detail}"},
                            status_code=error.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "bad request", "detail": str(error.errors())[:300]},
                            status_code=400)

    def authorise(request_headers, query) -> None:
        check_token(config.token, request_headers.get("authorization"), query.get("token"))

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/v1/model")
    async def model_info(request: Request) -> dict[str, Any]:
        authorise(request.headers, request.query_params)
        predictor = request.app.state.predictor
        meta = dict(predictor.exported.metadata) if predictor.exported else {}
        try:
            stream = {"mode": stream_mode(predictor)}
        except ApiError as error:
            stream = {"mode": None, "detail": error.detail}
        limits = {"max_seconds": config.max_seconds, "max_upload_mb": config.max_upload_mb}
        if predictor.categorical:
            stream.update(window_seconds=config.window_seconds, hop_seconds=config.hop_seconds)
        return {"task": predictor.description.task, "labels": list(predictor.label_names),
                "needs_transcript": predictor.needs_transcripts, "stream": stream,
                "limits": limits, "metadata": meta}

    @app.post("/v1/predict")
    async def predict(request: Request) -> dict[str, Any]:
        authorise(request.headers, request.query_params)
        predictor: Predictor = request.app.state.predictor
        parts = await read_form(request, config.max_upload_bytes)
        files = [p for p in parts if p.filename is not None]
        if not files:
            raise ApiError(400, "no audio file", "send one or more 'file' parts")
        transcripts = _transcripts(parts, len(files), predictor.needs_transcripts)
        results = []
        for part, transcript in zip(files, transcripts, strict=True):
            name = part.filename or "upload"
            audio = await run_in_threadpool(decode_audio, bytes(part.data), name,
                                            config.max_seconds)
            try:
                result = await run_in_threadpool(predictor.predict_audio, audio, name,
                                                 transcript)
            except InputError as error:
                raise ApiError(400, error.reason, error.detail or str(error)) from None
            results.append(file_result(result, predictor.label_names, predictor.categorical,
                                       predictor.description.frame_seconds))
        return {"task": predictor.description.task, "results": results}

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request) -> HTMLResponse:
        authorise(request.headers, request.query_params)
        html = resources.files("tfemo.service").joinpath("static/index.html").read_text()
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @app.websocket("/v1/stream")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            authorise(websocket.headers, websocket.query_params)
            session = StreamSession(websocket.app.state.predictor, config.max_seconds,
                                    config.window_seconds, config.hop_seconds,
                                    websocket.app.state.batcher)
            await websocket.send_json(session.hello())
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    samples = pcm16_samples(message["bytes"])
                    await websocket.send_json(await run_in_threadpool(session.feed, samples))
                    continue
                control = _control(message.get("text"))
                if control == "end":
                    last, total = await run_in_threadpool(session.finish)
                    await websocket.send_json(last)
                    await websocket.send_json(total)
                    await websocket.close(1000)
                    return
        except ApiError as error:
            await websocket.send_json({"type": "error", **error.body()})
            await websocket.close(CLOSE_CODES.get(error.status, 1003))
        except WebSocketDisconnect:
            return

    return app


def _control(text: str | None) -> str:
    """The `type` of a JSON control message ({"type": "end"}); ApiError 400 for anything else."""
    try:
        message = json.loads(text or "")
    except ValueError:
        raise ApiError(400, "malformed stream frame",
                       "text frames must be JSON like {\"type\": \"end\"}") from None
    if not isinstance(message, dict) or message.get("type") != "end":
        raise ApiError(400, "malformed stream frame",
                       "the only control message is {\"type\": \"end\"}; audio goes in "
                       "binary frames")
    return "end"
