"""IEMOCAP and MuSe-CaR readers on tiny fake trees in the distributed layouts."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from tests.corpus_trees import (
    MUSE_DEVEL,
    WDSEG,
    iemocap_evaluation,
    iemocap_tree,
    muse_labels,
    musecar_tree,
    write_lines,
)
from tfemo.core.errors import InputError
from tfemo.corpora.base import CATEGORICAL, CONTINUOUS
from tfemo.corpora.iemocap import (
    DEFAULT_SPLIT,
    FOUR_CLASS_COUNT,
    IemocapCorpus,
    parse_wdseg,
    rescale_rating,
)
from tfemo.corpora.musecar import MuseCarCorpus, read_trace, split_devel
from tfemo.labels.traces import trace_on_frames


def test_iemocap_four_classes_speakers_portions(tmp_path):
    corpus = IemocapCorpus(iemocap_tree(tmp_path / "IEMOCAP_full_release"))
    items = {i.id: i for i in corpus.items(CATEGORICAL)}
    assert corpus.label_names(CATEGORICAL) == ("neutral", "happy", "angry", "sad")
    assert {k: i.label for k, i in items.items()} == {
        "Ses01F_impro01_F000": "neutral", "Ses01F_impro01_M001": "happy",  # exc -> happy
        "Ses01F_impro01_F002": "happy", "Ses01F_impro01_M005": "angry",
        "Ses04M_impro02_M000": "sad", "Ses05M_script01_1_F000": "sad",
        "Ses05M_script01_1_M001": "neutral"}
    assert list(items) == sorted(items)
    # the speaker is the letter of the turn's last part, not the dialog's mocap wearer
    assert items["Ses01F_impro01_M001"].speaker == "Ses01_M"
    assert items["Ses01F_impro01_F000"].speaker == "Ses01_F"
    assert items["Ses05M_script01_1_F000"].speaker == "Ses05_F"
    assert items["Ses05M_script01_1_F000"].gender == "female"
    assert {i.speaker: i.portion for i in items.values()} == {
        "Ses01_F": "train", "Ses01_M": "train", "Ses04_M": "devel", "Ses05_F": "test",
        "Ses05_M": "test"}
    meta = items["Ses01F_impro01_M001"].metadata
    assert meta == {"session": "Ses01", "dialog": "Ses01F_impro01", "mode": "impro",
                    "raw_label": "exc", "valence": "4", "arousal": "3.5", "dominance": "3",
                    "start": "2.5", "end": "3"}
    assert items["Ses05M_script01_1_M001"].metadata["mode"] == "script"
    assert items["Ses05M_script01_1_M001"].audio_path == (
        tmp_path / "IEMOCAP_full_release" / "Session5" / "sentences" / "wav"
        / "Ses05M_script01_1" / "Ses05M_script01_1_M001.wav")
    reasons = {path.name: reason for path, reason in corpus.ignored}
    assert "xxx" in reasons["Ses01F_impro01_M003.wav"]
    assert "fru" in reasons["Ses01F_impro01_F004.wav"]
    assert "oth" in reasons["Ses04M_impro02_F001.wav"]
    assert reasons["._Ses01F_impro01.txt"] == "hidden file"
    assert len(corpus.ignored) == 4


def test_iemocap_all_classes_and_parent_root(tmp_path):
    iemocap_tree(tmp_path / "IEMOCAP_full_release")
    corpus = IemocapCorpus(tmp_path, classes="all")  # the parent folder is accepted too
    labels = {i.id: i.label for i in corpus.items(CATEGORICAL)}
    assert labels["Ses01F_impro01_M001"] == "excited"
    assert labels["Ses01F_impro01_F002"] == "happy"
    assert labels["Ses01F_impro01_F004"] == "frustrated"
    assert "Ses01F_impro01_M003" not in labels and "Ses04M_impro02_F001" not in labels
    assert corpus.label_names(CATEGORICAL)[:3] == ("neutral", "happy", "excited")
    with pytest.raises(ValueError, match="classes"):
        IemocapCorpus(tmp_path, classes="6")


def test_iemocap_four_class_count_is_documented():
    # the standard 4-class set on the full corpus: neu 1708, hap 595 + exc 1041, ang 1103, sad 1084
    assert FOUR_CLASS_COUNT == 1708 + 595 + 1041 + 1103 + 1084 == 5531
    assert DEFAULT_SPLIT == {"train": (1, 2, 3), "devel": (4,), "test": (5,)}


def test_iemocap_transcripts_and_word_timings(tmp_path):
    corpus = IemocapCorpus(iemocap_tree(tmp_path))
    items = {i.id: i for i in corpus.items(CATEGORICAL)}
    (segment,) = items["Ses01F_impro01_F000"].segments
    assert segment.start == 0.0 and segment.end == pytest.approx(0.5)
    assert segment.transcript == "Words of F000 [LAUGHTER]."
    # 10 ms frames -> seconds from the turn's wav; <s>, <sil>, </s>, ++BREATHING++ dropped,
    # WHAT(2) -> what, lower-cased; the end frame is inclusive
    assert [(w.word, w.start, w.end) for w in segment.words] == [
        ("what", pytest.approx(0.41), pytest.approx(0.73)),
        ("excuse", pytest.approx(1.00), pytest.approx(1.46))]
    # no wdseg file: transcript only
    (other,) = items["Ses01F_impro01_M001"].segments
    assert other.words is None and other.transcript == "Words of M001 [LAUGHTER]."


def test_iemocap_continuous_constant_rescaled_trace(tmp_path):
    corpus = IemocapCorpus(iemocap_tree(tmp_path))
    items = {i.id: i for i in corpus.items(CONTINUOUS)}
    assert len(items) == 10  # every evaluated turn, whatever its label
    assert corpus.label_names(CONTINUOUS) == ("valence", "arousal", "dominance")
    item = items["Ses05M_script01_1_F000"]
    assert item.label is None
    assert item.label_files == (tmp_path / "Session5" / "dialog" / "EmoEvaluation"
                                / "Ses05M_script01_1.txt",)
    trace = pickle.loads(pickle.dumps(item.load_trace))()
    assert trace.dimensions == ("valence", "arousal", "dominance")
    np.testing.assert_allclose(trace.times, [0.0, 0.5])
    np.testing.assert_allclose(trace.values, [[-0.25, 0.25, 0.5]] * 2)  # (r - 3) / 2
    assert rescale_rating(1.0) == -1.0 and rescale_rating(5.0) == 1.0
    values, _ = trace_on_frames(trace, 12, 0.04, 0.5)
    np.testing.assert_allclose(values, [[-0.25, 0.25, 0.5]] * 12)


def test_iemocap_missing_audio_split_and_errors(tmp_path):
    root = iemocap_tree(tmp_path, skip_audio=("Ses01F_impro01_F002",))
    corpus = IemocapCorpus(root, split={"train": ["Ses04"], "devel": [1], "test": ["Session5"]})
    items = {i.id: i for i in corpus.items(CATEGORICAL)}
    assert "Ses01F_impro01_F002" not in items
    assert any(p.name == "Ses01F_impro01_F002.wav" and "missing audio" in r
               for p, r in corpus.ignored)
    assert items["Ses01F_impro01_F000"].portion == "devel"
    assert items["Ses04M_impro02_M000"].portion == "train"
    with pytest.raises(ValueError, match="both"):
        IemocapCorpus(root, split={"train": [1], "test": [1]})
    with pytest.raises(ValueError, match="unknown session"):
        IemocapCorpus(root, split={"train": [6]})
    with pytest.raises(InputError, match="no Session1"):
        IemocapCorpus(tmp_path / "nowhere")


def test_iemocap_malformed_lines_name_the_file(tmp_path):
    root = iemocap_tree(tmp_path)
    evaluation = root / "Session4" / "dialog" / "EmoEvaluation" / "Ses04M_impro02.txt"
    lines = iemocap_evaluation("Ses04M_impro02")
    lines[2] = "[1.0 - 2.0]\tSes04M_impro02_M000\tsad\t[1.5, 2.0]"
    write_lines(evaluation, lines)
    with pytest.raises(InputError, match=r"Ses04M_impro02\.txt.*line 3") as error:
        IemocapCorpus(root).items(CATEGORICAL)
    assert error.value.path == str(evaluation)

    write_lines(evaluation, iemocap_evaluation("Ses04M_impro02"))
    wdseg = (root / "Session4" / "sentences" / "ForcedAlignment" / "Ses04M_impro02"
             / "Ses04M_impro02_M000.wdseg")
    write_lines(wdseg, [WDSEG[0], "12 x -5 WORD", WDSEG[-1]])
    with pytest.raises(InputError, match="line 2") as error:
        IemocapCorpus(root).items(CATEGORICAL)
    assert error.value.path == str(wdseg)

    with pytest.raises(InputError, match="header"):
        parse_wdseg(write_lines(tmp_path / "x.wdseg", ["0 1 -5 WORD"]))
    transcript = root / "Session4" / "dialog" / "transcriptions" / "Ses04M_impro02.txt"
    write_lines(wdseg, WDSEG)
    write_lines(transcript, ["Ses04M_impro02_M000 no times: text"])
    with pytest.raises(InputError, match="line 1") as error:
        IemocapCorpus(root).items(CATEGORICAL)
    assert error.value.path == str(transcript)


# ----------------------------------------------------------------------------- MuSe-CaR

def test_musecar_items_portions_and_ignored(tmp_path):
    corpus = MuseCarCorpus(musecar_tree(tmp_path))
    items = {i.id: i for i in corpus.items()}
    devel, test = split_devel([*MUSE_DEVEL, "11"], seed=0)
    expected = {"1_1": "train", "1_2": "train", "2": "train",
                **{f"{v}_1": "devel" for v in devel if v in MUSE_DEVEL},
                **{f"{v}_1": "test" for v in test if v in MUSE_DEVEL}}
    assert {k: i.portion for k, i in items.items()} == expected
    assert items["1_2"].speaker == "1" and items["2"].speaker == "2"
    assert items["1_2"].language == "eng" and items["1_2"].label is None
    assert items["1_2"].metadata == {"video": "1", "official_portion": "train", "segment": "2",
                                     "segment_start": "1.25"}
    assert items["1_2"].label_files == (tmp_path / "label" / "arousal" / "1.csv",
                                        tmp_path / "label" / "valence" / "1.csv")
    assert corpus.label_names() == ("arousal", "valence")
    reasons = {str(p.relative_to(tmp_path)): r for p, r in corpus.ignored}
    assert "no labels of segment 2" in reasons["audio/4/4_2.wav"]
    assert "official test" in reasons["audio/9/9_1.wav"]
    assert "not in" in reasons["audio/10/10_1.wav"]
    assert "<video>_<segment>" in reasons["audio/3/foo.wav"]
    with pytest.raises(ValueError):
        corpus.items(CATEGORICAL)


def test_musecar_segment_trace_in_seconds_at_4hz(tmp_path):
    corpus = MuseCarCorpus(musecar_tree(tmp_path))
    items = {i.id: i for i in corpus.items()}
    trace = pickle.loads(pickle.dumps(items["1_2"].load_trace))()
    assert trace.dimensions == ("arousal", "valence")
    # ms timestamps 1250..2250 -> seconds from the segment audio's start (1.25 s)
    np.testing.assert_allclose(trace.times, [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(np.diff(trace.times), 0.25)  # 4 Hz
    np.testing.assert_allclose(trace.values[:, 0], [0.125, 0.15, 0.175, 0.2, 0.225], rtol=1e-6)
    np.testing.assert_allclose(trace.values[:, 1], -trace.values[:, 0])
    values, _ = trace_on_frames(trace, 25, 0.04, 1.0)  # frame centres 0.02, 0.06, ... s
    assert values[0, 0] == pytest.approx(0.125) and values[5, 0] == pytest.approx(0.125)
    assert values[6, 0] == pytest.approx(0.15)  # centre 0.26 s: past the second label
    # audio per video: the video's own clock, not shifted
    whole = items["2"].load_trace()
    np.testing.assert_allclose(whole.times, np.arange(9) * 0.25)


def test_musecar_word_timings_relative_to_segment_audio(tmp_path):
    corpus = MuseCarCorpus(musecar_tree(tmp_path))
    items = {i.id: i for i in corpus.items()}
    (segment,) = items["1_2"].segments
    assert segment.start == 0.0 and segment.end == pytest.approx(1.0)
    assert segment.transcript == "Hello world"  # <filler> is not a word
    # ms on the video's clock, minus the segment start (1250 ms), in seconds
    assert [(w.word, w.start, w.end) for w in segment.words] == [
        ("Hello", pytest.approx(0.25), pytest.approx(0.55)),
        ("world", pytest.approx(0.75), pytest.approx(0.95))]
    (first,) = items["1_1"].segments
    assert [(w.word, w.start, w.end) for w in first.words] == [
        ("Nice", pytest.approx(0.1), pytest.approx(0.4))]
    # per-video audio: one segment per transcription file, times on the video's clock
    (video_segment,) = items["2"].segments
    assert (video_segment.start, video_segment.end) == (pytest.approx(1.25), pytest.approx(2.25))
    assert [(w.word, w.start) for w in video_segment.words] == [
        ("fast", pytest.approx(1.3)), ("car", pytest.approx(1.7))]
    assert items["3_1"].segments == ()  # no transcription


def test_musecar_devel_test_split_is_deterministic_and_by_video(tmp_path):
    videos = [str(v) for v in range(20, 1, -1)]
    devel, test = split_devel(videos, seed=0)
    assert (devel, test) == split_devel(list(reversed(videos)), seed=0)  # order-independent
    assert set(devel).isdisjoint(test) and set(devel) | set(test) == set(videos)
    assert len(devel) == len(videos) // 2
    assert any(split_devel(videos, seed=s) != (devel, test) for s in (1, 2, 3))
    corpus = MuseCarCorpus(musecar_tree(tmp_path, partition_header="id,partition"), seed=3)
    items = corpus.items()
    by_video: dict[str, set[str]] = {}
    for item in items:
        by_video.setdefault(item.speaker, set()).add(item.portion)
    assert all(len(p) == 1 for p in by_video.values())  # no video in two portions
    devel3, test3 = split_devel([*MUSE_DEVEL, "11"], seed=3)
    assert {v for v, p in corpus.portions.items() if p == "test"} == set(test3)
    assert [(i.id, i.portion) for i in items] == [(i.id, i.portion)
                                                  for i in MuseCarCorpus(tmp_path, seed=3).items()]


def test_musecar_errors_name_the_file(tmp_path):
    root = musecar_tree(tmp_path)
    items = {i.id: i for i in MuseCarCorpus(root).items()}
    valence = root / "label" / "valence" / "1.csv"
    lines = valence.read_text().splitlines()
    lines[3] = "500,oops,1"
    write_lines(valence, lines)
    with pytest.raises(InputError, match="line 4") as error:
        items["1_1"].load_trace()
    assert error.value.path == str(valence)

    lines[3] = "500,-0.05,2"  # a different segment id than arousal
    write_lines(valence, lines)
    with pytest.raises(InputError, match="differs"):
        read_trace(root / "label" / "arousal" / "1.csv", valence, "1")

    gap = root / "label" / "arousal" / "5.csv"
    write_lines(gap, muse_labels("5", {"1": [0, 250, 500, 2000]}, 1))
    write_lines(root / "label" / "valence" / "5.csv",
                muse_labels("5", {"1": [0, 250, 500, 2000]}, -1))
    with pytest.raises(InputError, match="jump"):
        read_trace(gap, root / "label" / "valence" / "5.csv", "1")

    transcript = root / "transcription" / "1" / "1_2.csv"
    write_lines(transcript, ["start,end,segment_id,word", "1500,x,2,Hello"])
    with pytest.raises(InputError, match="line 2") as error:
        MuseCarCorpus(root).items()
    assert error.value.path == str(transcript)

    partition = write_lines(root / "partition.csv", ["Id,Proposal", "1,train", "2,validation"])
    with pytest.raises(InputError, match="line 3") as error:
        MuseCarCorpus(root)
    assert error.value.path == str(partition)
