"""What one service runs and its limits (set by `python -m tfemo.serve`'s flags)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServiceConfig:
    """The export to serve, the request limits, the optional token and the stream windows."""

    model: Path
    max_seconds: float = 600.0
    max_upload_mb: float = 50.0
    token: str | None = None
    chunk_seconds: float = 60.0  # long files are run in chunks, as tfemo.predict runs them
    alignment: str = "aeneas"
    window_seconds: float = 2.0  # classifiers answer a stream on this sliding window ...
    hop_seconds: float = 0.4  # ... moved on by this much (both whole 40 ms frames)

    @property
    def max_upload_bytes(self) -> int:
        """--max_upload_mb in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)
