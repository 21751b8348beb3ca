"""An export of tfemo.export, loaded: its SavedModel endpoints and the tfemo.json beside them.

The layout (`NAME/1/` the SavedModel, `NAME/tfemo.json` its metadata) is named here, beside the
loader, so the writer (tfemo.inference.export) and every reader (the Predictor, the service)
share one definition. The archive loads with `tf.saved_model.load` alone: `ExportedModel` is
the thin loader tfemo uses, numpy in and numpy out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfemo.core.errors import TfemoError

METADATA_FILE = "tfemo.json"
VERSION_DIR = "1"
FORMAT_VERSION = 1


def is_export(path: str | Path) -> bool:
    """Whether `path` is an export of tfemo.export (it holds tfemo.json)."""
    return (Path(path) / METADATA_FILE).is_file()


@dataclass
class ExportedModel:
    """A loaded export: its metadata and its endpoints (numpy in, numpy out)."""

    path: Path
    metadata: dict[str, Any]
    saved_model: Any

    @classmethod
    def load(cls, path: str | Path) -> ExportedModel:
        """tf.saved_model.load of `path/1` and the JSON beside it."""
        import tensorflow as tf

        path = Path(path)
        if not is_export(path):
            raise TfemoError(f"{path}: no {METADATA_FILE}; not an export of tfemo.export")
        metadata = json.loads((path / METADATA_FILE).read_text())
        if metadata.get("format_version") != FORMAT_VERSION:
            raise TfemoError(f"{path / METADATA_FILE}: format_version "
                             f"{metadata.get('format_version')}, this tfemo reads {FORMAT_VERSION}")
        return cls(path, metadata, tf.saved_model.load(str(path / metadata["saved_model"])))

    @property
    def streams(self) -> bool:
        """Whether the export has a `serve_chunk` endpoint."""
        return "serve_chunk" in self.metadata["signatures"]

    def _call(self, endpoint: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        spec = self.metadata["signatures"][endpoint]["inputs"]
        batch = {name: np.asarray(inputs[name], dtype=spec[name]["dtype"]) for name in spec}
        return {k: v.numpy() for k, v in getattr(self.saved_model, endpoint)(batch).items()}

    def serve(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The `serve` endpoint on a batch dict (the model's keys and `mask`)."""
        return self._call("serve", inputs)

    def serve_chunk(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The `serve_chunk` endpoint: the batch dict plus the state, outputs plus new state."""
        return self._call("serve_chunk", inputs)

    def initial_state(self, batch: int = 1) -> dict[str, np.ndarray]:
        """Zero recurrent state for `batch` streams."""
        inputs = self.metadata["signatures"]["serve_chunk"]["inputs"]
        return {name: np.zeros((batch, spec["shape"][1]), np.float32)
                for name, spec in inputs.items() if name not in self.metadata["model"]
                ["input_keys"] and name != "mask"}
