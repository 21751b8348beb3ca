#!/usr/bin/env python
"""Write a corpus's per-utterance frame features and utterance statistics into one HDF5 file.

Groups /<corpus>/<speaker>/<item id> hold `frames` [N, F] and `stats` [S] (float32, chunked,
gzip) with every metadata field as an attribute; see tfemo.store.  A killed run started again
resumes and writes the same file; bad files are reported and skipped (or stop the run with
--strict).

    python tools/make_feature_store.py --corpus demo --task categorical
    python tools/make_feature_store.py --corpus ravdess --data_dir RAVDESS --features mel_db,pitch
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from tfemo.audio.features import FEATURE_FAMILIES
from tfemo.core.cli import report_user_errors
from tfemo.core.config_file import parse_with_config
from tfemo.core.console import command_console
from tfemo.core.errors import InputError, UserError
from tfemo.core.flags import config_flags, strict_flags
from tfemo.corpora import CORPUS_NAMES, open_corpus, resolve_task
from tfemo.corpora.base import TASKS
from tfemo.store.build import StoreOptions, StoreReport, make_feature_store, parse_features
from tfemo.store.parts import Skip, parts_dir
from tfemo.store.reader import PortionSummary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (every option documented in --help)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[strict_flags(), config_flags()])
    parser.add_argument("--corpus", default="demo", choices=CORPUS_NAMES,
                        help="corpus to read (default: demo)")
    parser.add_argument("--data_dir", type=Path, default=None,
                        help="the corpus folder as distributed (manifest: the manifest CSV; "
                             "demo: the generated cache folder, made on first use when omitted)")
    parser.add_argument("--task", choices=TASKS, default=None,
                        help="categorical: one item per utterance; continuous: one per "
                             "recording (default: the corpus's own default)")
    parser.add_argument("--features", default="all",
                        help="per-frame feature families, comma-separated from "
                             f"{', '.join(FEATURE_FAMILIES)}; 'all' for all of these "
                             "(default: all); the openSMILE LLDs egemaps, compare, "
                             "compare_de by name only (pip install 'tfemo[opensmile]')")
    parser.add_argument("--output", type=Path, default=None,
                        help="the HDF5 file (default: features/<corpus>.h5)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes featurising items in parallel (default: all cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parse_with_config(parser, argv)


def summary_table(report: StoreReport, portion_of: dict[str, str]) -> Table:
    """Per portion: items written, speakers, minutes, frames and the items skipped, by reason."""
    table = Table(title=f"feature store -> {report.output}")
    for column in ("portion", "items", "speakers", "minutes", "frames", "skipped"):
        table.add_column(column, justify="left" if column in ("portion", "skipped") else "right")
    reasons: dict[str, dict[str, int]] = {}
    for skip in report.skipped:
        counts = reasons.setdefault(portion_of.get(skip.item_id, "?"), {})
        counts[skip.reason] = counts.get(skip.reason, 0) + 1
    for portion in [*report.portions, *sorted(set(reasons) - set(report.portions))]:
        entry = report.portions.get(portion, PortionSummary())
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.get(portion,
                                                                                {}).items()))
        table.add_row(portion, str(entry.items), str(entry.speakers),
                      f"{entry.seconds / 60:.1f}", str(entry.frames), skipped or "0")
    return table


@report_user_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = command_console()
    features = parse_features(args.features)
    corpus = open_corpus(args.corpus, args.data_dir)
    task = resolve_task(corpus, args.task)
    output = args.output or Path("features") / f"{corpus.name}.h5"
    items = corpus.items(task)

    def report_skip(skip: Skip) -> None:
        console.print(f"[yellow]skipped[/] {escape(skip.path)}: {escape(skip.reason)}"
                      + (f" ({escape(skip.detail)})" if skip.detail else ""))

    try:
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                      disable=args.quiet, transient=True) as progress:
            bar = progress.add_task(f"{corpus.name} -> {output}", total=len(items))
            report = make_feature_store(
                corpus, output, StoreOptions(task, features), workers=args.workers,
                strict=args.strict, items=items, on_skip=report_skip,
                on_progress=lambda n: progress.advance(bar, n))
    except InputError as error:
        if not args.strict:
            raise
        raise UserError(str(error), f"--strict stops at a bad file: fix or remove it, or run "
                                    f"without --strict to skip it; finished items are kept in "
                                    f"{parts_dir(output)}") from None
    console.print(summary_table(report, {i.id: i.portion for i in items}))
    families = ", ".join(features)
    if report.up_to_date:
        console.print(f"{output} was already complete with these options; nothing to do")
    else:
        console.print(f"this run: {report.computed} items featurised, {report.reused} reused "
                      f"from an interrupted run, {report.wall_seconds:.1f} s")
    console.print(f"frames: {families}; {output.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
