"""Readers of EMO-DB, RAVDESS, TESS and SAVEE on tiny fake trees in each corpus's real layout."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.corpus_trees import emodb_tree, noise_wav, ravdess_tree, savee_tree, tess_tree
from tfemo.audio.io import load_audio
from tfemo.core.errors import InputError
from tfemo.corpora import emodb, ravdess, savee, tess
from tfemo.corpora.base import CATEGORICAL, PORTIONS
from tfemo.corpora.emodb import EmoDBCorpus
from tfemo.corpora.partition import check_speaker_independent, speaker_overlap
from tfemo.corpora.ravdess import RavdessCorpus
from tfemo.corpora.savee import SaveeCorpus
from tfemo.corpora.tess import TessCorpus

EMODB_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "emodb"


def _by_id(items) -> dict:
    return {item.id: item for item in items}


def _reasons(corpus) -> dict[str, str]:
    """Skipped files as {path relative to the corpus root: reason}."""
    return {p.relative_to(corpus.root).as_posix(): r for p, r in corpus.ignored}


def _check_contract(corpus, items) -> None:
    """What every reader promises: sorted ids, known labels, its corpus and language."""
    assert [i.id for i in items] == sorted(i.id for i in items)
    assert len({i.id for i in items}) == len(items)
    names = corpus.label_names(CATEGORICAL)
    for item in items:
        assert item.label in names
        assert item.corpus == corpus.name and item.language == corpus.language
        assert item.portion in PORTIONS
        assert all(isinstance(v, str) for v in item.metadata.values())
    assert corpus.tasks == (CATEGORICAL,) and corpus.default_task == CATEGORICAL
    with pytest.raises(ValueError, match="continuous"):
        corpus.items("continuous")
    if corpus.speaker_independent:
        check_speaker_independent(items, corpus.name)


def _read(reader, root: Path):
    """A reader over `root` and its categorical items, checked against the contract."""
    corpus = reader(root)
    items = corpus.items(CATEGORICAL)
    _check_contract(corpus, items)
    return corpus, items


@pytest.mark.parametrize("reader", [EmoDBCorpus, RavdessCorpus, TessCorpus, SaveeCorpus])
def test_missing_or_empty_corpus_names_the_folder(tmp_path, reader):
    missing = tmp_path / "nowhere"
    with pytest.raises(InputError, match="missing corpus") as error:
        reader(missing).items(CATEGORICAL)
    assert error.value.path == str(missing) and str(missing) in str(error.value)
    empty = tmp_path / "empty"
    (empty / "wav").mkdir(parents=True)
    (empty / "wav" / "notes.txt").write_text("nothing here\n")
    corpus = reader(empty)
    with pytest.raises(InputError, match="missing corpus") as error:
        corpus.items(CATEGORICAL)
    assert str(empty) in error.value.path and "1 other files" in error.value.detail
    assert [p.name for p, _ in corpus.ignored] == ["notes.txt"]


# --- EMO-DB --------------------------------------------------------------------------------

def test_emodb_reads_names_speakers_texts_and_default_split(tmp_path):
    root = emodb_tree(tmp_path / "emodb")
    corpus, items = _read(EmoDBCorpus, root)
    assert corpus.name == "emodb" and corpus.language == "deu" and corpus.speaker_independent
    found = _by_id(items)
    assert list(found) == ["03a01Fa", "03a02Wb", "03a02Wc", "08b10Lb", "09b03Ta", "12a04Ad",
                           "13b09Ae", "14a05Ea", "15a07Ta", "16b01Nc"]
    first = found["03a01Fa"]
    assert (first.speaker, first.label, first.gender) == ("03", "happiness", "male")
    assert first.audio_path == root / "wav" / "03a01Fa.wav"
    assert first.segments[0].transcript == "Der Lappen liegt auf dem Eisschrank."
    assert first.segments[0].start == 0.0 and first.segments[0].end == pytest.approx(0.1)
    assert first.segments[0].words is None
    assert first.metadata == {"text_id": "a01", "sentence": "Der Lappen liegt auf dem Eisschrank.",
                              "emotion_letter": "F", "version": "a", "age": "31"}
    assert found["03a02Wc"].segments[0].end == pytest.approx(0.3)
    assert found["03a02Wc"].segments[0].transcript == "Das will sie am Mittwoch abgeben."
    assert {k: found[k].label for k in ("03a02Wb", "08b10Lb", "12a04Ad", "14a05Ea", "15a07Ta",
                                        "16b01Nc", "13b09Ae")} == {
        "03a02Wb": "anger", "08b10Lb": "boredom", "12a04Ad": "fear", "14a05Ea": "disgust",
        "15a07Ta": "sadness", "16b01Nc": "neutral", "13b09Ae": "fear"}
    assert found["16b01Nc"].segments[0].transcript.startswith("Was sind denn das für Tüten")
    assert {found[k].gender for k in ("08b10Lb", "14a05Ea", "16b01Nc", "13b09Ae")} == {"female"}
    assert {i.speaker: i.portion for i in items} == {
        "03": "train", "08": "train", "09": "train", "12": "devel", "13": "train",
        "14": "devel", "15": "test", "16": "test"}
    assert corpus.label_names(CATEGORICAL) == ("anger", "boredom", "disgust", "fear",
                                               "happiness", "sadness", "neutral")
    assert _reasons(corpus) == {
        "wav/02a01Fa.wav": "unknown speaker 02",
        "wav/03a01Xa.wav": "unknown emotion letter X",
        "wav/03a03Fa.wav": "unknown text code a03",
        "wav/info.txt": "not a .wav file",
    }
    # a corrupt file is still an item (end 0.0); load_audio reports it later, item by item
    broken = found["09b03Ta"]
    assert broken.segments[0].end == 0.0
    with pytest.raises(InputError, match="corrupt audio") as error:
        load_audio(broken.audio_path)
    assert error.value.path == str(broken.audio_path)


def test_emodb_default_split_is_speaker_disjoint_and_gender_balanced():
    portions = {}
    for portion, speakers in emodb.DEFAULT_SPLIT.items():
        for speaker in speakers:
            assert speaker not in portions
            portions[speaker] = portion
    assert sorted(portions) == sorted(emodb.SPEAKERS)
    for speakers in emodb.DEFAULT_SPLIT.values():
        genders = Counter(emodb.SPEAKERS[s][0] for s in speakers)
        assert genders["male"] == genders["female"]


def test_emodb_custom_split_wav_folder_as_root_and_bad_splits(tmp_path):
    root = emodb_tree(tmp_path / "emodb")
    corpus = EmoDBCorpus(root / "wav", split={"train": ["03", "08"], "test": ["16"]})
    items = corpus.items()
    assert {i.speaker: i.portion for i in items} == {"03": "train", "08": "train",
                                                     "16": "test"}
    assert _reasons(corpus)["12a04Ad.wav"] == "speaker 12 is in no portion of the split"
    with pytest.raises(ValueError, match="speaker '03' is in both"):
        EmoDBCorpus(root, split={"train": ["03"], "test": ["03"]})
    with pytest.raises(ValueError, match="unknown speaker '99'"):
        EmoDBCorpus(root, split={"train": ["99"]})
    with pytest.raises(ValueError, match="unknown portion 'valid'"):
        EmoDBCorpus(root, split={"valid": ["03"]})


def test_emodb_real_corpus():
    if not (EMODB_DATA / "wav").is_dir():
        pytest.skip(f"{EMODB_DATA} is absent")
    corpus = EmoDBCorpus(EMODB_DATA)
    items = corpus.items(CATEGORICAL)
    _check_contract(corpus, items)
    assert len(items) == 535 and corpus.ignored == []
    assert len({i.speaker for i in items}) == 10
    assert Counter(i.metadata["emotion_letter"] for i in items) == {
        "W": 127, "N": 79, "L": 81, "F": 71, "A": 69, "T": 62, "E": 46}
    assert speaker_overlap(items) == {}
    speakers = {p: {i.speaker for i in items if i.portion == p} for p in PORTIONS}
    assert all(speakers.values())
    assert not (speakers["train"] & speakers["devel"] or speakers["train"] & speakers["test"]
                or speakers["devel"] & speakers["test"])
    assert {i.gender for i in items} == {"male", "female"}
    assert all(i.segments[0].end > 1.0 and i.segments[0].transcript for i in items)


# --- RAVDESS -------------------------------------------------------------------------------

def test_ravdess_decodes_all_fields_and_reads_audio_only_speech(tmp_path):
    root = ravdess_tree(tmp_path / "ravdess")
    corpus, items = _read(RavdessCorpus, root)
    assert corpus.channel == "speech" and corpus.language == "eng"
    found = _by_id(items)
    assert list(found) == ["03-01-01-01-01-01-02", "03-01-02-01-01-01-22",
                           "03-01-05-01-02-01-01", "03-01-07-02-01-01-21",
                           "03-01-08-02-02-02-18"]
    angry = found["03-01-05-01-02-01-01"]
    assert angry.audio_path == root / "Actor_01" / "03-01-05-01-02-01-01.wav"
    assert (angry.speaker, angry.gender, angry.label, angry.portion) == (
        "01", "male", "angry", "train")
    assert angry.metadata == {"modality": "audio-only", "vocal_channel": "speech",
                              "emotion": "angry", "intensity": "normal", "statement": "02",
                              "statement_text": "Dogs are sitting by the door",
                              "repetition": "01", "actor": "01"}
    assert angry.segments[0].transcript == "Dogs are sitting by the door"
    assert angry.segments[0].end == pytest.approx(0.2)
    neutral = found["03-01-01-01-01-01-02"]
    assert (neutral.gender, neutral.label) == ("female", "neutral")
    assert neutral.segments[0].transcript == "Kids are talking by the door"
    surprised = found["03-01-08-02-02-02-18"]
    assert surprised.metadata["intensity"] == "strong"
    assert surprised.metadata["repetition"] == "02" and surprised.label == "surprised"
    assert {i.speaker: i.portion for i in items} == {"01": "train", "02": "train",
                                                     "18": "devel", "21": "test",
                                                     "22": "test"}
    assert corpus.label_names(CATEGORICAL) == ("neutral", "calm", "happy", "sad", "angry",
                                               "fearful", "disgust", "surprised")
    reasons = _reasons(corpus)
    assert reasons["Actor_01/01-01-05-01-02-01-01.wav"].startswith("modality 01 (full-AV)")
    assert reasons["Actor_01/02-01-05-01-02-01-01.mp4"].startswith("modality 02 (video-only)")
    assert reasons["Actor_01/03-02-03-02-01-02-01.wav"] == (
        "vocal channel song (reading speech only)")
    assert reasons["Actor_02/03-01-04-01-01-01-05.wav"] == (
        "actor 05 in the file name, but the file is in Actor_02")
    assert reasons["Actor_22/03-01-09-01-01-01-22.wav"] == "unknown emotion 09"
    assert reasons["Actor_22/03-01-01-02-01-01-22.wav"] == "neutral has no strong intensity"
    assert reasons["audio_speech_actors_01-24/Actor_01/03-01-05-01-02-01-01.wav"] == (
        f"duplicate of {angry.audio_path}")
    assert reasons["Actor_01/.DS_Store"] == "hidden file"
    assert reasons["readme.txt"].startswith("file name is not MM-VV-EE-II-SS-RR-AA")
    assert len(reasons) == 10  # the song disgust file is skipped as song, not as disgust


def test_ravdess_song_and_both_channels(tmp_path):
    root = ravdess_tree(tmp_path / "ravdess")
    song = RavdessCorpus(root, channel="song")
    items = song.items()
    _check_contract(song, items)
    assert [i.id for i in items] == ["03-02-03-02-01-02-01"]
    assert items[0].metadata["vocal_channel"] == "song" and items[0].label == "happy"
    assert song.label_names(CATEGORICAL) == ("neutral", "calm", "happy", "sad", "angry",
                                             "fearful")
    assert _reasons(song)["Actor_22/03-02-07-01-01-01-22.wav"] == (
        "emotion disgust does not exist in song")
    both = RavdessCorpus(root, channel="both")
    assert len(both.items()) == 6 and len(both.label_names(CATEGORICAL)) == 8
    with pytest.raises(ValueError, match="speech, song or both"):
        RavdessCorpus(root, channel="video")


def test_ravdess_default_split_and_custom_split(tmp_path):
    split = ravdess.DEFAULT_SPLIT
    assert split["train"] == tuple(f"{n:02d}" for n in range(1, 17))
    assert split["devel"] == ("17", "18", "19", "20")
    assert split["test"] == ("21", "22", "23", "24")
    for actors in split.values():
        assert Counter(map(ravdess.gender_of, actors))["male"] == len(actors) / 2
    root = ravdess_tree(tmp_path / "ravdess")
    corpus = RavdessCorpus(root, split={"train": ["01", "02"], "test": ["22"]})
    assert {i.speaker: i.portion for i in corpus.items()} == {"01": "train", "02": "train",
                                                             "22": "test"}
    assert _reasons(corpus)["Actor_18/03-01-08-02-02-02-18.wav"] == (
        "actor 18 is in no portion of the split")
    with pytest.raises(ValueError, match="unknown speaker '25'"):
        RavdessCorpus(root, split={"train": ["25"]})


# --- TESS ----------------------------------------------------------------------------------

def test_tess_reads_quirky_tree_and_says_it_is_speaker_dependent(tmp_path):
    root = tess_tree(tmp_path / "tess")
    corpus = TessCorpus(root)
    with pytest.warns(UserWarning, match="SPEAKER-DEPENDENT"):
        items = corpus.items(CATEGORICAL)
    _check_contract(corpus, items)
    assert corpus.speaker_independent is False
    assert "speaker-dependent" in corpus.WARNING.lower()
    assert "speaker-dependent" in TessCorpus.__doc__.lower()
    assert "speaker-dependent" in tess.__doc__.lower()
    found = _by_id(items)
    assert list(found) == ["OAF_back_angry", "OAF_back_ps", "OAF_bite_fear", "YAF_back_ps",
                           "YAF_chalk_sad", "YAF_dog_happy"]
    assert {i.id: i.label for i in items} == {
        "OAF_back_angry": "angry", "OAF_back_ps": "pleasant_surprise", "OAF_bite_fear": "fear",
        "YAF_back_ps": "pleasant_surprise", "YAF_chalk_sad": "sad", "YAF_dog_happy": "happy"}
    typo = found["OAF_bite_fear"]
    assert typo.speaker == "OAF" and typo.metadata["file_speaker_code"] == "OA"
    assert typo.audio_path == root / "OAF_Fear" / "OA_bite_fear.wav"
    assert {i.gender for i in items} == {"female"}
    assert found["YAF_back_ps"].metadata == {"word": "back", "emotion": "pleasant_surprise",
                                             "age_group": "younger", "age": "26",
                                             "file_speaker_code": "YAF"}
    assert found["OAF_back_angry"].segments[0].transcript == "Say the word back"
    assert found["OAF_back_angry"].audio_path == root / "OAF_angry" / "OAF_back_angry.wav"
    aiff, fast = found["YAF_chalk_sad"], found["YAF_dog_happy"]
    assert aiff.segments[0].end == pytest.approx(0.25, abs=1e-4)
    assert fast.segments[0].end == pytest.approx(0.3)
    assert len(load_audio(aiff.audio_path)) == pytest.approx(4000, abs=2)
    assert len(load_audio(fast.audio_path)) == pytest.approx(4800, abs=2)
    for item in items:  # portions hold out words: one word, one portion
        assert item.portion == tess.default_portion(item.metadata["word"])
    assert corpus.label_names(CATEGORICAL) == ("angry", "disgust", "fear", "happy", "neutral",
                                               "pleasant_surprise", "sad")
    reasons = _reasons(corpus)
    assert reasons == {
        "YAF_angry/YAF_dog_sad.wav": "emotion sad in the file name, but the folder is YAF_angry",
        "YAF_angry/OAF_dog_angry.wav": "speaker OAF in the file name, but the folder is YAF_angry",
        "YAF_angry/YAF_dog.wav": "file name is not <OAF|YAF>_<word>_<emotion>.wav",
        "TESS Toronto emotional speech set data/OAF_angry/OAF_back_angry.wav":
            f"duplicate of {root / 'OAF_angry' / 'OAF_back_angry.wav'}",
    }


def test_tess_flat_layout_and_word_split(tmp_path):
    root = tmp_path / "flat"
    for name in ("OAF_back_angry", "YAF_back_PS", "OA_neat_neutral", "YAF_neat_disgust",
                 "YAF_youth_Fear"):
        noise_wav(root / f"{name}.wav")
    corpus = TessCorpus(root, split={"train": ["back"], "test": ["neat"]})
    with pytest.warns(UserWarning):
        items = corpus.items()
    assert {i.id: (i.label, i.portion) for i in items} == {
        "OAF_back_angry": ("angry", "train"), "YAF_back_ps": ("pleasant_surprise", "train"),
        "OAF_neat_neutral": ("neutral", "test"), "YAF_neat_disgust": ("disgust", "test")}
    assert _reasons(corpus) == {"YAF_youth_Fear.wav": "word 'youth' is in no portion of the split"}
    with pytest.raises(ValueError, match="word 'back' is in both"):
        TessCorpus(root, split={"train": ["back"], "devel": ["Back"]})


def test_tess_default_word_split_is_stable_and_about_80_10_10():
    # fixed answers: the portion of a word must not change between runs or Python versions
    words = ("back", "bite", "chalk", "neat", "youth")
    assert [tess.default_portion(w) for w in words] == ["train", "train", "train", "test",
                                                        "train"]
    assert [tess.default_portion(w.upper()) for w in words] == [
        tess.default_portion(w) for w in words]
    counts = Counter(tess.default_portion(f"word{n}") for n in range(2000))
    assert set(counts) == set(PORTIONS)
    assert 0.76 < counts["train"] / 2000 < 0.84
    assert 0.07 < counts["devel"] / 2000 < 0.13 and 0.07 < counts["test"] / 2000 < 0.13


# --- SAVEE ---------------------------------------------------------------------------------

def test_savee_official_and_flat_layouts(tmp_path):
    official = savee_tree(tmp_path / "savee")
    corpus, items = _read(SaveeCorpus, official)
    found = _by_id(items)
    assert {k: (i.speaker, i.label, i.portion) for k, i in found.items()} == {
        "DC_a01": ("DC", "anger", "train"), "DC_sa02": ("DC", "sadness", "train"),
        "DC_su15": ("DC", "surprise", "train"), "JE_n30": ("JE", "neutral", "train"),
        "JK_h01": ("JK", "happiness", "devel"), "KL_d03": ("KL", "disgust", "test"),
        "KL_f04": ("KL", "fear", "test")}
    assert found["DC_sa02"].metadata == {"emotion_code": "sa", "sentence_number": "02"}
    assert found["DC_sa02"].audio_path == official / "AudioData" / "DC" / "sa02.wav"
    assert {i.gender for i in items} == {"male"} and all(i.segments == () for i in items)
    assert corpus.label_names(CATEGORICAL) == ("anger", "disgust", "fear", "happiness",
                                               "neutral", "sadness", "surprise")
    reasons = _reasons(corpus)
    assert reasons["AudioData/XX/a01.wav"].startswith("file name has no speaker and folder XX")
    assert reasons["AudioData/DC/s01.wav"].startswith("file name is not")
    assert reasons["AudioData/DC/info.txt"].startswith("file name is not")
    assert reasons["AudioVisualClip/DC/a01.avi"] == "not a .wav file"
    assert len(reasons) == 4

    flat = tmp_path / "flat"
    for name in ("DC_a01", "JE_su01", "KL_sa15", "ZZ_a01"):
        noise_wav(flat / "ALL" / f"{name}.wav")
    corpus = SaveeCorpus(flat, split={"train": ["DC", "JE"], "test": ["KL"]})
    assert {i.id: (i.label, i.portion) for i in corpus.items()} == {
        "DC_a01": ("anger", "train"), "JE_su01": ("surprise", "train"),
        "KL_sa15": ("sadness", "test")}
    assert _reasons(corpus) == {"ALL/ZZ_a01.wav": "unknown speaker ZZ"}
    assert savee.DEFAULT_SPLIT == {"train": ("DC", "JE"), "devel": ("JK",), "test": ("KL",)}
    with pytest.raises(ValueError, match="speaker 'DC' is in both"):
        SaveeCorpus(flat, split={"train": ["DC"], "devel": ["DC"]})
