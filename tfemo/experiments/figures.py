"""The report's figures, drawn on matplotlib's Agg canvas (tfemo.core.reports renders them).

Sizes grow with the number of classes, speakers and models so that labels stay legible, and
every figure is laid out with `constrained` layout so that titles and labels are never clipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from tfemo.scoring.calibration import ECE_BINS, ece

COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def reliability_figure(probabilities: np.ndarray, labels: np.ndarray,
                       calibrated: np.ndarray | None, title: str) -> Figure:
    """Accuracy against confidence in ECE_BINS bins, before and (if given) after calibration."""
    panels = [("before calibration", probabilities)]
    if calibrated is not None:
        panels.append(("after calibration", calibrated))
    figure = Figure(figsize=(4.2 * len(panels), 4.4), layout="constrained")
    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    for n, (name, p) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), n + 1)
        confidence = p.max(axis=1)
        correct = p.argmax(axis=1) == labels
        index = np.clip(np.ceil(confidence * ECE_BINS).astype(int) - 1, 0, ECE_BINS - 1)
        accuracy = np.array([correct[index == b].mean() if (index == b).any() else np.nan
                             for b in range(ECE_BINS)])
        axes.bar(edges[:-1], np.nan_to_num(accuracy), width=1.0 / ECE_BINS, align="edge",
                 color=COLOURS[n], edgecolor="black", linewidth=0.5, label="accuracy")
        axes.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1)
        axes.set_xlabel("confidence (top-class probability)")
        axes.set_ylabel("accuracy")
        axes.set_title(f"{name}: ECE {ece(p, labels):.3f}", fontsize=10)
    handles, names = axes.get_legend_handles_labels()
    figure.legend(handles, names, loc="outside lower center", ncols=2, fontsize=8)
    figure.suptitle(title, fontsize=11)
    return figure


def speaker_figure(scores: Mapping[str, Mapping[str, float]], title: str,
                   chance: float | None = None, ylabel: str = "UAR") -> Figure:
    """One group of bars per speaker, one bar per model: `scores[model][speaker]`; a dotted
    line at `chance`."""
    models = list(scores)
    speakers = sorted({s for per in scores.values() for s in per})
    width = 0.8 / max(len(models), 1)
    figure = Figure(figsize=(max(5.0, 1.0 + 0.45 * len(speakers) * len(models)), 4.0),
                    layout="constrained")
    axes = figure.add_subplot()
    x = np.arange(len(speakers))
    for n, model in enumerate(models):
        values = [scores[model].get(s, np.nan) for s in speakers]
        axes.bar(x + (n - (len(models) - 1) / 2) * width, values, width=width, label=model,
                 color=COLOURS[n % len(COLOURS)])
    if chance is not None:
        axes.axhline(chance, color="grey", linestyle=":", label=f"chance ({chance:.2f})")
    axes.set_xticks(x, speakers, rotation=45 if len(speakers) > 8 else 0, ha="right"
                    if len(speakers) > 8 else "center")
    axes.set_xlabel("test speaker")
    axes.set_ylabel(ylabel)
    axes.set_ylim(0, 1)
    axes.legend(fontsize=8)
    axes.set_title(title, fontsize=11)
    return figure


def file_ccc_figure(values: Mapping[str, Mapping[str, Sequence[float]]], title: str) -> Figure:
    """Box plots of the CCC of each file: `values[dimension][model]` -> per-file CCCs."""
    dimensions = list(values)
    figure = Figure(figsize=(max(4.5, 3.2 * len(dimensions)), 4.0), layout="constrained")
    for n, dimension in enumerate(dimensions):
        axes = figure.add_subplot(1, len(dimensions), n + 1)
        models = list(values[dimension])
        axes.boxplot([np.asarray(values[dimension][m], float) for m in models],
                     tick_labels=models)
        axes.set_title(dimension, fontsize=10)
        axes.set_ylabel("CCC per file")
        axes.axhline(0.0, color="grey", linewidth=0.5)
    figure.suptitle(title, fontsize=11)
    return figure


def traces_figure(traces: Mapping[str, Mapping[str, object]], dimensions: Sequence[str],
                  title: str) -> Figure:
    """Gold standard and each model's prediction over time: one row per file, one column per
    dimension; `traces[file id][model]` is a table with time, <dim>_gold, <dim>_predicted."""
    files = list(traces)
    figure = Figure(figsize=(max(6.0, 5.0 * len(dimensions)), 2.6 * len(files) + 0.6),
                    layout="constrained")
    for row, file_id in enumerate(files):
        tables = traces[file_id]
        for column, dimension in enumerate(dimensions):
            axes = figure.add_subplot(len(files), len(dimensions),
                                      row * len(dimensions) + column + 1)
            first = next(iter(tables.values()))
            axes.plot(first["time"], first[f"{dimension}_gold"], color="black", linewidth=1.5,
                      label="gold standard")
            for n, (model, table) in enumerate(tables.items()):
                axes.plot(table["time"], table[f"{dimension}_predicted"], linewidth=1,
                          color=COLOURS[n % len(COLOURS)], label=model)
            axes.set_title(f"{file_id}: {dimension}", fontsize=10)
            axes.set_xlabel("time (s)")
            axes.set_ylabel(dimension)
            if row == 0 and column == 0:
                axes.legend(fontsize=8)
    figure.suptitle(title, fontsize=11)
    return figure
