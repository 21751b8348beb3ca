#!/usr/bin/env python
"""Label distribution report: are the portions of a corpus balanced?

categorical: items per portion and class, raw and as a share of the portion (counts.csv and a
grouped bar chart, class_shares.png). continuous: statistics of all trace frames per portion and
dimension, raw and normalised with the train portion's mean/std (summary.csv and density
histograms, histograms.png); items whose trace cannot be read are reported and skipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from tfemo.core.cli import report_user_errors
from tfemo.core.config_file import parse_with_config
from tfemo.core.console import command_console
from tfemo.core.errors import UserError
from tfemo.core.flags import config_flags
from tfemo.corpora import CORPUS_NAMES, open_corpus, resolve_task
from tfemo.corpora.base import CATEGORICAL, TASKS
from tfemo.labels.report import (
    NORMALISED,
    PERCENTILES,
    SCALES,
    LabelReport,
    build_report,
    count_matrix,
    normalisation_summary,
    write_report,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (every option documented in --help)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        parents=[config_flags()])
    parser.add_argument("--corpus", default="demo", choices=CORPUS_NAMES, help="corpus to read")
    parser.add_argument("--data_dir", type=Path, default=None,
                        help="the corpus folder as distributed (manifest: the manifest CSV; "
                             "demo: the generated cache folder, made on first use when "
                             "%(default)s)")
    parser.add_argument("--task", choices=TASKS, default=None,
                        help="categorical: class counts; continuous: trace statistics "
                             "(default %(default)s: the corpus's own default)")
    parser.add_argument("--output_dir", type=Path, default=None,
                        help="where the CSV and PNG go "
                             "(default %(default)s: reports/<corpus>-<task>)")
    return parse_with_config(parser, argv)


def counts_table(report: LabelReport) -> Table:
    """Per class: count and share of each portion, and a total row."""
    counts, shares = count_matrix(report.table, "count"), count_matrix(report.table, "share")
    table = Table(title=f"{report.corpus} ({report.task}): items per class and portion")
    table.add_column("class")
    for portion in counts.columns:
        table.add_column(portion, justify="right")
    for name in counts.index:
        table.add_row(name, *(f"{int(counts.at[name, p])} ({shares.at[name, p]:.1%})"
                              for p in counts.columns))
    table.add_section()
    table.add_row("total", *(str(int(counts[p].sum())) for p in counts.columns))
    return table


def summary_tables(report: LabelReport) -> list[Table]:
    """One table per dimension: a row per statistic, a column per portion and scale."""
    statistics = ("items", "count", "mean", "std", "min", *(f"p{q}" for q in PERCENTILES), "max")
    frame = report.table
    tables = []
    for dimension in dict.fromkeys(frame["dimension"]):
        rows = frame[frame["dimension"] == dimension]
        columns = [(scale, row) for scale in SCALES
                   for row in rows[rows["scale"] == scale].itertuples(index=False)]
        title = f"{report.corpus} ({report.task}): {dimension}"
        if any(scale == NORMALISED for scale, _ in columns):
            title += " (z: normalised with the train mean/std)"
        table = Table(title=title)
        table.add_column("statistic")
        for scale, row in columns:
            table.add_column(row.portion + (" z" if scale == NORMALISED else ""), justify="right")
        for name in statistics:
            if name == "mean":
                table.add_section()
            cells = [str(getattr(row, name)) if name in ("items", "count")
                     else f"{getattr(row, name):.3f}" for _, row in columns]
            table.add_row("frames" if name == "count" else name, *cells)
        tables.append(table)
    return tables


@report_user_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = command_console()
    corpus = open_corpus(args.corpus, args.data_dir)
    task = resolve_task(corpus, args.task)
    report = build_report(corpus, task)
    for skip in report.skips:
        console.print(f"[yellow]skipped[/] {escape(str(skip))}", soft_wrap=True)
    if report.table.empty:
        raise UserError(f"corpus {corpus.name} ({task}): no readable labels",
                        "every label file was skipped; see the reasons above")
    output_dir = args.output_dir or Path("reports") / f"{corpus.name}-{task}"
    written = write_report(report, output_dir)
    if task == CATEGORICAL:
        console.print(counts_table(report))
    else:
        for table in summary_tables(report):
            console.print(table)
        fit = normalisation_summary(report.normalisation, report.frames.dimensions)
        if fit:
            console.print("normalisation fit on train only: " + ", ".join(
                f"{d} mean {m:.4f} std {s:.4f}" for d, (m, s) in fit.items()))
        else:
            console.print("[yellow]no readable train frames: normalised statistics omitted[/]")
        if report.skips:
            console.print(f"[yellow]{len(report.skips)} items skipped[/] (see above)")
    console.print(f"written: {escape(str(written['csv']))}, {escape(str(written['png']))}",
                  soft_wrap=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
