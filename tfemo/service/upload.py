"""multipart/form-data bodies read into memory with a byte limit (no spooling to disk).

Starlette's own form parser rolls large files over to temporary files; this one streams the
body through python-multipart's parser, keeps every part in memory and stops with 413 as soon
as the body passes the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from tfemo.service.errors import ApiError


@dataclass
class Part:
    """One form part: its field name, its file name (for files) and its bytes."""

    name: str
    filename: str | None
    data: bytearray = field(default_factory=bytearray)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "upload too large",
                    f"the body passes --max_upload_mb ({limit / 1024 / 1024:g} MB)")


async def read_form(request: Request, limit: int) -> list[Part]:
    """Every part of a multipart body, in order; ApiError 400 or 413 for a bad or large body."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise ApiError(400, "not a form upload",
                       "send multipart/form-data with one or more 'file' parts")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    parts: list[Part] = []
    header: dict[str, bytearray] = {"field": bytearray(), "value": bytearray()}
    headers: dict[bytes, bytes] = {}

    def on_part_begin() -> None:
        headers.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def on_header_end() -> None:
        headers[bytes(header["field"]).lower()] = bytes(header["value"])
        header["field"], header["value"] = bytearray(), bytearray()

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        filename = disposition.get(b"filename")
        parts.append(Part(disposition.get(b"name", b"").decode(errors="replace"),
                          None if filename is None else filename.decode(errors="replace")))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1].data += data[start:end]

    parser = MultipartParser(options[b"boundary"], {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data})
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise _too_large(limit)
            parser.write(chunk)
        parser.finalize()
    except FormParserError as error:
        raise ApiError(400, "malformed form", str(error)[:200]) from None
    return parts
