#!/usr/bin/env python
"""Show and save a corpus's speaker-independent partition: one row per item and fold.

    python tools/make_partition.py --corpus emodb --data_dir ../shared/data/emodb --partition loso

Writes <output> (CSV: fold, id, speaker, portion) and prints, per fold, the speakers and item
counts of each portion. tools/make_tfrecords.py takes the same --partition options.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from rich.table import Table

from tfemo.core.cli import report_user_errors
from tfemo.core.console import command_console
from tfemo.core.storage import write_atomic
from tfemo.corpora import CORPUS_NAMES, open_corpus, resolve_task
from tfemo.corpora.base import PORTIONS, TASKS
from tfemo.corpora.partition import PROTOCOLS, check_speaker_independent, make_folds, parse_split


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Every flag, documented in --help (the same partition flags as make_tfrecords)."""
    parser = argparse.ArgumentParser(prog="python -m tfemo.make_partition", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="demo", choices=CORPUS_NAMES, help="corpus reader")
    parser.add_argument("--data_dir", type=Path, default=None,
                        help="the corpus folder as distributed (manifest: the CSV)")
    parser.add_argument("--task", choices=TASKS, default=None,
                        help="task (default: the corpus's own)")
    parser.add_argument("--partition", choices=PROTOCOLS, default="official",
                        help="partition protocol")
    parser.add_argument("--folds", type=int, default=0, help="kfold: number of folds")
    parser.add_argument("--split", default="",
                        help="fixed-speakers: 'train=03,08;devel=12;test=15'")
    parser.add_argument("--seed", type=int, default=0, help="kfold: seed of the speaker shuffle")
    parser.add_argument("--output", type=Path, default=None,
                        help="CSV to write (default: partition-<corpus>-<partition>.csv)")
    return parser.parse_args(argv)


@report_user_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = command_console()
    corpus = open_corpus(args.corpus, args.data_dir)
    folds = make_folds(corpus.items(resolve_task(corpus, args.task)), args.partition,
                       folds=args.folds, seed=args.seed, split=parse_split(args.split))
    for fold in folds:
        if corpus.speaker_independent:
            check_speaker_independent(fold.items, corpus.name)
    if not corpus.speaker_independent:
        console.print(f"[bold red]warning[/] {corpus.name} cannot be split by speaker: "
                      "scores on it are speaker-dependent")
    output = args.output or Path(f"partition-{corpus.name}-{args.partition}.csv")
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["fold", "id", "speaker", "portion"])
    for fold in folds:
        writer.writerows([fold.name, i.id, i.speaker, i.portion] for i in fold.items)
    write_atomic(output, rows.getvalue())
    table = Table(title=f"{corpus.name}: {args.partition} ({len(folds)} fold(s)) -> {output}")
    table.add_column("fold")
    for portion in PORTIONS:
        table.add_column(f"{portion} speakers")
        table.add_column("items", justify="right")
    for fold in folds:
        cells = []
        for portion in PORTIONS:
            cells += [", ".join(fold.speakers(portion)),
                      str(sum(i.portion == portion for i in fold.items))]
        table.add_row(fold.name or "-", *cells)
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
