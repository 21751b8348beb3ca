#!/usr/bin/env python
"""Gold standards from several annotators' continuous ratings: mean, EWE or the generator.

Writes one CSV per recording and method, <output_dir>/<method>/<recording id>.csv, with columns
time,<dimensions> on the 40 ms frame grid (time = frame centre in seconds), for every method
given; plus summary.csv (CCC of each gold standard with every rater, the raters' mutual
agreement and, where the corpus has one, CCC with its reference trace) and gold_standard.json
(the settings, the skipped items, the generator's rater weights).

    python tools/make_gold_standard.py --corpus recola --data_dir ../shared/data/recola_ratings \\
        --method mean,ewe --output_dir /tmp/gs
    python tools/make_gold_standard.py --corpus demo --method generator --smooth_secs 1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from tfemo.core.cli import report_user_errors
from tfemo.core.config_file import parse_with_config
from tfemo.core.console import ProgressLines, command_console
from tfemo.core.errors import UserError
from tfemo.core.flags import add_renamed, config_flags
from tfemo.corpora import CORPUS_NAMES, open_corpus
from tfemo.corpora.base import Corpus
from tfemo.labels.gold_standard import (
    METHODS,
    REFERENCES,
    SUMMARY_FILE,
    GoldStandardOptions,
    GoldStandardRun,
    Variant,
    make_gold_standards,
)

AUDIO_DIR_CORPORA = ("recola", "musetoolbox")
# continuous corpora whose traces can carry individual ratings (MuSe-CaR ships its gold
# standard only: its raw ratings are read in the musetoolbox layout)
RATED_CORPORA = tuple(n for n in ("demo", "manifest", "musecar", "musetoolbox", "recola")
                      if n in CORPUS_NAMES)


def _methods(values: list[str] | None) -> list[str]:
    """Repeated and comma-separated --method values, in order, without repeats."""
    methods: list[str] = []
    for value in values or ["mean"]:
        for name in (v.strip() for v in value.split(",")):
            if name and name not in methods:
                methods.append(name)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise argparse.ArgumentTypeError(f"unknown --method {unknown}; choose from {METHODS}")
    return methods


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (every option documented in --help)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[config_flags()])
    parser.add_argument("--corpus", default="demo", choices=RATED_CORPORA,
                        help="corpus with individual ratings (default demo)")
    parser.add_argument("--data_dir", type=Path, default=None,
                        help="the corpus folder as distributed (manifest: the manifest CSV; "
                             "demo: made on first use when omitted)")
    parser.add_argument("--audio_dir", type=Path, default=None,
                        help="recola, musetoolbox: folder of <recording id>.wav (features "
                             "for the generator; the frame count of each recording)")
    parser.add_argument("--time_unit", choices=("ms", "s"), default="ms",
                        help="musetoolbox: unit of the time column (default ms, as the "
                             "MuSe-Toolbox examples)")
    parser.add_argument("--output_dir", type=Path, default=None,
                        help="where <method>/<id>.csv and the summary go "
                             "(default gold_standards/<corpus>)")
    parser.add_argument("--method", action="append", default=None,
                        help=f"one of {', '.join(METHODS)}; repeat it or give a comma list "
                             "(default mean); each method gets its own folder")
    defaults = GoldStandardOptions()
    fusion = parser.add_argument_group("mean and ewe")
    fusion.add_argument("--centre", action="store_true",
                        help="centre each rater on the mean of all raters' means first")
    fusion.add_argument("--lag_frames", type=int, default=None,
                        help="compensate rater lags of up to this many frames (default none)")
    generator = parser.add_argument_group("generator")
    generator.add_argument("--alpha", type=float, default=defaults.alpha,
                           help="weight of the annotation term (2 - alpha: the linear "
                                "constraint); 2 = annotation-only, no audio needed "
                                "(default %(default)s)")
    generator.add_argument("--max_shift", type=int, default=defaults.max_shift,
                           help="Cross-CCC shifts 0..N frames (default %(default)s = 5 s)")
    generator.add_argument("--epochs", type=int, default=defaults.epochs,
                           help="training passes over the recordings (default %(default)s)")
    generator.add_argument("--max_steps", type=int, default=None,
                           help="gradient updates instead of --epochs")
    add_renamed(generator, "--steps", "--max_steps", "max_steps", int)
    generator.add_argument("--learning_rate", type=float, default=defaults.learning_rate,
                           help="Adam learning rate (default %(default)s)")
    generator.add_argument("--chunk_frames", type=int, default=defaults.chunk_frames,
                           help="training sequence length in frames (default %(default)s)")
    generator.add_argument("--batch_size", type=int, default=defaults.batch_size,
                           help="chunks per gradient update (default %(default)s)")
    generator.add_argument("--features", default="mfb_mean",
                           help="comma list of feature families for alpha < 2 "
                                "(tfemo.audio.features; default %(default)s)")
    generator.add_argument("--seed", type=int, default=defaults.seed,
                           help="random seed (default %(default)s)")
    parser.add_argument("--smooth_secs", type=float, default=0.0,
                        help="centred moving average over this many seconds after fusion "
                             "(GenS with the generator); 0 = none (default)")
    args = parse_with_config(parser, argv)
    try:
        args.method = _methods(args.method)
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    if args.audio_dir is not None and args.corpus not in AUDIO_DIR_CORPORA:
        parser.error(f"--audio_dir applies to {', '.join(AUDIO_DIR_CORPORA)} only")
    args.features = tuple(f.strip() for f in args.features.split(",") if f.strip())
    return args


def open_rated_corpus(args: argparse.Namespace) -> Corpus:
    """The corpus reader, with --audio_dir / --time_unit where the reader takes them."""
    if args.corpus == "musetoolbox" and args.data_dir is not None:
        from tfemo.corpora.musetoolbox import MuseToolboxCorpus

        return MuseToolboxCorpus(args.data_dir, audio_dir=args.audio_dir,
                                 time_unit=args.time_unit)
    if args.corpus == "recola" and args.data_dir is not None and args.audio_dir is not None:
        from tfemo.corpora.recola import RecolaCorpus

        return RecolaCorpus(args.data_dir, audio_dir=args.audio_dir)
    return open_corpus(args.corpus, args.data_dir)


def summary_table(run: GoldStandardRun, corpus: str) -> Table:
    """Per method and dimension: CCC with the raters, inter-rater CCC, CCC with the reference."""
    reference = REFERENCES.get(corpus)
    table = Table(title=f"{corpus}: gold standards of {len(run.recordings)} recordings "
                        f"(CCC, mean over recordings)")
    for name in ("method", "dimension", "GS-rater", "inter-rater"):
        table.add_column(name, justify="left" if name in ("method", "dimension") else "right")
    if reference:
        table.add_column(f"GS-{reference}", justify="right")
    for row in run.summary.itertuples(index=False):
        cells = [row.method, row.dimension, f"{row.gs_rater_ccc:.3f}",
                 f"{row.inter_rater_ccc:.3f}"]
        if reference:
            cells.append(f"{row.reference_ccc:.3f}")
        table.add_row(*cells)
    return table


@report_user_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = command_console()
    options = GoldStandardOptions(
        centre=args.centre, lag_frames=args.lag_frames, alpha=args.alpha,
        max_shift=args.max_shift, epochs=args.epochs, steps=args.max_steps,
        learning_rate=args.learning_rate, chunk_frames=args.chunk_frames,
        batch_size=args.batch_size, seed=args.seed, smooth_secs=args.smooth_secs)
    started = time.perf_counter()
    corpus = open_rated_corpus(args)
    output_dir = args.output_dir or Path("gold_standards") / corpus.name
    try:
        variants = [Variant(method, method, options) for method in args.method]
        run = make_gold_standards(corpus, variants, output_dir, features=args.features,
                                  progress=ProgressLines())
    except ValueError as error:  # an option the chosen method cannot use (e.g. --lag_frames)
        raise UserError(str(error), "see python -m tfemo.make_gold_standard --help") from None
    for skip in run.skips:
        console.print(f"[yellow]skipped[/] {escape(str(skip))}", soft_wrap=True)
    console.print(summary_table(run, corpus.name))
    for name, detail in run.details.items():
        for raters, group in detail.items():
            if isinstance(group, dict) and "rater_weights" in group:
                console.print(f"{name} rater weights ({raters}): {group['rater_weights']}")
    console.print(f"written: {escape(str(output_dir))}/{{{','.join(run.folders)}}}/<id>.csv "
                  f"and {escape(str(output_dir / SUMMARY_FILE))} in "
                  f"{time.perf_counter() - started:.1f} s", soft_wrap=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
