"""Client errors as `{"error": ..., "detail": ...}` with a 4xx status (never a 500)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A request the service refuses: HTTP status, a short error name and what exactly is wrong."""

    def __init__(self, status: int, error: str, detail: str = "") -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail

    def body(self) -> dict[str, Any]:
        """The JSON body of the response (or of a WebSocket error message)."""
        return {"error": self.error, "detail": self.detail}
