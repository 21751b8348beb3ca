"""One batched `serve_chunk` call for the chunks of every stream waiting at that moment.

Each stream's chunk is a few frames; a model call costs about the same for one row as for
dozens, so a worker thread takes every request queued while the previous call ran, pads them to
the longest (the mask keeps padded frames out of the outputs and the state), runs one call and
hands each stream its rows back. Nothing waits for a batch to fill: alone, a stream is served
at once.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

import numpy as np

from tfemo.training.exported import ExportedModel

_STOP = object()


class ChunkBatcher:
    """A thread that runs `serve_chunk` on batches of the requests of concurrent streams."""

    def __init__(self, exported: ExportedModel, max_batch: int = 64) -> None:
        self.exported = exported
        self.max_batch = max_batch
        self.inputs = tuple(exported.metadata["signatures"]["serve_chunk"]["inputs"])
        self.requests: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._serve, name="serve_chunk", daemon=True)
        self.thread.start()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """serve_chunk on one stream's batch of one row (blocks until its batch has run)."""
        done: Future = Future()
        self.requests.put((batch, done))
        return done.result()

    def close(self) -> None:
        """Stop the worker thread."""
        self.requests.put(_STOP)
        self.thread.join(timeout=10)

    def _serve(self) -> None:
        while True:
            item = self.requests.get()
            if item is _STOP:
                return
            items = [item]
            while len(items) < self.max_batch:
                try:
                    item = self.requests.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self.requests.put(_STOP)
                    break
                items.append(item)
            try:
                outputs = self._run([batch for batch, _ in items])
            except Exception as error:  # noqa: BLE001 - every waiting stream gets the error
                for _, done in items:
                    done.set_exception(error)
                continue
            for (_, done), output in zip(items, outputs, strict=True):
                done.set_result(output)

    def _run(self, batches: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
        """Pad the rows to the longest, run once, split the outputs back per stream."""
        if len(batches) == 1:
            return [self.exported.serve_chunk(batches[0])]
        lengths = [b["mask"].shape[1] for b in batches]
        steps = max(lengths)
        joined = {}
        for name in self.inputs:
            parts = [b[name] for b in batches]
            if name == "mask" or parts[0].ndim == 3:  # [1, T, ...]: pad T; states are [1, H]
                parts = [np.pad(p, [(0, 0), (0, steps - p.shape[1])] + [(0, 0)] * (p.ndim - 2))
                         for p in parts]
            joined[name] = np.concatenate(parts, axis=0)
        out = self.exported.serve_chunk(joined)
        results = []
        for row, length in enumerate(lengths):
            results.append({k: (v[row:row + 1, :length] if k == "predictions" else
                                v[row:row + 1]) for k, v in out.items()})
        return results
