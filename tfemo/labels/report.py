"""Label distribution report: are the portions of a corpus balanced?

Categorical corpora: items per portion and class, raw and as a share of the portion. Continuous
corpora: summary statistics of every trace frame per portion and dimension, raw and normalised
with the mean and standard deviation of the train portion (fit on train only, population std,
as for the records' normalisation). The table functions are pure (pandas DataFrames); the plot
functions return matplotlib Figures drawn with the Agg canvas (no pyplot, no global state);
`write_csv` and `write_figure` write atomically (temp file, fsync, rename).

Order is fixed: portions train, devel, test, then any others sorted; classes in the corpus's
label order, then any label the corpus does not list, sorted; dimensions in trace order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from tfemo.core.errors import InputError
from tfemo.core.reports import write_csv, write_figure
from tfemo.corpora.base import CATEGORICAL, CONTINUOUS, PORTIONS, Corpus, Item

RAW = "raw"
NORMALISED = "normalised"
SCALES = (RAW, NORMALISED)
PERCENTILES = (5, 25, 50, 75, 95)
COUNT_COLUMNS = ("portion", "class", "count", "share")
SUMMARY_COLUMNS = ("portion", "dimension", "scale", "items", "count", "mean", "std", "min",
                   *(f"p{q}" for q in PERCENTILES), "max")
COUNTS_FILE = "counts.csv"
SUMMARY_FILE = "summary.csv"
CATEGORICAL_PLOT = "class_shares.png"
CONTINUOUS_PLOT = "histograms.png"


@dataclass(frozen=True)
class Skip:
    """An item left out of the report: the file that could not be read and why."""

    item: str
    path: str
    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class PortionFrames:
    """Every trace frame of the readable items, per portion: values [N, D] and item counts."""

    dimensions: tuple[str, ...]
    values: dict[str, np.ndarray] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    skips: list[Skip] = field(default_factory=list)


@dataclass(frozen=True)
class Normalisation:
    """Per-dimension mean and population std, fit on the train portion's frames."""

    mean: np.ndarray
    std: np.ndarray

    def apply(self, values: np.ndarray) -> np.ndarray:
        """`(values - mean) / std`, with a constant dimension (std 0) only centred."""
        scale = np.where(self.std > 0, self.std, 1.0)
        return (np.asarray(values, dtype=np.float64) - self.mean) / scale


@dataclass
class LabelReport:
    """Everything the report shows: its table, the skipped items and, if any, the train fit."""

    corpus: str
    task: str
    table: pd.DataFrame
    skips: list[Skip] = field(default_factory=list)
    frames: PortionFrames | None = None
    normalisation: Normalisation | None = None


# ----------------------------------------------------------------------------- order


def portion_order(portions: Iterable[str]) -> list[str]:
    """The distinct portions in report order: train, devel, test, then the others sorted."""
    present = set(portions)
    known = [p for p in PORTIONS if p in present]
    return known + sorted(present - set(PORTIONS))


def class_order(label_names: Sequence[str], labels: Iterable[str]) -> list[str]:
    """The corpus's classes in its label order, then labels it does not list, sorted."""
    names = list(dict.fromkeys(label_names))
    return names + sorted(set(labels) - set(names))


# ----------------------------------------------------------------------------- categorical


def class_counts(items: Sequence[Item], label_names: Sequence[str]) -> pd.DataFrame:
    """Items per portion and class (zeros included) with their share of the portion.

    Columns `COUNT_COLUMNS`; rows by portion, then class. Raises ValueError for an item
    without a label (not a categorical item).
    """
    unlabelled = [item.id for item in items if item.label is None]
    if unlabelled:
        raise ValueError(f"{len(unlabelled)} items have no class label, e.g. {unlabelled[0]}; "
                         "is this a categorical task?")
    classes = class_order(label_names, (item.label for item in items))
    counts: dict[tuple[str, str], int] = {}
    for item in items:
        counts[item.portion, item.label] = counts.get((item.portion, item.label), 0) + 1
    rows = []
    for portion in portion_order(item.portion for item in items):
        total = sum(counts.get((portion, name), 0) for name in classes)
        for name in classes:
            count = counts.get((portion, name), 0)
            rows.append((portion, name, count, count / total if total else 0.0))
    table = pd.DataFrame(rows, columns=list(COUNT_COLUMNS))
    return table.astype({"count": "int64", "share": "float64"})


def count_matrix(counts: pd.DataFrame, column: str = "count") -> pd.DataFrame:
    """`class_counts` as a class x portion matrix of `column`, in report order."""
    portions = list(dict.fromkeys(counts["portion"]))
    classes = list(dict.fromkeys(counts["class"]))
    matrix = counts.pivot(index="class", columns="portion", values=column)
    return matrix.reindex(index=classes, columns=portions)


def plot_class_shares(counts: pd.DataFrame, title: str = "") -> Figure:
    """Grouped bars: per class, one bar per portion, height = share of that portion's items."""
    shares = count_matrix(counts, "share")
    numbers = count_matrix(counts, "count")
    classes, portions = list(shares.index), list(shares.columns)
    figure = Figure(figsize=(max(6.0, 1.1 * len(classes) + 2.0), 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = 0.8 / max(len(portions), 1)
    positions = np.arange(len(classes), dtype=np.float64)
    for k, portion in enumerate(portions):
        offsets = positions - 0.4 + width * (k + 0.5)
        bars = axes.bar(offsets, shares[portion].to_numpy(), width, label=portion)
        labels = [str(int(n)) for n in numbers[portion].to_numpy()]
        axes.bar_label(bars, labels=labels, fontsize=7, padding=1)
    if classes:
        axes.axhline(1.0 / len(classes), color="grey", linestyle="--", linewidth=1,
                     label="balanced (1 / classes)")
    axes.set_xticks(positions, classes, rotation=30 if len(classes) > 6 else 0, ha="center")
    axes.set_ylabel("share of the portion's items")
    axes.set_xlabel("class (bar labels: items)")
    axes.set_ylim(0, max(float(np.nanmax(shares.to_numpy(), initial=0.0)) * 1.3, 0.05))
    axes.legend(fontsize=8, ncols=len(portions) + 1, loc="upper center")
    axes.set_title(title or "class shares per portion")
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return figure


# ----------------------------------------------------------------------------- continuous


def collect_frames(items: Sequence[Item], dimensions: Sequence[str]) -> PortionFrames:
    """Read every item's trace; an unreadable, non-finite or mismatched trace becomes a Skip.

    Frames are the trace's own samples (not resampled to the audio frame grid).
    """
    dimensions = tuple(dimensions)
    parts: dict[str, list[np.ndarray]] = {}
    skips: list[Skip] = []
    for item in items:
        source = str(item.label_files[0]) if item.label_files else item.id
        try:
            if item.load_trace is None:
                raise InputError(source, "no labels", "the item has no continuous trace")
            trace = item.load_trace()
            values = np.asarray(trace.values, dtype=np.float64)
            if tuple(trace.dimensions) != dimensions:
                raise InputError(trace.source, "wrong dimensions",
                                 f"{list(trace.dimensions)}, expected {list(dimensions)}")
            if values.ndim != 2 or values.shape[1] != len(dimensions) or not len(values):
                raise InputError(trace.source, "bad labels", f"values of shape {values.shape}")
            if not np.all(np.isfinite(values)):
                raise InputError(trace.source, "bad labels", "NaN or infinite values")
        except InputError as error:
            skips.append(Skip(item.id, error.path, error.reason, error.detail))
            continue
        except (OSError, ValueError) as error:  # a reader that does not raise InputError
            skips.append(Skip(item.id, source, "unreadable labels", str(error)))
            continue
        parts.setdefault(item.portion, []).append(values)
    frames = PortionFrames(dimensions=dimensions, skips=skips)
    for portion in portion_order(parts):
        frames.values[portion] = np.concatenate(parts[portion], axis=0)
        frames.items[portion] = len(parts[portion])
    return frames


def fit_normalisation(frames: PortionFrames, fit_on: str = "train") -> Normalisation | None:
    """Mean and population std per dimension of portion `fit_on`; None if it has no frames."""
    values = frames.values.get(fit_on)
    if values is None or not len(values):
        return None
    return Normalisation(mean=values.mean(axis=0), std=values.std(axis=0))


def _statistics(values: np.ndarray) -> dict[str, float]:
    """count, mean, std, min, percentiles and max of one column."""
    stats: dict[str, float] = {"count": len(values), "mean": float(values.mean()),
                               "std": float(values.std()), "min": float(values.min())}
    for q, value in zip(PERCENTILES, np.percentile(values, PERCENTILES), strict=True):
        stats[f"p{q}"] = float(value)
    stats["max"] = float(values.max())
    return stats


def summary_statistics(frames: PortionFrames,
                       normalisation: Normalisation | None = None) -> pd.DataFrame:
    """Statistics per scale, dimension and portion (columns `SUMMARY_COLUMNS`).

    Normalised rows use `normalisation` (default: fit on train); without train frames
    there are only raw rows.
    """
    if normalisation is None:
        normalisation = fit_normalisation(frames)
    rows = []
    for scale in SCALES:
        if scale == NORMALISED and normalisation is None:
            continue
        for d, dimension in enumerate(frames.dimensions):
            for portion in portion_order(frames.values):
                values = frames.values[portion]
                if scale == NORMALISED:
                    values = normalisation.apply(values)
                rows.append({"portion": portion, "dimension": dimension, "scale": scale,
                             "items": frames.items[portion], **_statistics(values[:, d])})
    table = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    return table.astype({"items": "int64", "count": "int64"})


def plot_histograms(frames: PortionFrames, bins: int = 40, title: str = "") -> Figure:
    """One panel per dimension: a density step line per portion over shared bins, raw values.

    Each portion's mean is a dotted vertical line of its colour.
    """
    dimensions = frames.dimensions
    figure = Figure(figsize=(5.0 * max(len(dimensions), 1), 4.3), dpi=100)
    FigureCanvasAgg(figure)
    portions = portion_order(frames.values)
    colours = {p: f"C{k}" for k, p in enumerate(portions)}
    for d, dimension in enumerate(dimensions):
        axes = figure.add_subplot(1, max(len(dimensions), 1), d + 1)
        columns = [frames.values[p][:, d] for p in portions]
        if columns:
            everything = np.concatenate(columns)
            low, high = float(everything.min()), float(everything.max())
            if high <= low:
                low, high = low - 0.5, high + 0.5
            edges = np.linspace(low, high, bins + 1)
            for portion, column in zip(portions, columns, strict=True):
                density, _ = np.histogram(column, bins=edges, density=True)
                axes.stairs(density, edges, color=colours[portion], linewidth=1.5)
                axes.axvline(float(column.mean()), color=colours[portion], linestyle=":",
                             linewidth=1)
        axes.set_title(dimension)
        axes.set_xlabel(f"{dimension} (raw; dotted: portion mean)")
        axes.set_ylabel("density")
        axes.grid(alpha=0.3)
    handles = [Line2D([], [], color=colours[p], linewidth=1.5) for p in portions]
    labels = [f"{p}: {frames.items[p]} items, {len(frames.values[p])} frames" for p in portions]
    if handles:
        figure.legend(handles, labels, loc="lower center", ncols=len(handles), fontsize=8,
                      frameon=False)
    figure.suptitle(title or "label distribution per portion")
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    return figure


# ----------------------------------------------------------------------------- whole report


def build_report(corpus: Corpus, task: str) -> LabelReport:
    """The report of a corpus task: the counts (categorical) or the summary (continuous)."""
    if task not in corpus.tasks:
        raise ValueError(f"corpus {corpus.name} has no {task} task "
                         f"(it has: {', '.join(corpus.tasks)})")
    items = corpus.items(task)
    if task == CATEGORICAL:
        table = class_counts(items, corpus.label_names(task))
        return LabelReport(corpus=corpus.name, task=task, table=table)
    if task == CONTINUOUS:
        frames = collect_frames(items, corpus.label_names(task))
        normalisation = fit_normalisation(frames)
        return LabelReport(corpus=corpus.name, task=task,
                           table=summary_statistics(frames, normalisation), skips=frames.skips,
                           frames=frames, normalisation=normalisation)
    raise ValueError(f"unknown task {task!r}")


def report_figure(report: LabelReport) -> Figure:
    """The report's plot: class shares (categorical) or histograms (continuous)."""
    title = f"{report.corpus} ({report.task})"
    if report.task == CATEGORICAL:
        return plot_class_shares(report.table, title=f"{title}: class shares per portion")
    if report.frames is None:
        raise ValueError("a continuous report needs its frames to plot histograms")
    return plot_histograms(report.frames, title=f"{title}: label density per portion")


def write_report(report: LabelReport, output_dir: str | Path) -> dict[str, Path]:
    """Write the report's CSV and PNG into `output_dir`; returns {"csv": path, "png": path}."""
    output_dir = Path(output_dir)
    categorical = report.task == CATEGORICAL
    csv_path = write_csv(report.table, output_dir / (COUNTS_FILE if categorical else SUMMARY_FILE))
    png_name = CATEGORICAL_PLOT if categorical else CONTINUOUS_PLOT
    png_path = write_figure(report_figure(report), output_dir / png_name)
    return {"csv": csv_path, "png": png_path}


def normalisation_summary(normalisation: Normalisation | None,
                          dimensions: Sequence[str]) -> Mapping[str, tuple[float, float]]:
    """{dimension: (train mean, train std)} for printing; empty without a fit."""
    if normalisation is None:
        return {}
    return {d: (float(normalisation.mean[k]), float(normalisation.std[k]))
            for k, d in enumerate(dimensions)}
