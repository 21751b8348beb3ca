"""The FastAPI app: `create_app(config)` serves one export of tfemo.export.

Endpoints: GET /healthz; GET /v1/model (the export's metadata); POST /v1/predict (multipart:
one or more `file` parts and optional `transcript` fields, one for all files or one per file in
order; `?segments=vad|window:SECONDS` adds one result per speech segment or window, see
tfemo.service.segments); WS /v1/stream (16-bit PCM in, at 16 kHz or the `sample_rate` the
URL declares; predictions out; see tfemo.service.streaming; `?segments=vad` also answers each
utterance once the VAD finds its end); GET / (the page). The model is loaded once, in
the lifespan, and warmed up; predictions run in worker threads so the event loop keeps
answering. Bad input gets a 4xx `{"error", "detail"}`.

Every request's work is bounded before it is spent (docs/serving.md): the body's size and
deadline, the files per request, each file's sample rate and length (from its header, before
decoding), its transcript (characters, longest word, words per second of audio) and the time
its alignment may take; at most `concurrency` files are worked on at once, and a request whose
client has gone stops before its next step.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import asynccontextmanager
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from tfemo.audio import SAMPLE_RATE
from tfemo.audio.io import check_sample_rate
from tfemo.core.errors import InputError
from tfemo.inference.predictor import Predictor
from tfemo.inference.segments import predict_segments
from tfemo.service.audio import decode_audio, pcm16_samples
from tfemo.service.auth import check_token
from tfemo.service.batching import ChunkBatcher
from tfemo.service.config import ServiceConfig
from tfemo.service.errors import ApiError, from_input_error
from tfemo.service.logs import install_redaction
from tfemo.service.results import file_result
from tfemo.service.segments import UtteranceTracker, segment_mode, segmented_result
from tfemo.service.streaming import StreamSession, stream_mode
from tfemo.service.upload import FILE_FIELD, TEXT_FIELD, FormLimits, read_form
from tfemo.service.utterance import open_session
from tfemo.text.timed_alignment import start_aligner

LOG = logging.getLogger("tfemo.service")
WARMUP_SECONDS = 1.0
# WebSocket close codes (RFC 6455 and the registry): unsupported data, invalid payload,
# policy violation (auth), message too big.
CLOSE_CODES = {400: 1003, 401: 1008, 408: 1008, 413: 1009}


def load_predictor(config: ServiceConfig) -> Predictor:
    """The Predictor over the export, run once on a second of quiet noise (warm-up)."""
    from tfemo.audio import FRAME_SECONDS, SAMPLE_RATE

    predictor = Predictor(config.model, chunk_frames=max(1, round(config.chunk_seconds
                                                                  / FRAME_SECONDS)),
                          alignment=config.alignment, language=config.language,
                          alignment_seconds=config.budget.alignment_seconds)
    noise = np.random.default_rng(0).normal(scale=0.01, size=int(SAMPLE_RATE * WARMUP_SECONDS))
    if predictor.reads_words:
        # the graph only: word vectors (and their table) load on the first real request
        spec = predictor.input_signature()  # [B, T (or W), ...]: one row of 25
        predictor.forward({key: np.zeros((1, 25, *[int(d) for d in value.shape[2:]]),
                                         value.dtype.as_numpy_dtype)
                           for key, value in spec.items()} | {"mask": np.ones((1, 25), bool)})
        if config.alignment == "aeneas":  # the aligners' forkserver, with aeneas imported
            start_aligner()
    else:
        predictor.predict_audio(noise.astype(np.float32), "warm-up")
        try:  # and the stream's path (serve_chunk or the window), so no stream pays for it
            session = open_session(predictor, WARMUP_SECONDS * 2, WARMUP_SECONDS / 2, 0.2)
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
             if p.name == TEXT_FIELD]
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
        install_redaction()
        app.state.busy = asyncio.Semaphore(config.concurrency)
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

    @app.exception_handler(_ClientGoneError)
    async def client_gone(request: Request, error: _ClientGoneError) -> JSONResponse:
        return JSONResponse({"error": "client disconnected", "detail": "work stopped"},
                            status_code=400)  # nobody reads it

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
        budget = config.work_budget
        limits = {"max_seconds": config.max_seconds, "max_upload_mb": config.max_upload_mb,
                  "max_files": config.max_files,
                  "max_transcript_chars": budget.max_transcript_chars,
                  "max_words_per_second": budget.max_words_per_second,
                  "max_word_chars": budget.max_word_chars,
                  "alignment_seconds": budget.alignment_seconds,
                  "idle_seconds": config.idle_seconds}
        if predictor.categorical:
            stream.update(window_seconds=config.window_seconds, hop_seconds=config.hop_seconds)
        return {"task": predictor.description.task, "labels": list(predictor.label_names),
                "needs_transcript": predictor.needs_transcripts,
                "reads_words": predictor.reads_words, "stream": stream,
                "limits": limits, "metadata": meta}

    @app.post("/v1/predict")
    async def predict(request: Request) -> dict[str, Any]:
        authorise(request.headers, request.query_params)
        predictor: Predictor = request.app.state.predictor
        budget = config.work_budget
        declared = request.headers.get("content-length", "")
        limits = FormLimits(config.max_upload_bytes, config.max_files,
                            max_text_bytes=4 * budget.max_transcript_chars,
                            deadline=config.body_deadline(int(declared) if declared.isdigit()
                                                          else None),
                            idle=config.body_seconds)
        parts = await read_form(request, limits)
        files = [p for p in parts if p.name == FILE_FIELD]
        if not files:
            raise ApiError(400, "no audio file", "send one or more 'file' parts")
        mode = segment_mode(request.query_params.get("segments"), predictor)
        transcripts = _transcripts(parts, len(files), predictor.needs_transcripts)
        names = [part.filename or "upload" for part in files]
        with _Refused():
            for name, transcript in zip(names, transcripts, strict=True):
                budget.check_text(transcript, name)  # before decoding anything
        results = []
        for part, name, transcript in zip(files, names, transcripts, strict=True):
            async with request.app.state.busy:
                result = await _predict_one(request, predictor, bytes(part.data), name,
                                            transcript, mode)
            results.append(segmented_result(result, predictor) if mode else
                           file_result(result, predictor.label_names, predictor.categorical,
                                       predictor.description.frame_seconds))
        return {"task": predictor.description.task, "results": results}

    async def _predict_one(request: Request, predictor: Predictor, data: bytes, name: str,
                           transcript: str, mode=None):
        """Decode, check, featurise (align) and run one file; stop when the client has gone."""
        await _client_present(request)
        audio = await run_in_threadpool(decode_audio, data, name, config.max_seconds)
        with _Refused():
            if transcript:
                config.work_budget.check_transcript(transcript, audio.size / SAMPLE_RATE, name)
            await _client_present(request)
            if mode is not None:  # the segments of tfemo.predict --segments
                return await run_in_threadpool(predict_segments, predictor, name, mode, audio)
            inputs = await run_in_threadpool(predictor.inputs_from_audio, audio, name,
                                             transcript)
            await _client_present(request)
            return await run_in_threadpool(predictor.run, Path(name), inputs)

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
            session = open_session(websocket.app.state.predictor, config.max_seconds,
                                   config.window_seconds, config.hop_seconds,
                                   websocket.app.state.batcher,
                                   _stream_rate(websocket.query_params.get("sample_rate")))
            tracker = _utterance_tracker(websocket, session)
            await websocket.send_json(session.hello())
            while True:
                try:
                    async with asyncio.timeout(config.idle_seconds):
                        message = await websocket.receive()
                except TimeoutError:
                    raise ApiError(408, "stream idle",
                                   f"no message for {config.idle_seconds:g} s "
                                   "(--idle_seconds)") from None
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    samples = pcm16_samples(message["bytes"])
                    answer = await run_in_threadpool(session.feed, samples)
                    if tracker is not None:  # the utterances this chunk ends
                        answer["utterances"] = await run_in_threadpool(tracker.feed, samples)
                    await websocket.send_json(answer)
                    continue
                control = _control(message.get("text"))
                if control == "end":
                    last, total = await run_in_threadpool(session.finish)
                    if tracker is not None:
                        last["utterances"] = await run_in_threadpool(tracker.finish)
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


def _utterance_tracker(websocket: WebSocket, session: StreamSession) -> UtteranceTracker | None:
    """A VAD over the stream when the URL asks `?segments=vad` (ApiError for other values)."""
    mode = segment_mode(websocket.query_params.get("segments"), session.predictor)
    if mode is None:
        return None
    if mode.kind != "vad":
        raise ApiError(400, "bad segments", "a stream's segments are its utterances: "
                                            "segments=vad")
    return UtteranceTracker(session.predictor, session.input_rate)


class _ClientGoneError(Exception):
    """The client of a request has disconnected: its remaining work is dropped."""


async def _client_present(request: Request) -> None:
    """Raise _ClientGoneError when the client has disconnected."""
    if await request.is_disconnected():
        LOG.warning("%s %s: the client has gone; work stopped", request.method, request.url.path)
        raise _ClientGoneError


class _Refused:
    """Turn an InputError of the library (budget, features, alignment) into an ApiError."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if isinstance(error, InputError):
            raise from_input_error(error) from None
        return False


def _stream_rate(value: str | None) -> int:
    """The sample rate a stream declares (`?sample_rate=8000`), 16 kHz by default."""
    if value is None:
        return SAMPLE_RATE
    try:
        rate = int(value)
        check_sample_rate(rate, "sample_rate")
    except ValueError:
        raise ApiError(400, "bad sample rate", f"{value[:20]!r} is not a whole number of Hz") \
            from None
    except InputError as error:
        raise ApiError(400, "bad sample rate", error.detail) from None
    return rate


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
