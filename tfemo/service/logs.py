"""Keep the bearer token out of the logs: uvicorn writes every request's path with its query
string (`?token=...`, the browser's way to authenticate), for HTTP and WebSocket alike."""

from __future__ import annotations

import logging
import re

_SECRET = re.compile(r"((?:^|[?&;])token=)[^&;\s\"]*", re.IGNORECASE)
REDACTED = "REDACTED"
# uvicorn logs HTTP requests on uvicorn.access and WebSocket handshakes on uvicorn.error
LOGGERS = ("uvicorn.access", "uvicorn.error", "tfemo.service")


def redact(text: str) -> str:
    """`text` with the value of every `token=` query parameter replaced."""
    return _SECRET.sub(rf"\g<1>{REDACTED}", text)


class RedactToken(logging.Filter):
    """Rewrites a record's message and string arguments through `redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v
                           for k, v in record.args.items()}
        return True


def install_redaction() -> None:
    """Add RedactToken to uvicorn's loggers (once)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactToken) for f in logger.filters):
            logger.addFilter(RedactToken())
