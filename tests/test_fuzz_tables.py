"""Fuzzing label and rating CSVs (hypothesis; profiles in conftest.py).

A good label file (time, arousal, valence and two raters per dimension, one row per 40 ms
frame of a 1 s recording) is mutated: NaN or infinite cells, missing and extra rows,
non-numeric cells, a wrong rater count, a ragged or unordered time column. Entry points: the
manifest's label reader (read_label_file), example building as make_tfrecords does it, the
CSV lists of tfemo.predict and the gold-standard tool. Property: no crash; a mutation that
must break the file makes it an InputError naming it; an untouched file is always used.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import soundfile
from hypothesis import given
from hypothesis import strategies as st

from tfemo.core.errors import InputError, TfemoError
from tfemo.corpora.base import Item
from tfemo.corpora.manifest import ManifestCorpus, read_label_file
from tfemo.labels.gold_standard import Variant, make_gold_standards
from tfemo.records.example import BuildOptions, build_example

FRAMES = 25  # a 1 s recording
DIMENSIONS = ("arousal", "valence")
RATERS = ("r1", "r2")
HEADER = ["time", *DIMENSIONS, *(f"{d}_{r}" for d in DIMENSIONS for r in RATERS)]
# mutations that always make a file unusable, and those that may or may not
BREAKING = ("nan", "inf", "non-numeric", "empty cell", "ragged row", "rater missing",
            "extra rater", "time backwards")
MAYBE = ("rows missing", "rows added", "rows duplicated", "rows shuffled")


def good_rows(seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    values = rng.uniform(-1, 1, size=(FRAMES, len(HEADER) - 1))
    return [[f"{0.04 * i:.2f}", *(f"{v:.4f}" for v in row)] for i, row in enumerate(values)]


ROW_OPS = ("rows missing", "rows added", "rows duplicated", "rows shuffled")
COLUMN_OPS = ("rater missing", "extra rater")


@st.composite
def label_tables(draw) -> tuple[str, list[str]]:
    """(CSV text, the mutations applied): row changes, then columns, then cells, so that a
    breaking mutation is never undone by a later one."""
    rows = good_rows(draw(st.integers(0, 1000)))
    header = list(HEADER)
    chosen = draw(st.lists(st.sampled_from(BREAKING + MAYBE), max_size=3, unique=True))
    order = ROW_OPS + COLUMN_OPS
    chosen.sort(key=lambda m: order.index(m) if m in order else len(order))
    applied = []
    for mutation in chosen:
        r = draw(st.integers(0, len(rows) - 1))
        c = draw(st.integers(1, len(header) - 1))
        if mutation in ("nan", "inf", "non-numeric", "empty cell"):
            rows[r][c] = {"nan": draw(st.sampled_from(["nan", "NaN", "-nan"])),
                          "inf": draw(st.sampled_from(["inf", "-inf", "1e999"])),
                          "non-numeric": draw(st.sampled_from(["abc", "0;5", "1.2.3", "--"])),
                          "empty cell": ""}[mutation]
        elif mutation == "ragged row":
            rows[r] = rows[r] + ["0.1"] if draw(st.booleans()) else rows[r][:-1]
        elif mutation == "rater missing":
            drop = header.index(f"valence_{RATERS[-1]}")
            header.pop(drop)
            rows = [row[:drop] + row[drop + 1:] for row in rows]
        elif mutation == "extra rater":
            header += ["arousal_r3", "valence_r3"]
            rows = [row + ["0.0", "0.0"] for row in rows]
        elif mutation == "time backwards":
            if len(rows) < 2:
                continue
            k = max(1, r)
            rows[k][0] = f"{float(rows[k - 1][0]) - 0.01:.3f}"
        elif mutation == "rows missing":
            keep = draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows)))
            rows = [row for row, k in zip(rows, keep, strict=True) if k] or rows[:1]
        elif mutation == "rows added":
            last = float(rows[-1][0])
            rows += [[f"{last + 0.04 * (i + 1):.2f}", *rows[-1][1:]]
                     for i in range(draw(st.integers(1, 30)))]
        elif mutation == "rows duplicated":
            rows.insert(r, list(rows[r]))
        elif mutation == "rows shuffled":
            permutation = draw(st.permutations(range(len(rows))))
            rows = [rows[i] for i in permutation]
        applied.append(mutation)
    text = "\n".join(",".join(row) for row in [header, *rows]) + "\n"
    return text, applied


def _breaks(mutations: list[str]) -> bool:
    return any(m in BREAKING for m in mutations)


@pytest.fixture(scope="module")
def audio(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "one_second.wav"
    t = np.arange(16000) / 16000
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), 16000)
    return path


def _label_file(folder: Path, text: str, name: str = "labels.csv") -> Path:
    path = folder / name
    path.write_text(text)
    return path


@given(table=label_tables())
def test_label_reader_reads_or_names_the_file(tmp_path_factory, table):
    text, mutations = table
    path = _label_file(tmp_path_factory.mktemp("l"), text)
    try:
        trace = read_label_file(path, DIMENSIONS, RATERS)
    except InputError as error:
        assert error.path == str(path), error
        assert mutations, f"an untouched file was refused: {error}"
        return
    assert not _breaks(mutations), f"a broken file was read: {mutations}"
    assert np.isfinite(trace.values).all() and np.isfinite(trace.ratings).all()
    assert (np.diff(trace.times) > 0).all()
    assert trace.ratings.shape == (len(trace.times), len(DIMENSIONS), len(RATERS))


@given(table=label_tables())
def test_examples_are_built_or_the_label_file_is_named(tmp_path_factory, audio, table):
    text, mutations = table
    path = _label_file(tmp_path_factory.mktemp("x"), text)
    item = Item(id="x", speaker="s", corpus="fuzz", portion="train", audio_path=audio,
                load_trace=functools.partial(read_label_file, path, DIMENSIONS, RATERS),
                label_files=(path,))
    options = BuildOptions(task="continuous", dimensions=DIMENSIONS, raters=RATERS)
    try:
        result = build_example(item, options, {})
    except InputError as error:
        assert error.path == str(path), error
        assert mutations, f"an untouched file was refused: {error}"
        return
    assert not _breaks(mutations), f"a broken file was used: {mutations}"
    assert result.example.labels.shape == (FRAMES, len(DIMENSIONS))
    assert np.isfinite(result.example.ratings).all()


def _rated_manifest(folder: Path, audio: Path, texts: list[str]) -> Path:
    rows = ["path,speaker,labels,portion"]
    for k, text in enumerate(texts):
        _label_file(folder, text, f"rec{k}.csv")
        (folder / f"rec{k}.wav").write_bytes(audio.read_bytes())
        rows.append(f"rec{k}.wav,s{k},rec{k}.csv,train")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


@given(table=label_tables())
def test_gold_standards_skip_a_bad_rating_file_by_name(tmp_path_factory, audio, table):
    text, mutations = table
    folder = tmp_path_factory.mktemp("g")
    good = [label_tables_good(seed) for seed in (1, 2)]
    manifest = _rated_manifest(folder, audio, [*good, text])  # the fuzzed file comes last
    run = make_gold_standards(ManifestCorpus(manifest), [Variant("mean", "mean"),
                                                         Variant("ewe", "ewe")],
                              folder / "gold", features=())
    written = sorted(p.name for p in (folder / "gold" / "mean").iterdir())
    assert {"rec0.csv", "rec1.csv"} <= set(written)
    skipped = " ".join(str(s) for s in run.skips)
    if "rec2.csv" not in written:
        assert str(folder / "rec2.csv") in skipped, skipped
        assert mutations
    else:
        assert not _breaks(mutations) and not skipped
    for name in written:
        gold = np.loadtxt(folder / "gold" / "ewe" / name, delimiter=",", skiprows=1)
        assert np.isfinite(gold).all() and len(gold) == FRAMES


def label_tables_good(seed: int) -> str:
    return "\n".join(",".join(row) for row in [HEADER, *good_rows(seed)]) + "\n"


CELLS = st.text(st.characters(blacklist_characters=',"\r\n', blacklist_categories=("Cs",)),
                min_size=1, max_size=12).filter(str.strip)


@given(cells=st.lists(CELLS, min_size=1, max_size=8),
       header=st.sampled_from(["path", "path,transcript", "transcript", "file,path,x"]),
       encoding=st.sampled_from(["utf-8", "utf-8", "latin-1", "utf-16"]))
def test_predict_csv_lists_give_requests_or_name_the_list(tmp_path_factory, cells, header,
                                                          encoding):
    from tfemo.inference.requests import read_request_csv

    path = tmp_path_factory.mktemp("c") / "list.csv"
    width = len(header.split(","))
    lines = [header] + [",".join([cell] * width) for cell in cells]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding, errors="replace"))
    try:
        requests = read_request_csv(path)
    except TfemoError as error:
        assert str(path) in str(error)
        return
    assert "path" in header.split(","), "a list without a path column was accepted"
    assert len(requests) == len(cells)  # every row is a file to label
