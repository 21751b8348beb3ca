"""Prediction results as files: predictions.csv, one trace CSV per file, distribution.png."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


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

    from tfemo.core.reports import distribution_figure, write_csv, write_figure
    from tfemo.inference.predictor import quadrant
    from tfemo.labels.traces import frame_centres

    names = predictor.label_names
    rows = []
    counts: Counter = Counter()
    for result, name in zip(results, unique_names([r.path for r in results]), strict=True):
        row = {"path": str(result.path), "seconds": round(result.seconds, 3),
               "chunks": result.chunks}
        if predictor.categorical:
            # no class is forced on a file without speech: top_class stays empty
            top = "" if result.no_speech else names[int(np.argmax(result.probabilities))]
            row["top_class"] = top
            row["no_speech"] = bool(result.no_speech)
            row.update({f"p_{n}": float(p) for n, p in zip(names, result.probabilities,
                                                              strict=True)})
            counts[top or "no_speech"] += 1
        else:
            means = result.trace.mean(axis=0)
            row.update({f"mean_{n}": float(m) for n, m in zip(names, means, strict=True)})
            if {"arousal", "valence"} <= set(names):
                row["quadrant"] = quadrant(float(means[names.index("arousal")]),
                                           float(means[names.index("valence")]))
                counts[row["quadrant"]] += 1
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
    return counts
