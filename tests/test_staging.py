"""tfemo.records.staging: a staged item builds the same bytes, and fails with the same error,
as the item read from the corpus, once the corpus is gone (staged to ram://, in-process)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from tfemo.core import storage
from tfemo.core.errors import InputError
from tfemo.corpora.base import CONTINUOUS
from tfemo.corpora.demo import TINY_CONFIG, DemoCorpus, ensure_demo_corpus
from tfemo.records.example import build_serialized
from tfemo.records.plan import MakeOptions, plan_run
from tfemo.records.staging import build_staged, stage_items


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return ensure_demo_corpus(TINY_CONFIG, root=tmp_path_factory.mktemp("demo") / "tiny")


def _outcome(outcome):
    """What a run keeps of a build: the bytes, or the error's path, reason and detail."""
    if isinstance(outcome, InputError):
        return ("error", outcome.path, outcome.reason, outcome.detail)
    return ("example", outcome[0])


def test_staged_items_build_alike_without_the_corpus(tiny_root, tmp_path):
    root = tmp_path / "corpus"
    shutil.copytree(tiny_root, root)
    corpus = DemoCorpus(root)
    run = plan_run(corpus, MakeOptions(task=CONTINUOUS, embeddings="none", features=("zcr",)))
    assert len(run.items) == 3  # one session a portion, each with its labels file
    missing = dataclasses.replace(run.items[2], id="gone", audio_path=root / "gone.wav")
    items = [*run.items, missing]
    items[0].audio_path.write_bytes(b"RIFF" + bytes(range(256)) * 4)  # corrupt audio
    items[1].label_files[0].write_text("time,arousal\n0.0,oops\n")  # bad labels
    expected = [_outcome(build_serialized(i, run.build_options, run.table)) for i in items]
    assert [e[0] for e in expected] == ["error", "error", "example", "error"]
    assert [expected[k][2] for k in (0, 1, 3)] == ["corrupt audio", "bad labels",
                                                   "missing audio"]

    folder = f"ram://staging-test-{tmp_path.name}/inputs"
    staged = stage_items(items, folder)
    assert staged[3].audio is None and isinstance(staged[1].trace, InputError)
    assert storage.name(staged[2].audio) == items[2].audio_path.name  # its format kept
    shutil.rmtree(root)  # the worker sees the staging folder only
    try:
        got = [_outcome(build_staged(s, run.build_options, run.table)) for s in staged]
    finally:
        storage.rmtree(folder)
    assert got == expected  # the corpus's own paths in every message
