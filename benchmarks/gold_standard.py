#!/usr/bin/env python
"""Gold standards compared: mean, EWE, lag-compensated mean and the recurrent generator.

Part 1, the demo corpus (DEFAULT_CONFIG: 32 sessions of about a minute, 5 simulated annotators
who perceive the TRUE trace 1-3 s late): CCC of each gold standard with the true trace and its
mean CCC with the annotators, for mean, EWE, mean with lag compensation (up to 75 frames = 3 s),
the generator (alpha 1.8 with mfb_mean features; alpha 2 annotation-only), each also smoothed
over 1 s (GenS), at the default max_shift (124 frames = 5 s, upstream's value for RECOLA) and at
75 frames (3 s = the largest lag the demo annotators have, known from the corpus config).

Part 2, emotion prediction from a gold standard: the whole path ratings -> GS -> records ->
train -> eval through the command lines. For each of --predictor_methods, make_tfrecords
--labels <GS folder> --features mfb_mean writes records whose labels are that GS, `tfemo.train
--model gru_regressor` learns them, and `tfemo.eval` scores devel and test against the TRUE
trace (records of the same audio with the corpus's own labels).

Part 3, real RECOLA ratings (../shared/data/recola_ratings, no audio): the annotation-only
methods (mean, EWE, generator alpha 2) against the official AVEC 2016 gold standard.

    python benchmarks/gold_standard.py [--output_dir DIR] [--steps N] [--skip_recola]

`demo_gold_standards(output_dir)` writes the demo GS folders and returns the run (its `folders`
map each method to <output_dir>/<method>/ with one <session>.csv each), so that a second part
(training a predictor on each GS) can be added with one call.
"""

from __future__ import annotations

import tfemo.core.quiet  # noqa: F401  (before TensorFlow loads)

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tfemo.corpora.demo import DEFAULT_CONFIG, DemoCorpus, ensure_demo_corpus
from tfemo.corpora.recola import RecolaCorpus
from tfemo.labels.gold_standard import (
    GoldStandardOptions,
    GoldStandardRun,
    Variant,
    make_gold_standards,
)

RECOLA_RATINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "recola_ratings"
DEMO_MAX_LAG_FRAMES = 75  # the demo annotators' largest lag, 3 s (DemoConfig.rater_lag_seconds)
GENS_SECONDS = 1.0


def demo_variants(steps: int) -> list[Variant]:
    """The demo comparison: fusion baselines and the generators (with GenS) at two max_shifts."""
    base = GoldStandardOptions(steps=steps)
    variants = [Variant("mean", "mean", base), Variant("ewe", "ewe", base),
                Variant("mean_lag75", "mean", replace(base, lag_frames=DEMO_MAX_LAG_FRAMES))]
    for shift in (base.max_shift, DEMO_MAX_LAG_FRAMES):
        for alpha, label in ((1.8, "generator"), (2.0, "generator_a2")):
            options = replace(base, alpha=alpha, max_shift=shift)
            name = f"{label}_s{shift}"
            variants += [Variant(name, "generator", options),
                         Variant(f"{name}_gens", "generator",
                                 replace(options, smooth_secs=GENS_SECONDS))]
    return variants


def demo_gold_standards(output_dir: str | Path, steps: int = 200) -> GoldStandardRun:
    """Write every demo GS to <output_dir>/<method>/<session>.csv; the run has the folders."""
    corpus = DemoCorpus(ensure_demo_corpus(DEFAULT_CONFIG))
    return make_gold_standards(corpus, demo_variants(steps), output_dir, features=("mfb_mean",))


def recola_gold_standards(output_dir: str | Path, steps: int = 200,
                          data_dir: Path = RECOLA_RATINGS) -> GoldStandardRun:
    """The annotation-only GS of the real RECOLA ratings (mean, EWE, generator alpha 2)."""
    base = GoldStandardOptions(steps=steps)
    variants = [Variant("mean", "mean", base), Variant("ewe", "ewe", base),
                Variant("generator_a2", "generator", replace(base, alpha=2.0)),
                Variant("generator_a2_gens", "generator",
                        replace(base, alpha=2.0, smooth_secs=GENS_SECONDS))]
    return make_gold_standards(RecolaCorpus(data_dir), variants, output_dir)


def score_table(run: GoldStandardRun, title: str, reference: str) -> Table:
    """Rows: methods; columns: CCC with the reference and mean CCC with the raters, per dim."""
    summary = run.summary
    dimensions = list(dict.fromkeys(summary["dimension"]))
    table = Table(title=title)
    table.add_column("gold standard")
    for dimension in dimensions:
        table.add_column(f"{reference} {dimension}", justify="right")
    for dimension in dimensions:
        table.add_column(f"raters {dimension}", justify="right")
    table.add_column("weights (arousal)", justify="left")
    table.add_column("seconds", justify="right")
    for name in dict.fromkeys(summary["method"]):
        rows = summary[summary["method"] == name].set_index("dimension")
        detail = run.details[name]
        groups = [g for g in detail.values() if isinstance(g, dict) and "rater_weights" in g]
        weights = " ".join(f"{w:.2f}" for w in groups[0]["rater_weights"][0]) if groups else ""
        table.add_row(name, *(f"{rows.at[d, 'reference_ccc']:.3f}" for d in dimensions),
                      *(f"{rows.at[d, 'gs_rater_ccc']:.3f}" for d in dimensions), weights,
                      f"{detail.get('seconds', 0.0):.0f}")
    return table


def ratio_line(run: GoldStandardRun, name: str, baseline: str = "mean") -> str:
    """CCC with the reference of `name` over that of `baseline`, per dimension."""
    summary = run.summary.set_index(["method", "dimension"])["reference_ccc"]
    dims = list(dict.fromkeys(run.summary["dimension"]))
    parts = [f"{d} {summary[(name, d)]:.3f} / {summary[(baseline, d)]:.3f} = "
             f"x{summary[(name, d)] / summary[(baseline, d)]:.2f}" for d in dims]
    return f"{name} vs {baseline} (CCC with the reference): " + ", ".join(parts)


def run(command: list[str]) -> None:
    """Run a tfemo command line quietly, failing loudly."""
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def predictor_scores(folders: dict[str, Path], methods: list[str], work: Path,
                     steps: int) -> dict[str, dict[str, dict]]:
    """Train a GRU regressor on each method's GS; its devel/test scores against the truth."""
    python = sys.executable
    common = ["--features", "mfb_mean", "--embeddings", "none", "--quiet"]
    truth = work / "records-truth"
    run([python, "tools/make_tfrecords.py", "--output_dir", str(truth), *common])
    scores = {}
    for method in methods:
        records, train_dir = work / f"records-{method}", work / f"gru-{method}"
        run([python, "tools/make_tfrecords.py", "--output_dir", str(records),
             "--labels", str(folders[method]), *common])
        run([python, "-m", "tfemo.train", "--model", "gru_regressor", "--tfrecords",
             str(records), "--train_dir", str(train_dir), "--max_steps", str(steps),
             "--learning_rate", "1e-3", "--save_interval_secs", "100000", "--verbose", "0",
             "--device", "-1"])
        scores[method] = {}
        for portion in ("devel", "test"):
            run([python, "-m", "tfemo.eval", "--portion", portion, "--steps", str(steps),
                 "--train_dir", str(train_dir), "--tfrecords", str(truth), "--device", "-1"])
            scores[method][portion] = json.loads(
                (train_dir / f"eval-{portion}-{steps}.json").read_text())
    return scores


def predictor_table(scores: dict[str, dict[str, dict]], steps: int) -> Table:
    """CCC with the true trace of the GRU regressor trained on each gold standard."""
    table = Table(title=f"GRU regressor (2 x 128, mfb_mean, {steps} steps) trained on each gold "
                        "standard: CCC with the TRUE trace (concatenated / mean over files)")
    table.add_column("trained on")
    for portion in ("devel", "test"):
        for dim in ("arousal", "valence"):
            table.add_column(f"{portion} {dim}", justify="right")
    for method, portions in scores.items():
        cells = [f"{portions[p]['dimensions'][d]['ccc']:.3f} / "
                 f"{portions[p]['dimensions'][d]['mean_file_ccc']:.3f}"
                 for p in ("devel", "test") for d in ("arousal", "valence")]
        table.add_row(method, *cells)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", type=Path, default=Path("/tmp/tfemo-gold-standards"))
    parser.add_argument("--steps", type=int, default=200, help="generator gradient updates")
    parser.add_argument("--skip_recola", action="store_true")
    parser.add_argument("--predictor_methods", default="mean,generator_s124,generator_s75_gens",
                        help="gold standards to train the GRU regressor on ('' to skip)")
    parser.add_argument("--predictor_steps", type=int, default=800)
    args = parser.parse_args()
    console = Console(width=170)
    started = time.perf_counter()
    demo = demo_gold_standards(args.output_dir / "demo", args.steps)
    console.print(score_table(
        demo, f"demo corpus ({len(demo.recordings)} sessions): CCC with the true trace and mean "
              f"CCC with the 5 annotators (generator: {args.steps} steps)", "true"))
    for name in ("mean_lag75", "generator_s124", "generator_s75", "generator_s75_gens",
                 "generator_a2_s75"):
        console.print(ratio_line(demo, name))
    console.print(f"demo part: {time.perf_counter() - started:.0f} s; GS folders in "
                  f"{args.output_dir / 'demo'}")
    methods = [m for m in args.predictor_methods.split(",") if m]
    if methods:
        started = time.perf_counter()
        scores = predictor_scores(demo.folders, methods, args.output_dir / "predictors",
                                  args.predictor_steps)
        console.print(predictor_table(scores, args.predictor_steps))
        console.print(f"predictor part: {time.perf_counter() - started:.0f} s")
    if args.skip_recola or not RECOLA_RATINGS.is_dir():
        return
    started = time.perf_counter()
    recola = recola_gold_standards(args.output_dir / "recola", args.steps)
    console.print(score_table(
        recola, f"RECOLA ({len(recola.recordings)} recordings, real ratings): CCC with the "
                f"official gold standard and mean CCC with the 6 raters", "official"))
    console.print(f"RECOLA part: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
