#!/usr/bin/env python
"""Benchmark tools/make_tfrecords on the demo corpus: throughput by stage, and alignment error.

Prints two tables:
1. seconds of audio written per wall second with 1 and 2 workers (aeneas alignment, so every
   stage runs), and how the workers' time splits over the stages (load, align, embed, labels,
   serialize, write); the 1-worker run is the baseline of the speed-up column;
2. aeneas and uniform word boundaries against the demo's true word timings (every boundary
   between words and the end of the last word of every utterance): median and 90th percentile
   of |error| in ms, and the share within 100 ms.

    python benchmarks/make_tfrecords.py [--utterances N]
"""

from __future__ import annotations

import tfemo.core.quiet  # noqa: F401  (before TensorFlow loads)

import argparse
import tempfile
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from tfemo.audio import SAMPLE_RATE
from tfemo.audio.io import load_audio
from tfemo.corpora.base import CATEGORICAL, CONTINUOUS
from tfemo.corpora.demo import DemoCorpus, ensure_demo_corpus
from tfemo.records.build import MakeOptions, make_tfrecords
from tfemo.text.alignment import align_aeneas, align_uniform

STAGES = ("load", "align", "embed", "labels", "serialize", "write")


def throughput_table(corpus: DemoCorpus) -> Table:
    """Write the continuous demo records with 1 and 2 workers and time each stage."""
    table = Table(title="make_tfrecords on the demo corpus (continuous task, --alignment aeneas)")
    for column in ("workers", "audio (min)", "wall (s)", "audio s / wall s", "speed-up",
                   *(f"{s} %" for s in STAGES)):
        table.add_column(column, justify="right")
    baseline = None
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as output_dir:
            started = time.perf_counter()
            description, report = make_tfrecords(
                corpus, output_dir, MakeOptions(task=CONTINUOUS, alignment="aeneas"),
                workers=workers)
            wall = time.perf_counter() - started
        audio = sum(p["seconds"] for p in description.portions.values())
        rate = audio / wall
        baseline = baseline or rate
        stage_total = sum(report.stage_seconds[s] for s in STAGES)
        table.add_row(str(workers), f"{audio / 60:.1f}", f"{wall:.1f}", f"{rate:.1f}",
                      f"{rate / baseline:.2f} x",
                      *(f"{100 * report.stage_seconds[s] / stage_total:.1f}" for s in STAGES))
    return table


def boundary_errors(corpus: DemoCorpus, limit: int | None) -> dict[str, np.ndarray]:
    """|predicted - true| word boundaries in ms for aeneas and uniform alignment."""
    errors: dict[str, list[float]] = {"aeneas": [], "uniform": []}
    items = corpus.items(CATEGORICAL)[:limit]
    for item in items:
        audio = load_audio(item.audio_path)
        truth = [w for s in item.segments for w in s.words]
        words = [w.word for w in truth]
        true_bounds = np.array([w.start for w in truth[1:]] + [truth[-1].end])
        for method, align in (("aeneas", align_aeneas), ("uniform", None)):
            if align is None:
                found = align_uniform(audio, words, str(item.audio_path))
            else:
                found = align_aeneas(audio, words, item.language, str(item.audio_path))
            bounds = np.array([w.start for w in found[1:]] + [found[-1].end])
            errors[method].extend(np.abs(bounds - true_bounds) * 1000.0)
    return {method: np.array(values) for method, values in errors.items()}


def alignment_table(errors: dict[str, np.ndarray], utterances: int) -> Table:
    """Median and 90th percentile of boundary errors."""
    table = Table(title=f"word boundaries against the true timings ({utterances} utterances)")
    for column in ("method", "boundaries", "median |error| ms", "p90 |error| ms", "<= 100 ms"):
        table.add_column(column, justify="right")
    for method, values in errors.items():
        table.add_row(method, str(len(values)), f"{np.median(values):.0f}",
                      f"{np.percentile(values, 90):.0f}", f"{100 * np.mean(values <= 100):.1f} %")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utterances", type=int, default=None,
                        help="align only the first N utterances (default: all)")
    args = parser.parse_args()
    console = Console(width=140)
    corpus = DemoCorpus(ensure_demo_corpus())
    console.print(throughput_table(corpus))
    errors = boundary_errors(corpus, args.utterances)
    count = len(corpus.items(CATEGORICAL)[:args.utterances])
    console.print(alignment_table(errors, count))
    console.print(f"(sample rate {SAMPLE_RATE} Hz; stage shares are of the workers' summed time)")


if __name__ == "__main__":
    main()
