"""Predictions as JSON: class probabilities and the top class, or per-frame traces and means."""

from __future__ import annotations

from typing import Any

import numpy as np

from tfemo.inference.predictor import FileResult, quadrant


def summary(label_names: tuple[str, ...], categorical: bool, probabilities=None,
            trace=None) -> dict[str, Any]:
    """`probabilities` + `top` (a classifier) or `means` (+ `quadrant` for arousal/valence)."""
    if categorical:
        values = [float(p) for p in probabilities]
        return {"probabilities": dict(zip(label_names, values, strict=True)),
                "top": label_names[int(np.argmax(values))]}
    means = [float(m) for m in np.asarray(trace).mean(axis=0)]
    out: dict[str, Any] = {"means": dict(zip(label_names, means, strict=True))}
    if {"arousal", "valence"} <= set(label_names):
        out["quadrant"] = quadrant(out["means"]["arousal"], out["means"]["valence"])
    return out


def file_result(result: FileResult, label_names: tuple[str, ...], categorical: bool,
                frame_seconds: float) -> dict[str, Any]:
    """One file's response: seconds, frames, chunks, the summary and (regressors) the trace."""
    out: dict[str, Any] = {"name": result.path.name, "seconds": round(result.seconds, 3),
                           "frames": result.frames, "chunks": result.chunks}
    out.update(summary(label_names, categorical, result.probabilities, result.trace))
    if result.said is not None:  # the words the model read: given, or recognised
        out["transcript"] = result.said.as_json()
    if not categorical:
        out["frame_seconds"] = frame_seconds
        out["trace"] = {name: [float(v) for v in result.trace[:, index]]
                        for index, name in enumerate(label_names)}
    return out
