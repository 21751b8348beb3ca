"""Errors tfemo raises for bad input: each names the file and says what is wrong."""

from __future__ import annotations

from pathlib import Path


class TfemoError(Exception):
    """Base class of tfemo's own errors."""


class UserError(TfemoError):
    """A user's mistake, said as `<what is wrong> (<how to fix it>)`."""

    def __init__(self, what: str, fix: str = "") -> None:
        self.what = what
        self.fix = fix
        super().__init__(f"{what} ({fix})" if fix else what)

    def __reduce__(self):
        return (type(self), (self.what, self.fix))


class InputError(TfemoError):
    """A corpus file is missing, corrupt or inconsistent.

    `reason` is a short category used to count skips in summaries ("missing audio",
    "corrupt audio", "empty transcript", "alignment failed", "labels too short", ...);
    `detail` says what exactly is wrong.
    """

    def __init__(self, path: str | Path, reason: str, detail: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        message = f"{self.path}: {reason}"
        if detail:
            message += f" ({detail})"
        super().__init__(message)

    def __reduce__(self):  # keep the fields across process boundaries
        return (type(self), (self.path, self.reason, self.detail))


class CheckpointNotFoundError(TfemoError, FileNotFoundError):
    """A train dir has no checkpoint, or none at the step asked for."""


class StorageError(TfemoError):
    """A file on a URL filesystem (gs://, ...) cannot be read or written: credentials, bucket."""


class SchemaError(TfemoError):
    """Records or a dataset description do not match what this version of tfemo reads."""
