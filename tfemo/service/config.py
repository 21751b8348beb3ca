"""What one service runs and its limits (set by `python -m tfemo.serve`'s flags)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from tfemo.inference.budget import WorkBudget


@dataclass(frozen=True)
class ServiceConfig:
    """The export to serve, the request limits, the optional token and the stream windows."""

    model: Path
    max_seconds: float = 600.0
    max_upload_mb: float = 50.0
    token: str | None = None
    chunk_seconds: float = 60.0  # long files are run in chunks, as tfemo.predict runs them
    alignment: str = "aeneas"
    language: str = "eng"  # of the audio: the recogniser knows English only
    window_seconds: float = 2.0  # classifiers answer a stream on this sliding window ...
    hop_seconds: float = 0.4  # ... moved on by this much (both whole 40 ms frames)
    max_files: int = 8  # file parts per request
    body_seconds: float = 10.0  # a body must arrive within this ...
    body_rate_kb: float = 64.0  # ... plus 1 s per this many kB it declares (408 after)
    idle_seconds: float = 30.0  # a stream with no message for this long is closed
    concurrency: int = 2  # files decoded, featurised and run at once (others wait their turn)
    # transcripts and alignment; its max_seconds is the field above
    budget: WorkBudget = field(default_factory=WorkBudget)

    @property
    def max_upload_bytes(self) -> int:
        """--max_upload_mb in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def work_budget(self) -> WorkBudget:
        """The per-file budget, with this service's --max_seconds."""
        return replace(self.budget, max_seconds=self.max_seconds)

    def body_deadline(self, declared_bytes: int | None) -> float:
        """Seconds a body of `declared_bytes` (None: undeclared, the upload limit) may take."""
        size = self.max_upload_bytes if declared_bytes is None else declared_bytes
        return self.body_seconds + size / (self.body_rate_kb * 1024)
