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
    """A bar chart of how many files each class was predicted for."""
    figure = Figure(figsize=(1.5 + 0.7 * len(counts), 3.5))
    axes = figure.add_subplot()
    names, values = list(counts), list(counts.values())
    bars = axes.bar(names, values, color="tab:blue")
    axes.bar_label(bars)
    axes.set_ylabel("files")
    axes.set_title(title)
    axes.tick_params(axis="x", rotation=45)
    figure.tight_layout()
    return figure
