"""RECOLA readers (AVEC 2016 and combined layouts) and CSV manifests, on tiny fake trees."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from tests.corpus_trees import (
    FRAMES,
    SPACED,
    manifest_tree,
    recola_arff,
    recola_avec_tree,
    recola_combined,
    recola_combined_tree,
    recola_gold,
    recola_individual,
    recola_rating,
    write_lines,
)
from tfemo.core.errors import InputError
from tfemo.corpora.base import CATEGORICAL, CONTINUOUS
from tfemo.corpora.manifest import WHOLE_FILE_END, ManifestCorpus
from tfemo.corpora.partition import PartitionError, make_folds
from tfemo.corpora.recola import DIMENSIONS, RATERS, RecolaCorpus, recording_portion
from tfemo.labels.traces import trace_on_frames

REAL_RATINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "recola_ratings"
def _expected(recording: str, frames: int = FRAMES) -> tuple[np.ndarray, np.ndarray]:
    values = np.array([[recola_gold(recording, d, t) for d in range(2)] for t in range(frames)])
    ratings = np.array([[[recola_rating(recording, d, r, t) for r in range(6)] for d in range(2)]
                        for t in range(frames)])
    return values, ratings


def _check_trace(trace, recording: str, with_ratings: bool = True) -> None:
    values, ratings = _expected(recording)
    np.testing.assert_allclose(trace.times, np.arange(FRAMES) * 0.04, atol=1e-9)
    assert trace.dimensions == ("arousal", "valence")
    assert trace.values.shape == (FRAMES, 2)
    np.testing.assert_allclose(trace.values, values, atol=1e-6)
    if with_ratings:
        assert trace.ratings.shape == (FRAMES, 2, 6) and trace.raters == RATERS
        np.testing.assert_allclose(trace.ratings, ratings, atol=1e-6)
    else:
        assert trace.ratings is None and trace.raters == ()


# ----------------------------------------------------------------------------- RECOLA


def test_portions_follow_the_official_names():
    assert [recording_portion(r) for r in ("train_9", "dev_1", "test_3")] == [
        "train", "devel", "test"]
    with pytest.raises(ValueError):
        recording_portion("P16")


def test_avec2016_layout(tmp_path):
    root = recola_avec_tree(tmp_path / "avec", recordings=("train_2", "dev_1", "train_1", "test_2"))
    corpus = RecolaCorpus(root)
    assert corpus.layout == "avec2016"
    assert (corpus.name, corpus.language, corpus.tasks) == ("recola", "fra", (CONTINUOUS,))
    assert corpus.speaker_independent and corpus.default_task == CONTINUOUS
    assert corpus.label_names(CONTINUOUS) == DIMENSIONS and corpus.rater_names == RATERS
    items = corpus.items(CONTINUOUS)
    assert [i.id for i in items] == ["dev_1", "test_2", "train_1", "train_2"]  # test_1: no labels
    assert [i.portion for i in items] == ["devel", "test", "train", "train"]
    for item in items:
        assert item.speaker == item.id and item.language == "fra" and item.corpus == "recola"
        assert item.audio_path == root / "recordings_audio" / f"{item.id}.wav"
        assert item.audio_path.is_file()
        assert item.label_files[0] == root / "ratings_gold_standard" / "arousal" / f"{item.id}.arff"
        trace = pickle.loads(pickle.dumps(item.load_trace))()  # runs in worker processes
        _check_trace(trace, item.id)
        assert trace.source == str(item.label_files[0])
    labels, ratings = trace_on_frames(items[0].load_trace(), 25, 0.04, 1.0)
    assert labels.shape == (25, 2) and ratings.shape == (25, 2, 6)
    with pytest.raises(ValueError):
        corpus.items(CATEGORICAL)


def test_avec2016_gold_csv_doubled_folders_and_no_individual_ratings(tmp_path):
    root = recola_avec_tree(tmp_path / "avec", gold_suffix=".csv", individual=False, doubled=True)
    corpus = RecolaCorpus(root)
    assert corpus.rater_names == ()
    item = corpus.items()[0]
    assert item.audio_path == root / "recordings_audio" / "recordings_audio" / "dev_1.wav"
    assert item.audio_path.is_file()
    _check_trace(item.load_trace(), "dev_1", with_ratings=False)


def test_combined_layout_strips_spaces_and_needs_no_audio(tmp_path):
    root = recola_combined_tree(tmp_path / "ratings")
    header = (root / "arousal" / "train_1.csv").read_text().splitlines()[0]
    assert header.endswith("FM1 ,FM2 ,FM3 ,FF1 ,FF2 ,FF3 ")
    corpus = RecolaCorpus(root)
    assert corpus.layout == "combined" and corpus.rater_names == RATERS
    assert corpus.recordings() == ["dev_3", "train_1", "train_2"]
    _check_trace(corpus.read_recording_trace("train_2"), "train_2")
    items = corpus.items()
    assert [(i.id, i.portion) for i in items] == [
        ("dev_3", "devel"), ("train_1", "train"), ("train_2", "train")]
    assert items[1].audio_path == root / "recordings_audio" / "train_1.wav"
    assert not items[1].audio_path.exists()
    assert items[1].label_files[0] == root / "arousal" / "train_1.csv"
    elsewhere = RecolaCorpus(root, audio_dir=tmp_path / "audio")
    assert elsewhere.items()[0].audio_path == tmp_path / "audio" / "dev_3.wav"
    with pytest.raises(KeyError):
        corpus.read_recording_trace("train_7")


def test_combined_layout_reorders_raters(tmp_path):
    root = tmp_path / "ratings"
    shuffled = [SPACED[k] for k in (5, 0, 3, 1, 4, 2)]
    for d, dimension in enumerate(DIMENSIONS):
        write_lines(root / dimension / "train_1.csv",
                    recola_combined("train_1", d, raters=shuffled))
    _check_trace(RecolaCorpus(root).read_recording_trace("train_1"), "train_1")


def _break(root: Path, relative: str, edit) -> Path:
    path = root / relative
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")
    return path


def _drop_column(lines: list[str], name: str) -> list[str]:
    index = [c.strip() for c in lines[0].split(",")].index(name)
    return [",".join(c for k, c in enumerate(line.split(",")) if k != index) for line in lines]


def _set_cell(lines: list[str], row: int, column: int, value: str) -> list[str]:
    cells = lines[row].split(",")
    cells[column] = value
    return [*lines[:row], ",".join(cells), *lines[row + 1:]]


COMBINED_ERRORS = {
    "valence shorter": ("valence/train_1.csv", lambda lines: lines[:-1], "25 label rows"),
    "valence times": ("valence/train_1.csv",
                      lambda lines: _set_cell(_set_cell(lines, 4, 1, "0.13"), 4, 3, "0.13"),
                      "row 4 is at 0.13 s"),
    "missing rater": ("arousal/train_1.csv", lambda lines: _drop_column(lines, "FF3"),
                      "missing columns ['FF3']"),
    "unknown column": ("arousal/train_1.csv",
                       lambda lines: [lines[0] + ",FM4 ", *(x + ",0" for x in lines[1:])],
                       "unknown columns ['FM4']"),
    "NaN rating": ("arousal/train_1.csv", lambda lines: _set_cell(lines, 3, 6, "nan"),
                   "NaN or infinite FM3 at line 4"),
    "text rating": ("valence/train_1.csv", lambda lines: _set_cell(lines, 7, 9, "x"),
                    "non-numeric FF3 'x' at line 8"),
    "time goes back": ("arousal/train_1.csv",
                       lambda lines: _set_cell(_set_cell(lines, 5, 1, "0.0"), 5, 3, "0.0"),
                       "frameTime does not increase at line 6"),
    "two times differ": ("arousal/train_1.csv", lambda lines: _set_cell(lines, 5, 3, "0.17"),
                         "time 0.17 differs from frameTime 0.16 at line 6"),
    "ragged row": ("arousal/train_1.csv", lambda lines: [*lines[:3], lines[3] + ",1", *lines[4:]],
                   "line 4 has 11 fields, expected 10"),
    "other instance": ("valence/train_1.csv", lambda lines: _set_cell(lines, 9, 0, "train_2"),
                       "Instance_name ['train_2']"),
}


@pytest.mark.parametrize("case", sorted(COMBINED_ERRORS))
def test_combined_layout_errors_name_the_file(tmp_path, case):
    relative, edit, detail = COMBINED_ERRORS[case]
    root = recola_combined_tree(tmp_path / "ratings", recordings=("train_1",))
    bad = _break(root, relative, edit)
    item = RecolaCorpus(root).items()[0]  # listing works: the bad file is reported per item
    with pytest.raises(InputError) as caught:
        item.load_trace()
    assert caught.value.path == str(bad) and caught.value.reason == "bad labels"
    assert detail in caught.value.detail


def test_missing_label_file_is_reported_per_item(tmp_path):
    root = recola_combined_tree(tmp_path / "ratings", recordings=("train_1", "train_2"))
    (root / "valence" / "train_2.csv").unlink()
    items = RecolaCorpus(root).items()
    assert [i.id for i in items] == ["train_1", "train_2"]
    with pytest.raises(InputError) as caught:
        items[1].load_trace()
    assert caught.value.path == str(root / "valence" / "train_2.csv")
    assert caught.value.reason == "missing labels"


def test_avec2016_individual_ratings_must_match_the_gold_standard(tmp_path):
    root = recola_avec_tree(tmp_path / "avec", recordings=("train_1",))
    bad = root / "ratings_individual" / "valence" / "train_1.csv"
    write_lines(bad, recola_individual("train_1", 1, frames=FRAMES + 1))
    with pytest.raises(InputError) as caught:
        RecolaCorpus(root).read_recording_trace("train_1")
    assert caught.value.path == str(bad) and "27 label rows" in caught.value.detail
    write_lines(bad, recola_individual("train_1", 1)[:1] + [
        line.replace(";", ",") for line in recola_individual("train_1", 1)[1:]])
    with pytest.raises(InputError) as caught:  # header split on ";", rows on ","
        RecolaCorpus(root).read_recording_trace("train_1")
    assert caught.value.path == str(bad) and "fields" in caught.value.detail


def test_avec2016_gold_standards_must_agree(tmp_path):
    root = recola_avec_tree(tmp_path / "avec", recordings=("dev_1",))
    bad = root / "ratings_gold_standard" / "valence" / "dev_1.arff"
    write_lines(bad, recola_arff("dev_1", 1, frames=FRAMES - 2))
    with pytest.raises(InputError) as caught:
        RecolaCorpus(root).read_recording_trace("dev_1")
    assert caught.value.path == str(bad) and "24 label rows" in caught.value.detail
    lines = recola_arff("dev_1", 1)
    lines[10] = "'dev_1',0.08,nan"
    write_lines(bad, lines)
    with pytest.raises(InputError) as caught:
        RecolaCorpus(root).read_recording_trace("dev_1")
    assert caught.value.path == str(bad) and "at line 11" in caught.value.detail
    bad.unlink()
    with pytest.raises(InputError) as caught:
        RecolaCorpus(root).read_recording_trace("dev_1")
    assert caught.value.path == str(bad) and caught.value.reason == "missing labels"


def test_missing_or_empty_corpus(tmp_path):
    for root, detail in [(tmp_path / "absent", "folder not found"),
                         (tmp_path, "no label files named train_N")]:
        with pytest.raises(InputError) as caught:
            RecolaCorpus(root)
        assert caught.value.reason == "missing corpus" and caught.value.path == str(root)
        assert detail in caught.value.detail
    # RECOLA release naming
    write_lines(tmp_path / "arousal" / "P16.csv", recola_combined("P16", 0))
    with pytest.raises(InputError) as caught:
        RecolaCorpus(tmp_path)
    assert "ignored ['P16']" in caught.value.detail


# ----------------------------------------------------------------------------- manifests


def test_categorical_manifest(tmp_path):
    manifest = manifest_tree(tmp_path / "corpus")
    corpus = ManifestCorpus(manifest)
    assert (corpus.name, corpus.tasks, corpus.default_task) == ("data", (CATEGORICAL,),
                                                                CATEGORICAL)
    assert corpus.label_names() == ("angry", "happy", "sad") and corpus.rater_names == ()
    items = corpus.items(CATEGORICAL)
    assert [i.id for i in items] == ["audio/a", "audio/b", str(tmp_path / "outside" / "c")[1:]]
    by_id = {i.id: i for i in items}
    b = by_id["audio/b"]
    assert b.audio_path == tmp_path / "corpus" / "audio" / "b.wav" and b.audio_path.is_file()
    assert (b.speaker, b.label, b.portion, b.gender) == ("s1", "sad", "train", "female")
    assert b.segments[0].transcript == "I feel low" and b.segments[0].start == 0.0
    assert b.segments[0].end == pytest.approx(1.0)  # from the WAV header
    assert by_id["audio/a"].segments[0].transcript == "Great, thanks"
    c = items[2]
    assert c.audio_path.is_file() and c.segments == () and c.gender is None
    assert c.label is not None and c.load_trace is None
    fixed = ManifestCorpus(manifest, classes="sad,happy,angry,neutral", language="deu")
    assert fixed.label_names(CATEGORICAL) == ("sad", "happy", "angry", "neutral")
    assert fixed.items()[0].language == "deu"
    with pytest.raises(InputError) as caught:
        ManifestCorpus(manifest, classes=["sad", "happy"])
    assert caught.value.path == str(manifest) and "line 3: label 'angry'" in caught.value.detail


MANIFEST_ERRORS = {
    "empty path": (["path,speaker,label,portion", "a.wav,s1,x,train", ",s2,y,test"],
                   "line 3: empty path"),
    "empty speaker": (["path,speaker,label,portion", "a.wav, ,x,train"], "line 2: empty speaker"),
    "unknown column": (["path,speaker,label,portion,mood", "a.wav,s1,x,train,ok"],
                       "line 1: unknown columns ['mood']"),
    "bad portion": (["path,speaker,label,portion", "a.wav,s1,x,dev"],
                    "line 2: portion 'dev' is not one of train, devel, test"),
    "listed twice": (["path,speaker,label,portion", "a.wav,s1,x,train", "", "a.wav,s1,y,train"],
                     "line 4: item 'a' is listed twice (first at line 2)"),
    "ragged": (["path,speaker,label,portion", "a.wav,s1,x"], "line 2 has 3 fields"),
    "no label column": (["path,speaker,portion", "a.wav,s1,train"], "line 1: no label column"),
    "both label columns": (["path,speaker,label,labels,portion", "a.wav,s1,x,x.csv,train"],
                           "line 1: both a label and a labels column"),
}


@pytest.mark.parametrize("case", sorted(MANIFEST_ERRORS))
def test_manifest_errors_name_the_manifest_and_line(tmp_path, case):
    lines, detail = MANIFEST_ERRORS[case]
    manifest = write_lines(tmp_path / "m.csv", lines)
    with pytest.raises(InputError) as caught:
        ManifestCorpus(manifest)
    assert caught.value.path == str(manifest) and detail in caught.value.detail


def test_manifest_without_portions_needs_a_protocol_that_assigns_them(tmp_path):
    manifest = write_lines(tmp_path / "m.csv", ["path,speaker,label", "a.wav,s1,x"])
    corpus = ManifestCorpus(manifest)
    assert corpus.label_names() == ("x",)
    items = corpus.items()
    assert [(i.speaker, i.portion) for i in items] == [("s1", "")]
    with pytest.raises(PartitionError) as caught:
        make_folds(items, "official")
    assert "portion column" in str(caught.value) and "--partition loso" in str(caught.value)


def test_missing_or_empty_manifest(tmp_path):
    empty = write_lines(tmp_path / "empty.csv", ["path,speaker"])
    for manifest in (tmp_path / "absent.csv", empty):
        with pytest.raises(InputError) as caught:
            ManifestCorpus(manifest)
        assert caught.value.reason == "missing corpus" and caught.value.path == str(manifest)


def _labels(path: Path, header: list[str], frames: int = 26, delimiter: str = ",") -> Path:
    rows = [delimiter.join([f"{k * 0.04:.2f}", *(f"{(c + 1) * 0.1 + k * 0.001:.4f}"
                                                 for c in range(len(header)))])
            for k in range(frames)]
    return write_lines(path, [delimiter.join(["time", *header]), *rows])


def test_continuous_manifest(tmp_path):
    root = tmp_path / "corpus"
    header = ["arousal", "valence", "arousal_r1", "arousal_r2", "valence_r1", "valence_r2"]
    _labels(root / "labels" / "one.csv", header)
    swapped = ["valence_r2", "valence", "arousal_r2", "arousal", "valence_r1", "arousal_r1"]
    _labels(root / "labels" / "two.csv", swapped, delimiter=";")
    _labels(tmp_path / "elsewhere.csv", [" arousal ", "valence", "arousal_r1 ", "arousal_r2",
                                         "valence_r1", "valence_r2"])
    manifest = write_lines(root / "sessions.csv", [
        "path,speaker,labels,transcript,portion",
        "wav/one.wav,s1,labels/one.csv,bonjour à tous,train",
        f"wav/two.wav,s2,{root / 'labels' / 'two.csv'},,devel",
        f"wav/three.wav,s3,{tmp_path / 'elsewhere.csv'},,test",
    ])
    corpus = ManifestCorpus(manifest, language="fra")
    assert corpus.task == CONTINUOUS and corpus.tasks == (CONTINUOUS,)
    assert corpus.label_names() == ("arousal", "valence")
    assert corpus.rater_names == ("r1", "r2")
    items = corpus.items(CONTINUOUS)
    assert [i.id for i in items] == ["wav/one", "wav/three", "wav/two"]
    one = items[0]
    assert one.audio_path == root / "wav" / "one.wav"
    assert one.label_files[0] == root / "labels" / "one.csv" and one.language == "fra"
    assert one.segments[0].transcript == "bonjour à tous"
    assert one.segments[0].end == WHOLE_FILE_END  # no audio yet: spans whatever comes
    trace = pickle.loads(pickle.dumps(one.load_trace))()
    assert trace.dimensions == ("arousal", "valence") and trace.raters == ("r1", "r2")
    assert trace.values.shape == (26, 2) and trace.ratings.shape == (26, 2, 2)
    np.testing.assert_allclose(trace.times, np.arange(26) * 0.04, atol=1e-9)
    np.testing.assert_allclose(trace.values[3], [0.103, 0.203], atol=1e-6)
    np.testing.assert_allclose(trace.ratings[3], [[0.303, 0.403], [0.503, 0.603]], atol=1e-6)
    two = items[2].load_trace()  # other column order and delimiter: the same layout
    assert two.dimensions == ("arousal", "valence") and two.raters == ("r1", "r2")
    np.testing.assert_allclose(two.values[0], [0.4, 0.2], atol=1e-6)
    np.testing.assert_allclose(two.ratings[0], [[0.6, 0.3], [0.5, 0.1]], atol=1e-6)
    assert items[1].load_trace().raters == ("r1", "r2")  # spaces around names are stripped


@pytest.mark.parametrize(("header", "detail"), [
    (["arousal", "valence", "arousal_r1", "arousal_r3", "valence_r1", "valence_r3"],
     "raters ['r1', 'r3'], but the manifest's first label file has ['r1', 'r2']"),
    (["arousal", "dominance", "arousal_r1", "arousal_r2", "dominance_r1", "dominance_r2"],
     "dimensions ['arousal', 'dominance']"),
    (["arousal", "valence", "arousal_r1", "arousal_r2", "valence_r1"],
     "arousal has raters ['r1', 'r2'] but valence has ['r1']"),
    (["arousal", "valence"], "raters [], but"),
])
def test_continuous_manifest_mismatching_label_file(tmp_path, header, detail):
    _labels(tmp_path / "a.csv", ["arousal", "valence", "arousal_r1", "arousal_r2",
                                 "valence_r1", "valence_r2"])
    bad = _labels(tmp_path / "b.csv", header)
    manifest = write_lines(tmp_path / "m.csv", ["path,speaker,labels,portion",
                                                "a.wav,s1,a.csv,train", "b.wav,s2,b.csv,test"])
    items = ManifestCorpus(manifest).items()
    items[0].load_trace()
    with pytest.raises(InputError) as caught:
        items[1].load_trace()
    assert caught.value.path == str(bad) and detail in caught.value.detail


def test_continuous_manifest_bad_label_files(tmp_path):
    _labels(tmp_path / "a.csv", ["arousal"])
    write_lines(tmp_path / "b.csv", ["time,arousal", "0.0,0.1", "0.04,0.2", "0.04,0.3"])
    write_lines(tmp_path / "c.csv", ["seconds,arousal", "0.0,0.1"])
    manifest = write_lines(tmp_path / "m.csv", [
        "path,speaker,labels,portion", "a.wav,s1,a.csv,train", "b.wav,s2,b.csv,test",
        "c.wav,s3,c.csv,test", "d.wav,s4,d.csv,test"])
    corpus = ManifestCorpus(manifest, task=CONTINUOUS)
    assert corpus.label_names() == ("arousal",) and corpus.rater_names == ()
    b, c, d = corpus.items()[1:]
    for item, reason, detail in [(b, "bad labels", "time does not increase at line 4"),
                                 (c, "bad labels", "no time column"),
                                 (d, "missing labels", "file not found")]:
        with pytest.raises(InputError) as caught:
            item.load_trace()
        assert caught.value.path == str(item.label_files[0]) and caught.value.reason == reason
        assert detail in caught.value.detail
    with pytest.raises(InputError) as caught:  # a categorical manifest has no labels column
        ManifestCorpus(manifest, task=CATEGORICAL)
    assert "line 1: unknown columns ['labels']" in caught.value.detail


# ----------------------------------------------------------------------------- real ratings


def _ccc(x: np.ndarray, y: np.ndarray) -> float:
    """CCC with population moments (docs/design.md, "Protocols")."""
    covariance = np.mean((x - x.mean()) * (y - y.mean()))
    return float(2 * covariance / (x.var() + y.var() + (x.mean() - y.mean()) ** 2))


def _ccc_centred_mean(ratings: np.ndarray) -> np.ndarray:
    """The AVEC 2016 gold standard of [T, R] ratings: mean after CCC centring."""
    count = ratings.shape[1]
    agreement = [np.mean([_ccc(ratings[:, a], ratings[:, b]) for b in range(count) if b != a])
                 for a in range(count)]
    means = ratings.mean(0)
    reference = float(np.sum(means * agreement) / np.sum(agreement))
    return (ratings - means + reference).mean(1)


@pytest.mark.skipif(not REAL_RATINGS.is_dir(), reason="../shared/data/recola_ratings is absent")
def test_real_recola_ratings():
    corpus = RecolaCorpus(REAL_RATINGS)
    assert corpus.layout == "combined"
    assert corpus.recordings() == [f"train_{n}" for n in range(1, 10)]
    assert corpus.rater_names == ("FM1", "FM2", "FM3", "FF1", "FF2", "FF3")
    assert {i.portion for i in corpus.items()} == {"train"}
    scores = {d: [] for d in DIMENSIONS}
    for recording in corpus.recordings():
        trace = corpus.read_recording_trace(recording)
        assert trace.raters == ("FM1", "FM2", "FM3", "FF1", "FF2", "FF3")
        assert trace.values.shape == (7501, 2) and trace.ratings.shape == (7501, 2, 6)
        np.testing.assert_allclose(trace.times, np.arange(7501) * 0.04, atol=1e-6)
        for d, dimension in enumerate(DIMENSIONS):
            gold = trace.values[:, d].astype(np.float64)
            ratings = trace.ratings[:, d].astype(np.float64)
            scores[dimension].append(_ccc(ratings.mean(1), gold))
            assert np.corrcoef(ratings.mean(1), gold)[0, 1] > 0.99999  # mean + a constant
            np.testing.assert_allclose(_ccc_centred_mean(ratings), gold, atol=1e-4)
    mean = {d: float(np.mean(s)) for d, s in scores.items()}
    print(f"mean-fusion CCC vs GoldStandard, mean over files: {mean}")
    assert abs(mean["arousal"] - 0.994) < 0.002 and abs(mean["valence"] - 0.986) < 0.002
