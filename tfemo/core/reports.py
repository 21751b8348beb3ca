"""Result files every command writes the same way: CSV tables and PNG figures, atomically.

Figures are drawn on matplotlib's Agg canvas (no pyplot, no global state), so commands and
worker processes can make them without a display.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay

from tfemo.core.storage import write_atomic

FLOAT_FORMAT = "%.9g"


def write_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV atomically (no index, floats with 9 significant digits)."""
    text = table.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    return write_atomic(Path(path), text.encode("utf-8"))


def write_figure(figure: Figure, path: str | Path) -> Path:
    """Render a figure to PNG with the Agg canvas and write it atomically."""
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer, metadata={"Software": None})
    return write_atomic(Path(path), buffer.getvalue())


def confusion_table(confusion: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """The confusion matrix as a table: one row per true class, one column per predicted class."""
    table = pd.DataFrame(np.asarray(confusion, dtype=int), columns=list(class_names))
    table.insert(0, "true", list(class_names))
    return table


def confusion_figure(confusion: np.ndarray, class_names: Sequence[str], title: str) -> Figure:
    """Counts with each row's share of its true class as the colour (row-normalised)."""
    confusion = np.asarray(confusion, dtype=float)
    shares = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1.0)
    figure = Figure(figsize=(1.0 + 0.8 * len(class_names), 0.8 + 0.8 * len(class_names)))
    axes = figure.add_subplot()
    ConfusionMatrixDisplay(shares, display_labels=list(class_names)).plot(
        ax=axes, values_format=".2f", colorbar=False, xticks_rotation=45, cmap="Blues")
    axes.set_title(title)
    figure.tight_layout()
    return figure


def distribution_figure(counts: Mapping[str, int], title: str) -> Figure:
    """Horizontal bars of how many files each class (or quadrant) was predicted for: long
    names read level on the left, each bar says its count and share."""
    names, values = list(counts), list(counts.values())
    total = max(sum(values), 1)
    figure = Figure(figsize=(7.0, 1.4 + 0.45 * len(names)), layout="constrained")
    axes = figure.add_subplot()
    bars = axes.barh(names, values, color="tab:blue")
    axes.bar_label(bars, labels=[f" {v} ({v / total:.0%})" for v in values])
    axes.invert_yaxis()  # the first class on top
    axes.set_xlabel("files")
    axes.set_xlim(0, max(values, default=1) * 1.25 or 1)  # room for the bar labels
    axes.set_title(title, wrap=True)
    return figure


def arousal_valence_figure(points: Sequence[tuple[str, float, float]], title: str) -> Figure:
    """Each file's mean (valence, arousal) as a point on the plane, its quadrants named."""
    figure = Figure(figsize=(6.0, 6.0), layout="constrained")
    axes = figure.add_subplot()
    values = np.array([(v, a) for _, a, v in points], dtype=float).reshape(-1, 2)
    limit = max(1.0, float(np.abs(values).max(initial=0.0)) * 1.15)
    axes.axhline(0.0, color="grey", linewidth=0.8)
    axes.axvline(0.0, color="grey", linewidth=0.8)
    for x, y, text, ha, va in ((1, 1, "high arousal\npositive valence", "right", "top"),
                               (-1, 1, "high arousal\nnegative valence", "left", "top"),
                               (-1, -1, "low arousal\nnegative valence", "left", "bottom"),
                               (1, -1, "low arousal\npositive valence", "right", "bottom")):
        axes.text(0.97 * x * limit, 0.97 * y * limit, text, ha=ha, va=va, color="grey",
                  fontsize=9)
    axes.scatter(values[:, 0], values[:, 1], color="tab:blue", zorder=3)
    if len(points) <= 20:  # few enough to name each one
        for (name, arousal, valence) in points:
            axes.annotate(name, (valence, arousal), textcoords="offset points", xytext=(4, 4),
                          fontsize=8)
    axes.set_xlim(-limit, limit)
    axes.set_ylim(-limit, limit)
    axes.set_aspect("equal")
    axes.set_xlabel("valence (mean over the file)")
    axes.set_ylabel("arousal (mean over the file)")
    axes.set_title(title, wrap=True)
    return figure
