#!/usr/bin/env python
"""Show and save a corpus's speaker-independent partition, or add one to existing records.

    python tools/make_partition.py --corpus emodb --data_dir ../shared/data/emodb --partition loso
    python tools/make_partition.py --tfrecords tfrecords/emodb --partition kfold-by-speaker \
        --folds 5 --output_dir tfrecords/emodb/kfold5

Without --tfrecords it reads the corpus and writes <output> (CSV: fold, id, speaker,
portion). With --tfrecords it adds the partition to records made by tools/make_tfrecords.py:
one description.json per fold (its ids and its train-only statistics, from the statistics
stored with the records) in --output_dir (default: the records folder), in seconds and
without reading audio; `tfemo.train --tfrecords <output_dir>` then trains one model per fold.
Either way it prints, per fold, the speakers and item counts of each portion.
tools/make_tfrecords.py takes the same --partition options.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tfemo.core import storage
from tfemo.core.cli import report_user_errors
from tfemo.core.config_file import parse_with_config
from tfemo.core.console import command_console
from tfemo.core.errors import UserError
from tfemo.core.flags import config_flags
from tfemo.core.storage import write_atomic
from tfemo.corpora import CORPUS_NAMES, open_corpus, resolve_task
from tfemo.corpora.base import PORTIONS, TASKS
from tfemo.corpora.partition import (
    PROTOCOLS,
    Fold,
    check_speaker_independent,
    make_folds,
    parse_split,
)
from tfemo.records.partitions import read_all_entries, write_partition
from tfemo.records.plan import read_records_file


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Every flag, documented in --help (the same partition flags as make_tfrecords)."""
    parser = argparse.ArgumentParser(prog="python -m tfemo.make_partition", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     parents=[config_flags()])
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
                        help="CSV to write (default without --tfrecords: "
                             "partition-<corpus>-<partition>.csv)")
    parser.add_argument("--tfrecords", type=Path, default=None,
                        help="records made by tools/make_tfrecords.py: add the partition to "
                             "them instead of reading the corpus")
    parser.add_argument("--output_dir", type=Path, default=None,
                        help="with --tfrecords: where the partition goes (description.json, "
                             "or fold-NN/description.json per fold; default: the records)")
    return parse_with_config(parser, argv)


def _from_corpus(args: argparse.Namespace, console: Console) -> tuple[list[Fold], str, Path]:
    """The corpus's folds, checked, written as one CSV."""
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
    _write_csv(output, folds)
    return folds, corpus.name, output


def _add_to_records(args: argparse.Namespace) -> tuple[list[Fold], str, Path]:
    """The folds over the records' items, each written as a view of the records."""
    if args.data_dir is not None or args.task is not None:
        raise UserError("--tfrecords takes the items from the records",
                        "leave out --data_dir and --task")
    base = read_records_file(args.tfrecords)
    entries = read_all_entries(args.tfrecords, base)
    folds = make_folds(entries.items(base.corpus), args.partition, folds=args.folds,
                       seed=args.seed, split=parse_split(args.split))
    output_dir = args.output_dir or args.tfrecords
    if len(folds) > 1 and storage.exists(storage.join(output_dir, "description.json")):
        raise UserError(f"{output_dir}: holds a single partition, which would hide the folds "
                        "from tfemo.train", "give another --output_dir, e.g. "
                        f"{Path(output_dir) / args.partition}")
    written = write_partition(args.tfrecords, folds, output_dir, base=base, entries=entries)
    if args.output is not None:
        _write_csv(args.output, folds)
    return folds, base.corpus, written[0][1] if len(written) == 1 else output_dir


def _write_csv(output: Path, folds: list[Fold]) -> None:
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["fold", "id", "speaker", "portion"])
    for fold in folds:
        writer.writerows([fold.name, i.id, i.speaker, i.portion] for i in fold.items)
    write_atomic(output, rows.getvalue())


@report_user_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = command_console()
    if args.tfrecords is not None:
        folds, name, output = _add_to_records(args)
    else:
        folds, name, output = _from_corpus(args, console)
    table = Table(title=f"{name}: {args.partition} ({len(folds)} fold(s)) -> {output}")
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
