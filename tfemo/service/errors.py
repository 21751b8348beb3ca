"""Client errors as `{"error": ..., "detail": ...}` with a 4xx status (never a 500)."""

from __future__ import annotations

from typing import Any

from tfemo.audio.io import TOO_LONG
from tfemo.core.errors import InputError

# InputError reasons that are not a plain 400
_STATUS = {TOO_LONG: 413, "corrupt audio": 415}
_NAMES = {"corrupt audio": "unsupported audio"}


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


def from_input_error(error: InputError) -> ApiError:
    """The answer to an upload the library refused: 413 too long, 415 undecodable, else 400."""
    detail = f"{error.path}: {error.detail}" if error.detail else error.path
    return ApiError(_STATUS.get(error.reason, 400), _NAMES.get(error.reason, error.reason),
                    detail)
