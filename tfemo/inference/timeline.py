"""Segment results as files: segments.csv (one row per segment) and a timeline PNG per file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tfemo.core.reports import write_csv, write_figure
from tfemo.inference.outputs import unique_names
from tfemo.inference.predictor import quadrant
from tfemo.inference.segments import SegmentedResult

TIMELINES = "timelines"


def segment_rows(result: SegmentedResult, label_names: tuple[str, ...],
                 categorical: bool) -> list[dict]:
    """One dict per segment: index, start, end, speech share, then the model's answer."""
    rows = []
    for k, (start, end) in enumerate(result.segments):
        row = {"path": str(result.path), "segment": k, "start": start, "end": end,
               "speech": result.speech[k]}
        if categorical:
            p = result.probabilities[k]
            row["no_speech"] = bool(result.no_speech[k])
            row["top_class"] = "" if result.no_speech[k] else label_names[int(np.argmax(p))]
            row.update({f"p_{n}": float(v) for n, v in zip(label_names, p, strict=True)})
        else:
            means = result.means[k]
            row.update({f"mean_{n}": float(v) for n, v in zip(label_names, means, strict=True)})
            if {"arousal", "valence"} <= set(label_names):
                row["quadrant"] = quadrant(float(means[label_names.index("arousal")]),
                                           float(means[label_names.index("valence")]))
        rows.append(row)
    return rows


COLUMNS_CATEGORICAL = ("path", "segment", "start", "end", "speech", "no_speech", "top_class")
COLUMNS_CONTINUOUS = ("path", "segment", "start", "end", "speech")


def timeline_figure(result: SegmentedResult, label_names: tuple[str, ...], categorical: bool,
                    frame_seconds: float) -> Figure:
    """Speech (VAD) on top, with any window edges; below, each class's probability per segment
    (a classifier) or the per-frame traces, non-speech frames faint, and segment means."""
    figure = Figure(figsize=(12, 4.5), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[1, 4])
    seconds = max(result.seconds, 1e-3)
    for start, end in result.voice:
        top.axvspan(start, end, color="tab:green", alpha=0.8, lw=0)
    if result.segments != result.voice:  # windows: their edges
        for start, _ in result.segments[1:]:
            top.axvline(start, color="black", lw=0.8)
    top.set_yticks([])
    top.set_ylabel("speech", rotation=0, ha="right", va="center")
    top.set_xlim(0, seconds)
    top.set_title(f"{result.path.name}: {len(result.segments)} segments over {seconds:.1f} s")
    colours = [f"C{k % 10}" for k in range(len(label_names))]
    if categorical:
        for k, (start, end) in enumerate(result.segments):
            for name, value, colour in zip(label_names, result.probabilities[k], colours,
                                           strict=True):
                bottom.hlines(value, start, end, colors=colour, lw=3,
                              label=name if k == 0 else None)
            if not result.no_speech[k]:
                best = int(np.argmax(result.probabilities[k]))
                bottom.fill_between([start, end], 1.08, 1.15, color=colours[best], lw=0)
        bottom.set_ylim(0, 1.17)
        bottom.set_yticks([0, 0.25, 0.5, 0.75, 1.0, 1.115], ["0", "0.25", "0.5", "0.75", "1",
                                                             "top class"])
        bottom.set_ylabel("class probability")
    else:
        trace = result.whole.trace
        time = (np.arange(len(trace)) + 0.5) * frame_seconds
        speech = (result.whole.speech if result.whole.speech is not None
                  else np.ones(len(trace), bool))
        for d, (name, colour) in enumerate(zip(label_names, colours, strict=True)):
            bottom.plot(time, np.where(speech, np.nan, trace[:, d]), color=colour, lw=0.8,
                        alpha=0.3)
            bottom.plot(time, np.where(speech, trace[:, d], np.nan), color=colour, lw=1.2,
                        label=name)
            for k, (start, end) in enumerate(result.segments):
                bottom.hlines(result.means[k][d], start, end, colors=colour, lw=3,
                              linestyles="dashed")
        bottom.axhline(0, color="grey", lw=0.5)
        bottom.set_ylabel("trace (faint: no speech;\ndashed: segment mean)")
    if not result.segments:
        bottom.text(0.5, 0.5, "no speech found", transform=bottom.transAxes, ha="center",
                    va="center", fontsize="large", color="grey")
    if bottom.get_legend_handles_labels()[0] and len(label_names) <= 12:
        bottom.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    bottom.set_xlabel("time (s)")
    bottom.set_xlim(0, seconds)
    return figure


def write_segment_outputs(results: list[SegmentedResult], label_names: tuple[str, ...],
                          categorical: bool, frame_seconds: float, output_dir: Path) -> Path:
    """segments.csv (every file's segments, in order) and timelines/<name>.png per file."""
    rows = []
    for result, name in zip(results, unique_names([r.path for r in results]), strict=True):
        rows += segment_rows(result, label_names, categorical)
        write_figure(timeline_figure(result, label_names, categorical, frame_seconds),
                     output_dir / TIMELINES / f"{name}.png")
    columns = list(COLUMNS_CATEGORICAL if categorical else COLUMNS_CONTINUOUS)
    columns += [f"p_{n}" for n in label_names] if categorical else [
        f"mean_{n}" for n in label_names]
    if not categorical and {"arousal", "valence"} <= set(label_names):
        columns.append("quadrant")
    return write_csv(pd.DataFrame(rows, columns=columns), output_dir / "segments.csv")
