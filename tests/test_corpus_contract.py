"""The reader contract, checked for EVERY registered reader on its fake tree (corpus_trees.py).

As TensorFlow Datasets tests its builders: each reader, opened through the registry, yields the
expected number of items per portion and task and skips the expected number of files. Then
what every caller relies on: ids sorted and unique, portions known, no speaker in two portions
when the reader says it is speaker-independent, labels that are among `label_names`, traces
with the declared dimensions and raters, and the base class's error for a task it lacks.
A registered reader without a Tree in tests/corpus_trees.py fails here.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import pytest

from tests.corpus_trees import TREES
from tfemo.corpora import _READERS, CORPUS_NAMES, open_corpus, resolve_task
from tfemo.corpora.base import CATEGORICAL, PORTIONS, TASKS, Corpus, TaskError
from tfemo.corpora.partition import speaker_overlap


def test_every_registered_reader_has_a_tree():
    assert tuple(sorted(_READERS)) == CORPUS_NAMES
    assert set(TREES) == set(_READERS), "add a Tree to tests/corpus_trees.py TREES"


def _items(corpus: Corpus, task: str):
    with warnings.catch_warnings():  # TESS warns that its scores are speaker-dependent
        warnings.simplefilter("ignore", UserWarning)
        return corpus.items(task)


def _check_declarations(name: str, corpus: Corpus) -> None:
    assert isinstance(corpus, Corpus) and corpus.name and isinstance(corpus.name, str)
    assert type(corpus).__name__ == _READERS[name][1]
    assert isinstance(corpus.language, str) and len(corpus.language) == 3
    assert corpus.tasks and set(corpus.tasks) <= set(TASKS)
    assert corpus.default_task in corpus.tasks
    assert isinstance(corpus.speaker_independent, bool)
    assert set(corpus.default_split) <= set(PORTIONS)
    assert all(isinstance(r, str) for r in corpus.rater_names)
    assert corpus.ignored == []  # nothing listed yet


def _check_items(corpus: Corpus, task: str, items, expected: tuple[int, int, int]) -> None:
    ids = [i.id for i in items]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(i.portion in PORTIONS for i in items)
    assert tuple(sum(i.portion == p for i in items) for p in PORTIONS) == expected
    assert all(i.corpus == corpus.name and isinstance(i.audio_path, Path) for i in items)
    assert all(isinstance(v, str) for i in items for v in i.metadata.values())
    if corpus.speaker_independent:
        assert speaker_overlap(items) == {}
    names = corpus.label_names(task)
    assert names and len(set(names)) == len(names)
    if task == CATEGORICAL:
        assert all(i.label in names and i.load_trace is None for i in items)
        return
    assert all(i.label is None and i.load_trace is not None and i.label_files for i in items)
    trace = pickle.loads(pickle.dumps(items[0])).load_trace()  # read in a worker process
    assert trace.dimensions == names and trace.values.shape[1] == len(names)
    if corpus.rater_names:
        assert trace.raters == corpus.rater_names
        assert trace.ratings.shape[1:] == (len(names), len(corpus.rater_names))


@pytest.mark.parametrize("name", sorted(_READERS))
def test_reader_keeps_the_contract(name, tmp_path):
    if name not in TREES:
        pytest.fail(f"registered reader {name!r} has no Tree in tests/corpus_trees.py")
    tree = TREES[name]
    corpus = open_corpus(name, tree.build(tmp_path))
    _check_declarations(name, corpus)
    assert set(corpus.tasks) == set(tree.counts)
    for k, task in enumerate(corpus.tasks):
        items = _items(corpus, task)
        if k == 0:
            assert len(corpus.ignored) == tree.skipped, corpus.ignored
            assert all(isinstance(p, Path) and r for p, r in corpus.ignored)
        _check_items(corpus, task, items, tree.counts[task])
    assert [i.id for i in _items(corpus, None)] == [  # None: the corpus's own task
        i.id for i in _items(corpus, corpus.default_task)]
    for task in (*(t for t in TASKS if t not in corpus.tasks), "dimensional"):
        for call in (corpus.items, corpus.label_names):
            with pytest.raises(TaskError, match=f"corpus .* has no {task} task") as caught:
                call(task)
            assert isinstance(caught.value, ValueError)
        with pytest.raises(TaskError, match="it has: "):
            resolve_task(corpus, task)
