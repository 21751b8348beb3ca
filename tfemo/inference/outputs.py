"""Prediction results as files: predictions.csv, one trace CSV per file, distribution.png and
(arousal/valence) arousal_valence.png; and the warnings a reader of them should see.

Every row says what it is: `no_speech` (no class or quadrant is given to a file without
speech), `far_from_training` (what lies far outside the training statistics, or empty), and for
a classifier `calibrated` (whether the p_* columns are temperature-calibrated probabilities or
the model's raw softmax).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

COLLAPSE_FILES = 5  # with at least this many files labelled ...
COLLAPSE_SHARE = 0.95  # ... this share of them on one class is a warning


def unique_names(paths: list[Path]) -> list[str]:
    """A distinct file-name stem per path (suffixed -2, -3 ... when two stems collide)."""
    seen: Counter = Counter()
    names = []
    for path in paths:
        seen[path.stem] += 1
        names.append(path.stem if seen[path.stem] == 1 else f"{path.stem}-{seen[path.stem]}")
    return names


def write_outputs(predictor, results: list, output_dir: Path) -> Counter:
    """predictions.csv, distribution.png and (regressors) one trace CSV per file."""
    import numpy as np
    import pandas as pd

    from tfemo.core.reports import (
        arousal_valence_figure,
        distribution_figure,
        write_csv,
        write_figure,
    )
    from tfemo.inference.predictor import quadrant
    from tfemo.labels.traces import frame_centres

    names = predictor.label_names
    rows, points = [], []
    counts: Counter = Counter()
    for result, name in zip(results, unique_names([r.path for r in results]), strict=True):
        row = {"path": str(result.path), "seconds": round(result.seconds, 3),
               "chunks": result.chunks, "no_speech": bool(result.no_speech),
               "far_from_training": result.far_from_training}
        if predictor.categorical:
            # no class is forced on a file without speech: top_class stays empty
            top = "" if result.no_speech else names[int(np.argmax(result.probabilities))]
            row["top_class"] = top
            row["calibrated"] = predictor.temperature is not None
            row.update({f"p_{n}": float(p) for n, p in zip(names, result.probabilities,
                                                              strict=True)})
            counts[top or "no_speech"] += 1
        else:
            means = result.trace.mean(axis=0)
            row.update({f"mean_{n}": float(m) for n, m in zip(names, means, strict=True)})
            if {"arousal", "valence"} <= set(names):
                arousal = float(means[names.index("arousal")])
                valence = float(means[names.index("valence")])
                # no quadrant for a file without speech: silence has no emotion
                row["quadrant"] = "" if result.no_speech else quadrant(arousal, valence)
                counts[row["quadrant"] or "no_speech"] += 1
                if not result.no_speech:
                    points.append((name, arousal, valence))
            trace = pd.DataFrame(result.trace, columns=list(names))
            trace.insert(0, "time", frame_centres(len(result.trace),
                                                  predictor.description.frame_seconds))
            if result.speech is not None:  # --segments: the frames the VAD finds speech in
                trace["speech"] = result.speech.astype(int)
            row["trace"] = str(write_csv(trace, output_dir / "traces" / f"{name}.csv"))
        if result.said is not None:  # the words a model that reads words was given or heard
            row["transcript"] = result.said.text
            row["transcript_source"] = result.said.source
        rows.append(row)
    write_csv(pd.DataFrame(rows), output_dir / "predictions.csv")
    if predictor.categorical:
        counts = Counter({n: counts.get(n, 0) for n in (*names, "no_speech")
                          if n != "no_speech" or counts.get(n)})
    if counts:
        what = "predicted emotion" if predictor.categorical else "arousal-valence quadrant"
        write_figure(distribution_figure(counts, f"{what} of {len(results)} files"),
                     output_dir / "distribution.png")
    if points:
        write_figure(arousal_valence_figure(points, f"mean arousal and valence of {len(points)} "
                                                    "files with speech"),
                     output_dir / "arousal_valence.png")
    return counts


def prediction_warnings(predictor, results: list) -> list[str]:
    """What a reader of the predictions should know: files whose inputs lie far outside the
    training statistics, and a classifier whose labels collapse onto one class."""
    import numpy as np

    warnings = [f"{r.path}: {r.far_from_training}; its labels may mean little"
                for r in results if r.far_from_training and not r.no_speech]
    if predictor.categorical:
        tops = Counter(predictor.label_names[int(np.argmax(r.probabilities))]
                       for r in results if not r.no_speech)
        labelled = sum(tops.values())
        if labelled >= COLLAPSE_FILES and len(predictor.label_names) > 1:
            top, count = tops.most_common(1)[0]
            if count >= COLLAPSE_SHARE * labelled:
                warnings.append(f"{count} of {labelled} files are labelled {top}: the model "
                                "may not fit these recordings (another corpus, microphone or "
                                "level than it was trained on)")
    return warnings
