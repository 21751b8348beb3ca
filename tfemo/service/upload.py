"""multipart/form-data bodies read into memory within limits (no spooling to disk).

Starlette's own form parser rolls large files over to temporary files; this one streams the
body through python-multipart's parser, keeps every part in memory and stops as soon as a
limit is passed: the body's size (413), its deadline (408), the number of parts and of file
parts (413), the size of a text field (413); python-multipart itself caps a part's headers
(8 lines of 4 kB). Every failure of the parser, on any input, is a 400 with a reason: none
escapes as a 500.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from tfemo.service.errors import ApiError

FILE_FIELD, TEXT_FIELD = "file", "transcript"
MAX_BOUNDARY = 70  # RFC 2046: a boundary has 1 to 70 characters
MAX_PARTS = 64  # parts of any kind per body


@dataclass
class Part:
    """One form part: its field name, its file name (for files) and its bytes."""

    name: str
    filename: str | None
    data: bytearray = field(default_factory=bytearray)


@dataclass(frozen=True)
class FormLimits:
    """What one body may hold and how long it may take to arrive."""

    max_bytes: int
    max_files: int = 8
    max_text_bytes: int = 80_000  # one transcript field
    deadline: float = 60.0  # seconds for the whole body
    idle: float = 10.0  # seconds without a byte


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "upload too large",
                    f"the body passes --max_upload_mb ({limit / 1024 / 1024:g} MB)")


def _malformed(detail: str) -> ApiError:
    return ApiError(400, "malformed form", detail[:200])


def _boundary(request: Request) -> bytes:
    """The body's multipart boundary; ApiError 400 unless it is a form with a sane one."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise ApiError(400, "not a form upload",
                       "send multipart/form-data with one or more 'file' parts")
    boundary = options[b"boundary"]
    if not 1 <= len(boundary) <= MAX_BOUNDARY:
        raise _malformed(f"a boundary of {len(boundary)} characters; RFC 2046 allows 1 to "
                         f"{MAX_BOUNDARY}")
    return boundary


class _Collector:
    """python-multipart's callbacks: the parts, within the limits."""

    def __init__(self, limits: FormLimits) -> None:
        self.limits = limits
        self.parts: list[Part] = []
        self.headers: dict[bytes, bytes] = {}
        self.field, self.value = bytearray(), bytearray()

    def callbacks(self) -> dict:
        return {"on_part_begin": self.on_part_begin, "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished,
                "on_part_data": self.on_part_data}

    def on_part_begin(self) -> None:
        self.headers.clear()
        if len(self.parts) >= MAX_PARTS:
            raise ApiError(413, "too many parts", f"more than {MAX_PARTS} form parts")

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[bytes(self.field).lower()] = bytes(self.value)
        self.field, self.value = bytearray(), bytearray()

    def on_headers_finished(self) -> None:
        kind, disposition = parse_options_header(self.headers.get(b"content-disposition", b""))
        if kind != b"form-data" or b"name" not in disposition:
            raise _malformed("a part without 'Content-Disposition: form-data; name=...'")
        name = disposition[b"name"].decode(errors="replace")
        filename = disposition.get(b"filename")
        if name not in (FILE_FIELD, TEXT_FIELD):
            raise ApiError(400, "unknown form field",
                           f"{name[:60]!r}: send audio as 'file' parts and words as "
                           "'transcript' fields")
        if name == TEXT_FIELD and filename is not None:
            raise ApiError(400, "unknown form field",
                           "a 'transcript' field is text, not a file (it has a filename)")
        if name == FILE_FIELD:
            if filename is None:
                raise ApiError(400, "malformed form", "a 'file' part needs a filename")
            if sum(p.filename is not None for p in self.parts) >= self.limits.max_files:
                raise ApiError(413, "too many files",
                               f"at most {self.limits.max_files} files per request "
                               "(--max_files)")
        self.parts.append(Part(name, None if filename is None
                               else filename.decode(errors="replace")))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.parts[-1]
        part.data += data[start:end]
        if part.filename is None and len(part.data) > self.limits.max_text_bytes:
            raise ApiError(413, "transcript too long",
                           f"a transcript field of more than {self.limits.max_text_bytes} "
                           "bytes")


async def _chunks(request: Request, limits: FormLimits):
    """The body's chunks; ApiError 408 when it stalls for `idle` s or passes its deadline."""
    start = time.monotonic()
    stream = request.stream().__aiter__()
    while True:
        left = limits.deadline - (time.monotonic() - start)
        wait = min(left, limits.idle)
        try:
            if wait <= 0:
                raise TimeoutError
            async with asyncio.timeout(wait):
                chunk = await anext(stream)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ApiError(408, "request timeout",
                           f"the body did not arrive within {limits.deadline:.0f} s, or "
                           f"stalled for {limits.idle:g} s") from None
        except ClientDisconnect:
            raise ApiError(400, "client disconnected", "the body was cut short") from None
        yield chunk


async def read_form(request: Request, limits: FormLimits) -> list[Part]:
    """Every part of a multipart body, in order; ApiError 400, 408 or 413 for a bad body."""
    boundary = _boundary(request)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_bytes:
        raise _too_large(limits.max_bytes)
    collector = _Collector(limits)
    received = 0
    try:
        parser = MultipartParser(boundary, collector.callbacks())
        async for chunk in _chunks(request, limits):
            received += len(chunk)
            if received > limits.max_bytes:
                raise _too_large(limits.max_bytes)
            parser.write(chunk)
        parser.finalize()
    except ApiError:
        raise
    except Exception as error:  # noqa: BLE001 - any parser failure means a malformed body
        raise _malformed(f"{type(error).__name__}: {error}") from None
    if collector.parts and collector.field:  # a part cut off inside its headers
        raise _malformed("the body ends inside a part's headers")
    return collector.parts
