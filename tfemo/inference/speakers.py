"""Label a speaker's files together: a model that z-scores utterance vectors per speaker (an
estimator with `utterance_norm speaker`, the default recipe) gets that speaker's own statistics.

tfemo.eval scores a portion this way: each speaker's vectors are standardised with the mean and
std of all that speaker's files. A file predicted alone has no speaker, so it gets the training
speakers' pooled mean and average within-speaker std. When a CSV list gives a `speaker` column,
tfemo.predict reads every file of a speaker once, up front, to measure those statistics (the
vectors of every chunk, as prediction reads them). It then labels each file with them.

A speaker with fewer than MIN_SPEAKER_FILES chunks keeps the fallback, as in eval. Features the
model standardises per file (`--normalise speaker`) stay per file: only the utterance vectors
are pooled. benchmarks/classify.py prints both ways ("files alone" against per speaker).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from tfemo.core.errors import InputError
from tfemo.models.estimator import UtteranceEstimator
from tfemo.models.functionals import MIN_SPEAKER_FILES
from tfemo.models.functionals import speaker_statistics as statistics_by_speaker

# one member's statistics of one speaker: (mean, std, floor) in place of the fallback
Statistics = tuple[np.ndarray, np.ndarray, np.ndarray]


def per_speaker_members(predictor: Any) -> list[tuple[Any, UtteranceEstimator]]:
    """(member predictor, estimator) for every model of `predictor` (one Predictor, or the
    folds of an Ensemble) that standardises utterance vectors per speaker."""
    members = getattr(predictor, "members", [predictor])
    return [(m, m.model) for m in members
            if isinstance(getattr(m, "model", None), UtteranceEstimator) and m.model.per_speaker]


def speaker_statistics(predictor: Any, paths: Iterable[Path],
                       strict: bool = True) -> list[Statistics | None]:
    """For each per-speaker model of `predictor`, the statistics of the chunk vectors of
    `paths` (one speaker's files, each read once for every model), or None when they hold
    fewer than MIN_SPEAKER_FILES chunks (the model's fallback is kept). A file that cannot be
    read raises its InputError, or with `strict` False is left out (reported when labelled)."""
    members = per_speaker_members(predictor)
    if not members:
        return []
    reader = members[0][0]
    vectors: list[list[np.ndarray]] = [[] for _ in members]
    for path in paths:
        try:
            file_vectors = [[] for _ in members]
            for chunk in reader.feature_chunks(Path(path)):
                batch = {"features": chunk["features"][None],
                         "mask": np.ones((1, len(chunk["features"])), bool)}
                for k, (_, estimator) in enumerate(members):
                    file_vectors[k].append(estimator.statistics_of(batch)[0])
        except InputError:
            if strict:
                raise
            continue
        for rows, more in zip(vectors, file_vectors, strict=True):
            rows.extend(more)
    out: list[Statistics | None] = []
    for (_, estimator), rows in zip(members, vectors, strict=True):
        if len(rows) < MIN_SPEAKER_FILES:
            out.append(None)
            continue
        floor = estimator.fallback[2]  # the training speakers' floor, as eval applies it
        (mean, std), = statistics_by_speaker(np.asarray(rows), np.zeros(len(rows)),
                                             floor).values()
        out.append((mean, std, floor))
    return out


@contextmanager
def as_speaker(predictor: Any, statistics: list[Statistics | None]) -> Iterator[None]:
    """Within the block, `predictor`'s per-speaker models standardise every file with
    `statistics` (speaker_statistics of that speaker); the fallback comes back afterwards."""
    members = per_speaker_members(predictor)
    saved = [estimator.fallback for _, estimator in members]
    try:
        for (_, estimator), own in zip(members, statistics, strict=False):
            if own is not None:
                estimator.fallback = own
        yield
    finally:
        for (_, estimator), fallback in zip(members, saved, strict=True):
            estimator.fallback = fallback


__all__ = ["as_speaker", "per_speaker_members", "speaker_statistics"]
