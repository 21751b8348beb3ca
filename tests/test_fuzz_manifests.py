"""Fuzzing CSV manifests (tfemo.corpora.manifest) through make_tfrecords (hypothesis).

A manifest of good rows is mutated: a required column missing, rows naming files that do not
exist, duplicate ids, non-UTF-8 bytes, paths with spaces and non-ASCII characters, empty cells.
Property: a manifest-level fault is an InputError naming the manifest; otherwise every row
whose audio exists is written, and every row whose audio is missing is a skip naming its file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st

from tfemo.core.errors import InputError
from tfemo.corpora.base import CATEGORICAL
from tfemo.corpora.manifest import ManifestCorpus
from tfemo.records.build import MakeOptions, make_tfrecords
from tfemo.records.partitions import read_portion

NAMES = st.sampled_from(["a", "b c", "été", "日本語", "emoji 😀", "x-1", "tab\tname", "ß ü"])
MANIFEST_FAULTS = ("missing column", "duplicate id", "non-UTF-8", "empty cell", "bad portion")


def few() -> settings:
    """Fewer examples than the profile's (each one writes records)."""
    return settings(settings.default, max_examples=max(4, settings.default.max_examples // 3))


def _wav(path: Path, seconds: float = 0.3) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * 16000)) / 16000
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)


@st.composite
def manifests(draw) -> dict:
    """Rows (path, speaker, label, portion, exists) and the faults put in."""
    stems = draw(st.lists(NAMES, min_size=2, max_size=5, unique=True))
    rows = []
    for k, stem in enumerate(stems):
        folder = draw(st.sampled_from(["", "sub dir/", "données/"]))
        rows.append({"path": f"{folder}{stem}.wav", "speaker": f"s{k}", "label": "ab"[k % 2],
                     "portion": ("train", "devel", "test")[k % 3],
                     "exists": not draw(st.booleans()) or k == 0})
    faults = draw(st.lists(st.sampled_from(MANIFEST_FAULTS), max_size=2, unique=True))
    return {"rows": rows, "faults": faults, "drop": draw(st.sampled_from(
        ["path", "speaker", "label", "portion"])), "seed": draw(st.integers(0, 99))}


def _write_manifest(folder: Path, case: dict) -> Path:
    columns = ["path", "speaker", "label", "portion"]
    rows = [dict(r) for r in case["rows"]]
    if "duplicate id" in case["faults"]:
        rows.append({**rows[0], "path": rows[0]["path"][:-4] + ".flac", "speaker": "s9"})
    if "empty cell" in case["faults"]:
        rows[-1]["speaker"] = ""
    if "bad portion" in case["faults"]:
        rows[-1]["portion"] = "validation"
    if "missing column" in case["faults"]:
        columns.remove(case["drop"])
    for row in case["rows"]:
        if row["exists"]:
            _wav(folder / row["path"])
    text = "\n".join([",".join(columns)] + [",".join(r[c] for c in columns) for r in rows])
    data = (text + "\n").encode("utf-8")
    if "non-UTF-8" in case["faults"]:
        data = data.replace(b"s0", b"s\xff\xfe0", 1)
    manifest = folder / "manifest.csv"
    manifest.write_bytes(data)
    return manifest


@few()
@given(case=manifests())
def test_manifests_are_refused_by_name_or_every_good_row_is_written(tmp_path_factory, case):
    folder = tmp_path_factory.mktemp("m")
    manifest = _write_manifest(folder, case)
    try:
        corpus = ManifestCorpus(manifest)
        items = corpus.items(CATEGORICAL)
    except InputError as error:
        assert error.path == str(manifest), error
        assert case["faults"], f"a good manifest was refused: {error}"
        return
    assert not case["faults"], f"a manifest with {case['faults']} was accepted"
    skips = []
    description, _ = make_tfrecords(corpus, folder / "records",
                                    MakeOptions(task=CATEGORICAL, embeddings="none"),
                                    on_skip=skips.append, items=items)
    written = {e.id for p in description.portions
               for e in read_portion(folder / "records", p)}
    expected = {r["path"][:-4] for r in case["rows"] if r["exists"]}
    assert written == expected
    named = {s.path for s in skips}
    assert named == {str(folder / r["path"]) for r in case["rows"] if not r["exists"]}
    assert {s.reason for s in skips} <= {"missing audio"}
