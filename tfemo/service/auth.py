"""Bearer-token check for every endpoint but /healthz (constant-time comparison)."""

from __future__ import annotations

import hmac
from pathlib import Path

from tfemo.core.errors import TfemoError
from tfemo.service.errors import ApiError


def read_token(path: Path) -> str:
    """The token in a file (surrounding whitespace dropped); an error for an empty file."""
    try:
        token = Path(path).read_text().strip()
    except OSError as error:
        raise TfemoError(f"{path}: cannot read the token file: {error.strerror}") from None
    if not token:
        raise TfemoError(f"{path}: the token file is empty")
    return token


def check_token(expected: str | None, authorization: str | None,
                query_token: str | None = None) -> None:
    """Pass when no token is configured or the request carries it; else ApiError 401.

    The token comes as `Authorization: Bearer <token>` or, for browsers (which cannot set
    headers on a page load or a WebSocket), as the `token` query parameter.
    """
    if expected is None:
        return
    given = ""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    if scheme.lower() == "bearer":  # RFC 7235: the scheme is case-insensitive
        given = credentials.strip()
    elif query_token:
        given = query_token
    if not given:
        raise ApiError(401, "missing token", "send 'Authorization: Bearer <token>'")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "wrong token", "the bearer token does not match")
