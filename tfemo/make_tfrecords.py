#!/usr/bin/env python
"""Write a corpus as partitioned TFRecords: aligned 40 ms audio frames, word vectors and labels.

With no arguments it writes the embedded demo corpus (generated with espeak-ng on first use)
to tfrecords/{train,devel,test}/ and prints a summary of what was written.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import shlex
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tfemo.audio.features import FEATURE_FAMILIES, parse_families
from tfemo.core import storage
from tfemo.core.cli import output_folder, report_user_errors, stopped_by_strict
from tfemo.core.config_file import parse_with_config
from tfemo.core.console import command_console, command_progress
from tfemo.core.errors import InputError, UserError
from tfemo.core.flags import config_flags, strict_flags
from tfemo.corpora import CORPUS_NAMES, open_corpus, resolve_task
from tfemo.corpora.base import TASKS, Corpus, Item
from tfemo.corpora.merged import MergedCorpus, open_sources
from tfemo.corpora.partition import PROTOCOLS, make_folds, parse_split
from tfemo.records.build import (
    MakeOptions,
    RunReport,
    Skip,
    check_local_output,
    make_tfrecords,
)
from tfemo.records.description import DatasetDescription
from tfemo.records.example import ALIGNMENTS
from tfemo.text.recognised import recognise_items
from tfemo.text.transcription import has_recogniser
from tfemo.text.transcripts import apply_transcripts, has_transcript, read_transcripts

RUNNERS = ("local", "beam")
ASR_CSV = "transcripts-asr.csv"
STAGING = ("auto", "yes", "no")


def corpus_argument(text: str) -> str:
    """A `--corpus` value: a reader's name, or NAME=PATH (checked when the corpus opens)."""
    if "=" not in text and text not in CORPUS_NAMES:
        raise argparse.ArgumentTypeError(
            f"no such corpus (choose from {', '.join(CORPUS_NAMES)}, or give NAME=PATH)")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (every option documented in --help)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        parents=[strict_flags("input"), config_flags()])
    parser.add_argument("--corpus", action="append", default=None, type=corpus_argument,
                        help=f"corpus to read: one of {', '.join(CORPUS_NAMES)} (default demo) "
                             "with --data_dir; or, repeated, NAME=PATH for several corpora in "
                             "one set of records (a reader's name, e.g. emodb=data/emodb, or "
                             "any name for a manifest CSV, e.g. emovo=data/emovo.csv): "
                             "speakers become NAME/<speaker>")
    parser.add_argument("--label_map", type=Path, default=None,
                        help="TOML mapping each corpus's labels onto one class set, one table "
                             "per corpus name ([emovo] then angry = \"angry\"); a class "
                             "without a mapping is dropped and reported")
    parser.add_argument("--data_dir", type=Path, default=None,
                        help="the corpus folder as distributed (manifest: the manifest CSV; "
                             "demo: the generated cache folder, made on first use when omitted)")
    parser.add_argument("--output_dir", type=storage.location, default=Path("tfrecords"),
                        help="where <portion>/<name>-<shard>-of-<n>.tfrecord and "
                             "description.json go: a local folder, or with --runner beam a "
                             "tf.io.gfile URL such as gs://bucket/records")
    parser.add_argument("--task", choices=TASKS, default=None,
                        help="continuous: per-frame arousal/valence (and annotator ratings) per "
                             "recording; categorical: one class label per utterance "
                             "(default: the corpus's own default)")
    parser.add_argument("--alignment", choices=ALIGNMENTS, default="auto",
                        help="word timings: corpus = the corpus's own, aeneas = forced "
                             "alignment, uniform = spread over the speech; auto = corpus "
                             "timings where present, aeneas elsewhere")
    parser.add_argument("--transcripts", default="corpus",
                        help="where the words come from: corpus = the corpus's own "
                             "transcripts; asr = also recognise the words of items without "
                             "one (pocketsphinx, English; written to <output_dir>/"
                             f"{ASR_CSV} and reused when run again); or a CSV from any "
                             "recogniser (path,transcript or path,word,start,end; paths "
                             "relative to the CSV), which replaces the corpus's transcripts "
                             "of the files it lists")
    parser.add_argument("--language", default=None,
                        help="the language of the audio (ISO 639-3, e.g. eng, deu), instead of "
                             "the corpus's own: the recogniser knows English only")
    parser.add_argument("--embeddings", default="spacy-md",
                        help="word vectors: spacy-md (offline en_core_web_md, 300-d), a "
                             "word2vec/GloVe/fastText file read with gensim, or none")
    parser.add_argument("--features", default="",
                        help="hand-crafted per-frame features to store, comma-separated from "
                             f"{', '.join(FEATURE_FAMILIES)}; 'all' for all of these; the "
                             "openSMILE LLDs egemaps, compare, compare_de by name only "
                             "(pip install 'tfemo[opensmile]')")
    parser.add_argument("--labels", type=Path, default=None,
                        help="folder of <item id>.csv gold standards (tools/make_gold_standard.py) "
                             "used instead of the corpus's own continuous labels")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes building examples in parallel")
    parser.add_argument("--runner", choices=RUNNERS, default="local",
                        help="local: this machine's process pool; beam: an Apache Beam pipeline "
                             "(DirectRunner with --workers processes unless --beam_options name "
                             "another runner; docs/scaling.md); both write the same files")
    parser.add_argument("--beam_options", default="",
                        help="Beam pipeline options for --runner beam, one string after "
                             "'=', e.g. --beam_options=\"--runner FlinkRunner --flink_master "
                             "H:8081\" (docs/scaling.md)")
    parser.add_argument("--stage_inputs", choices=STAGING, default="auto",
                        help="--runner beam: copy each item's audio (and read its labels) into "
                             "the staging folder in --output_dir, so that workers that cannot "
                             "see the corpus (Dataflow) can build it; auto: when --output_dir "
                             "is a URL")
    parser.add_argument("--examples_per_shard", type=int, default=0,
                        help="examples per shard (0: 8 recordings or 256 utterances)")
    parser.add_argument("--name", default="",
                        help="name used in the shard file names (default: the corpus name)")
    parser.add_argument("--partition", choices=PROTOCOLS, default="official",
                        help="official: the corpus's own portions; loso, kfold-by-speaker, "
                             "sessions and leave-one-corpus-out write one partition per fold "
                             "in <output_dir>/fold-NN/ (ids and train statistics: the examples "
                             "are written once); fixed-speakers and fixed-corpora use --split")
    parser.add_argument("--folds", type=int, default=0, help="k of kfold-by-speaker")
    parser.add_argument("--split", default="",
                        help="fixed-speakers: 'train=03,08;devel=12;test=15'; fixed-corpora: "
                             "'train=emodb,emovo;test=casia'")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of kfold-by-speaker's speaker shuffle")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parse_with_config(parser, argv)


def summary_table(description: DatasetDescription, output_dir: storage.Location) -> Table:
    """Per portion: examples, speakers, minutes, frames, shards and skipped items."""
    table = Table(title=f"{description.name} ({description.task}) -> {output_dir}")
    for column in ("portion", "examples", "speakers", "minutes", "frames", "shards", "skipped"):
        table.add_column(column, justify="left" if column == "portion" else "right")
    for portion, entry in description.portions.items():
        skipped = description.skipped.get(portion, {})
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items()))
        table.add_row(portion, str(entry["examples"]), str(len(entry["speakers"])),
                      f"{entry['seconds'] / 60:.1f}", str(entry["frames"]),
                      str(len(entry["files"])), reasons or "0")
    return table


def fold_table(results: list) -> Table:
    """One row per fold: its folder and the speakers it develops and tests on."""
    table = Table(title="folds (each trains on the remaining speakers)")
    for column in ("fold", "output", "devel speakers", "test speakers", "train examples"):
        table.add_column(column)
    for fold, output_dir, description in results:
        table.add_row(fold.name, str(output_dir), ", ".join(fold.speakers("devel")),
                      ", ".join(fold.speakers("test")),
                      str(description.portions.get("train", {}).get("examples", 0)))
    return table


def print_summary(console: Console, description: DatasetDescription, report: RunReport,
                  output_dir: storage.Location) -> None:
    """The final summary: words and alignment, features, labels, and what this run did."""
    oov = description.oov
    if description.word_dim:
        console.print(f"word vectors: {description.word_vectors} ({description.word_dim}-d); "
                      f"{oov['word_tokens']} word tokens, out of vocabulary: {oov['types']} "
                      f"types, {oov['tokens']} tokens (deterministic vectors)")
        console.print("alignment: " + ", ".join(
            f"{method} {n}" for method, n in description.alignment.items()))
    elif description.extra.get("embeddings_option", "") != "none":
        console.print("words: none (no item has a transcript): --transcripts asr recognises "
                      "English speech, --transcripts FILE.csv gives any recogniser's words")
    if description.features:
        console.print("features: " + ", ".join(
            f"{name} ({dim})" for name, dim in description.features.items())
            + f" = {description.feature_dim} per frame")
    console.print(f"labels: {', '.join(description.label_names)}"
                  + (f"; raters: {', '.join(description.raters)}" if description.raters else ""))
    console.print(f"examples written once to {storage.join(output_dir, 'examples')}; each "
                  "partition's description (its ids and statistics fit on train only): "
                  + ", ".join(str(storage.join(folder, "description.json"))
                              for _, folder, _ in report.views))
    console.print(f"this run: {report.written_shards} shards written, {report.reused_shards} "
                  f"already complete, {report.wall_seconds:.1f} s")


def open_sources_or_corpus(args: argparse.Namespace) -> Corpus:
    """One reader (`--corpus NAME --data_dir DIR`) or several (`--corpus NAME=PATH` ...)."""
    given = args.corpus or ["demo"]
    if len(given) == 1 and "=" not in given[0] and args.label_map is None:
        if given[0] not in CORPUS_NAMES:
            raise UserError(f"--corpus {given[0]}: no such corpus",
                            f"choose from {', '.join(CORPUS_NAMES)}, or give NAME=PATH")
        return open_corpus(given[0], args.data_dir)
    if args.data_dir is not None:
        raise UserError("--data_dir goes with one --corpus NAME",
                        "give each corpus as --corpus NAME=PATH")
    if not all("=" in text for text in given):
        raise UserError("with several corpora (or --label_map) give each as NAME=PATH")
    return open_sources(given, args.label_map)


def with_transcripts(items: list[Item], args: argparse.Namespace, console: Console
                     ) -> list[Item]:
    """The items in `--language`, with the words `--transcripts` gives them."""
    if args.language:
        items = [dataclasses.replace(item, language=args.language) for item in items]
    if args.transcripts == "corpus":
        return items
    if args.transcripts != "asr":
        table = read_transcripts(Path(args.transcripts))
        given = apply_transcripts(items, table)
        matched = sum(table.get(item.audio_path) is not None for item in items)
        console.print(f"transcripts: {matched} of {len(items)} items from {args.transcripts}")
        if not matched:
            raise UserError(f"--transcripts {args.transcripts}: no path in it is an audio file "
                            "of the corpus", "give paths relative to the CSV's folder")
        return given
    if storage.is_url(args.output_dir):
        raise UserError("--transcripts asr keeps the recognised words beside local records",
                        "recognise into a local --output_dir, or give --transcripts FILE.csv")
    lacking = [item for item in items if not has_transcript(item)]
    if lacking and not any(has_recogniser(item.language) for item in lacking):
        raise UserError(f"--transcripts asr: the recogniser knows English only, and the "
                        f"{len(lacking)} items without a transcript are in "
                        f"{', '.join(sorted({i.language for i in lacking}))}",
                        "give their transcripts as --transcripts FILE.csv "
                        "(path,transcript), or --language if the corpus is English")
    Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    with command_progress(console, "recognising words", len(lacking),
                          quiet=args.quiet) as advance:
        table, report = recognise_items(lacking, Path(args.output_dir) / ASR_CSV,
                                        workers=args.workers, on_progress=advance)
    console.print(f"transcripts: {report.recognised} items recognised, {report.reused} taken "
                  f"from {Path(args.output_dir) / ASR_CSV}, {len(items) - len(lacking)} the "
                  "corpus's own")
    if report.other_language:
        console.print(f"[yellow]no transcript[/] for {len(report.other_language)} items in "
                      "another language than English (skipped when built): e.g. "
                      f"{report.other_language[0].audio_path}")
    return apply_transcripts(items, table, replace=False)


def print_sources(console: Console, corpus: Corpus) -> None:
    """Per corpus of several: items per class, and the classes the label map dropped."""
    if not isinstance(corpus, MergedCorpus):
        return
    for name, entry in corpus.summary().items():
        console.print(f"{name}: " + ", ".join(f"{c} {n}" for c, n in entry["classes"].items())
                      + ("; dropped: " + ", ".join(f"{c} {n}" for c, n in
                                                   entry["dropped"].items())
                         if entry["dropped"] else ""))


@report_user_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.runner == "local":
        check_local_output(args.output_dir)
        if args.stage_inputs != "auto":
            raise UserError("--stage_inputs works with --runner beam only",
                            "the local runner reads the corpus where it is")
    output_folder(args.output_dir, "--output_dir")
    console = command_console()
    try:
        corpus = open_sources_or_corpus(args)
        task = resolve_task(corpus, args.task)
        options = MakeOptions(task=task, alignment=args.alignment, embeddings=args.embeddings,
                              examples_per_shard=args.examples_per_shard, name=args.name,
                              features=parse_families(args.features),
                              labels=str(args.labels or ""))
        items = with_transcripts(corpus.items(task), args, console)
        folds = make_folds(items, args.partition, folds=args.folds, seed=args.seed,
                           split=parse_split(args.split))
        command = ["tools/make_tfrecords.py", *(argv if argv is not None else sys.argv[1:])]
        with command_progress(console, f"{corpus.name} -> {args.output_dir}", len(items),
                              quiet=args.quiet) as advance:

            def report_skip(skip: Skip) -> None:
                console.print(f"[yellow]skipped[/] {skip.path}: {skip.reason}"
                              + (f" ({skip.detail})" if skip.detail else ""))

            write = make_tfrecords
            if args.runner == "beam":  # imported here: apache-beam is the `beam` extra
                from tfemo.records.beam_pipeline import make_tfrecords_beam

                stage = {"auto": None, "yes": True, "no": False}[args.stage_inputs]
                write = functools.partial(make_tfrecords_beam,
                                          beam_options=shlex.split(args.beam_options),
                                          stage_inputs=stage)
            _, report = write(
                corpus, args.output_dir, options, workers=args.workers, strict=args.strict,
                command=command, items=items, folds=folds,
                on_progress=advance, on_skip=report_skip)
    except InputError as error:
        if not args.strict:
            raise
        raise stopped_by_strict(error) from None  # the shards already finished are kept
    print_sources(console, corpus)
    for _, output_dir, description in report.views:
        console.print(summary_table(description, output_dir))
    print_summary(console, report.views[-1][2], report, args.output_dir)
    if len(report.views) > 1:
        console.print(fold_table(report.views))
    return 0


if __name__ == "__main__":
    sys.exit(main())
