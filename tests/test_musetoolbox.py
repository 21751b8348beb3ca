"""The MuSe-Toolbox layout reader on tiny fake trees: <root>/<dimension>/<recording>.csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.corpus_trees import TOOLBOX_RATERS, toolbox_rating, toolbox_recording, toolbox_tree
from tfemo.core.errors import InputError
from tfemo.corpora import open_corpus
from tfemo.corpora.musetoolbox import MuseToolboxCorpus, read_recording


@pytest.fixture
def tree(tmp_path) -> Path:
    return toolbox_tree(tmp_path)


def test_reads_the_layout(tree):
    corpus = open_corpus("musetoolbox", tree)
    assert isinstance(corpus, MuseToolboxCorpus)
    assert corpus.label_names() == ("arousal", "valence")
    items = corpus.items()
    assert [i.id for i in items] == ["11", "32"]
    assert [i.portion for i in items] == ["train", "devel"]  # from ../metadata/partition.csv
    trace = items[1].load_trace()
    np.testing.assert_allclose(trace.times, 0.5 * np.arange(1, 9))  # ms -> s
    assert trace.raters == TOOLBOX_RATERS and trace.ratings.shape == (8, 2, 3)
    expected = np.array([[[toolbox_rating(32, d, r, k) for r in range(3)] for d in range(2)]
                         for k in range(8)])
    np.testing.assert_allclose(trace.ratings, expected, atol=1e-6)
    np.testing.assert_allclose(trace.values, expected.mean(axis=2), atol=1e-6)
    assert items[0].audio_path == tree / "audio" / "11.wav"


def test_time_in_seconds_and_reordered_raters(tmp_path):
    root = tmp_path / "raw"
    toolbox_recording(root, 1, dimensions=("arousal",), time_name="timestamp", step_ms=1)
    toolbox_recording(root, 1, dimensions=("valence",), raters=("3", "1", "2"),
                    time_name="timestamp", step_ms=1)
    trace = MuseToolboxCorpus(root, time_unit="s").read_recording_trace("1")
    np.testing.assert_allclose(trace.times, np.arange(1, 9))
    assert trace.raters == TOOLBOX_RATERS  # valence columns put in the arousal file's order
    np.testing.assert_allclose(trace.ratings[:, 1, 0],
                               [toolbox_rating(1, 1, 0, k) for k in range(8)], atol=1e-6)


def test_other_dimensions_follow_arousal_and_valence(tmp_path):
    root = tmp_path / "raw"
    toolbox_recording(root, 1, dimensions=("valence", "dominance", "arousal"))
    assert MuseToolboxCorpus(root).label_names() == ("arousal", "valence", "dominance")


def _rewrite(path: Path, line: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")


def test_a_nan_rating_names_the_file_rater_and_line(tree):
    path = tree / "valence" / "32.csv"
    _rewrite(path, 4, "1500,-32.002,nan,-32.202")
    with pytest.raises(InputError, match="rater 2 has 1 missing") as caught:
        MuseToolboxCorpus(tree).read_recording_trace("32")
    assert caught.value.path == str(path) and "line 4" in str(caught.value)


def test_a_shorter_rater_is_refused(tree):
    path = tree / "arousal" / "11.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:7], *(line.rsplit(",", 1)[0] + "," for line in lines[7:])])
                    + "\n")
    with pytest.raises(InputError, match="rater 3 has no values from line 8 to the end") as caught:
        MuseToolboxCorpus(tree).read_recording_trace("11")
    assert caught.value.path == str(path) and "different lengths" in str(caught.value)


def test_dimension_files_of_different_lengths_are_refused(tmp_path):
    root = tmp_path / "raw"
    toolbox_recording(root, 5, rows=8, dimensions=("arousal",))
    toolbox_recording(root, 5, rows=6, dimensions=("valence",))
    with pytest.raises(InputError, match="6 rows, but") as caught:
        MuseToolboxCorpus(root).read_recording_trace("5")
    assert caught.value.path == str(root / "valence" / "5.csv")


def test_different_raters_per_dimension_are_refused(tmp_path):
    root = tmp_path / "raw"
    toolbox_recording(root, 5, dimensions=("arousal",))
    toolbox_recording(root, 5, raters=("1", "2", "4"), dimensions=("valence",))
    with pytest.raises(InputError, match="raters"):
        read_recording(MuseToolboxCorpus(root).label_files("5"), ("arousal", "valence"))


def test_a_missing_dimension_file_is_reported_when_read(tmp_path):
    root = tmp_path / "raw"
    toolbox_recording(root, 1)
    toolbox_recording(root, 2, dimensions=("arousal",))
    corpus = MuseToolboxCorpus(root)
    assert corpus.recordings() == ["1", "2"]
    with pytest.raises(InputError, match="file not found") as caught:
        corpus.read_recording_trace("2")
    assert caught.value.path == str(root / "valence" / "2.csv")


def test_no_time_column_and_no_tree(tmp_path):
    root = tmp_path / "raw"
    (root / "arousal").mkdir(parents=True)
    (root / "arousal" / "1.csv").write_text("frame,1,2\n1,0.1,0.2\n2,0.1,0.2\n")
    with pytest.raises(InputError, match="no time column"):
        MuseToolboxCorpus(root).read_recording_trace("1")
    with pytest.raises(InputError, match="no <dimension>/<recording>.csv"):
        MuseToolboxCorpus(tmp_path / "raw" / "arousal")
