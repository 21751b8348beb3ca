"""make_tfrecords --transcripts: a corpus without transcripts gets words from a CSV or from the
recogniser, and records without words say how to get them."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile
from scipy.signal import resample_poly

from tfemo.audio import FRAME_SECONDS, SAMPLE_RATE
from tfemo.audio.espeak import synthesize
from tfemo.make_tfrecords import ASR_CSV
from tfemo.make_tfrecords import main as make_tfrecords_main
from tfemo.records.description import DatasetDescription
from tfemo.records.reader import make_dataset
from tfemo.text.embeddings import load_word_vectors
from tfemo.text.transcription import recognise

SENTENCES = ("Kids are talking by the door every evening.", "Please bring the blue bottle home.",
             "We had a wonderful time together today.")
PORTIONS = ("train", "devel", "test")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A manifest of three espeak-ng utterances (one per portion) without transcripts."""
    folder = tmp_path_factory.mktemp("corpus")
    rows = ["path,speaker,label,portion"]
    for k, (text, portion) in enumerate(zip(SENTENCES, PORTIONS, strict=True)):
        synthesis = synthesize(text, voice="en-us", rate=150)
        audio = resample_poly(synthesis.samples / 32768.0, 320, 441).astype(np.float32)
        audio = np.concatenate([np.zeros(3200, np.float32), audio, np.zeros(3200, np.float32)])
        soundfile.write(folder / f"u{k}.wav", audio, SAMPLE_RATE, subtype="PCM_16")
        rows.append(f"u{k}.wav,s{k},{'happy' if k % 2 else 'sad'},{portion}")
    (folder / "corpus.csv").write_text("\n".join(rows) + "\n")
    return folder


def _make(corpus: Path, output: Path, *extra: str) -> int:
    return make_tfrecords_main(["--corpus", "manifest", "--data_dir", str(corpus / "corpus.csv"),
                                "--task", "categorical", "--output_dir", str(output),
                                "--workers", "1", "--quiet", *extra])


def _examples(output: Path, portion: str) -> dict:
    data = make_dataset(output, portion, sequence_length=None, batch_size=1, shuffle=False,
                        seed=0, features=("words", "word_mask"))
    return next(iter(data))


def test_without_transcripts_the_records_have_no_words(corpus, tmp_path):
    assert _make(corpus, tmp_path / "r") == 0
    assert DatasetDescription.read(tmp_path / "r").word_dim == 0


def test_training_text_on_records_without_words_says_how_to_get_them(corpus, tmp_path, capsys):
    from tfemo import train

    assert _make(corpus, tmp_path / "r") == 0
    capsys.readouterr()
    code = train.main(["--model", "multimodal", "--modalities", "text", "--tfrecords",
                       str(tmp_path / "r"), "--train_dir", str(tmp_path / "t"), "--max_steps",
                       "1", "--device", "-1", "--verbose", "0"])
    said = " ".join(capsys.readouterr().err.split())
    assert code != 0
    assert "the records have none" in said and "--transcripts asr" in said
    assert "--transcripts FILE.csv" in said and "keeps them" not in said


def test_a_timed_csv_puts_its_words_on_the_frames_it_gives(corpus, tmp_path):
    listing = tmp_path / "words.csv"
    with open(listing, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "word", "start", "end"])
        for k in range(3):
            writer.writerows([[str(corpus / f"u{k}.wav"), "hello", 0.4, 0.8],
                              [str(corpus / f"u{k}.wav"), "world", 0.8, 1.2]])
    assert _make(corpus, tmp_path / "r", "--transcripts", str(listing)) == 0
    description = DatasetDescription.read(tmp_path / "r")
    assert description.word_dim == 300 and description.alignment == {"corpus": 3}
    first = _examples(tmp_path / "r", "train")
    vectors = load_word_vectors()
    words = first["words"].numpy()[0]
    frame = int(0.6 / FRAME_SECONDS)
    assert np.allclose(words[frame], vectors.lookup("hello"))
    assert np.allclose(words[int(1.0 / FRAME_SECONDS)], vectors.lookup("world"))
    assert not words[: int(0.4 / FRAME_SECONDS)].any() and not words[31:].any()
    assert np.allclose(first["word_sequence"].numpy()[0],
                       np.stack([vectors.lookup("hello"), vectors.lookup("world")]))


def test_asr_recognises_words_once_and_puts_them_on_frames(corpus, tmp_path):
    output = tmp_path / "r"
    assert _make(corpus, output, "--transcripts", "asr") == 0
    listing = output / ASR_CSV
    stamp = listing.stat().st_mtime_ns
    description = DatasetDescription.read(output)
    assert description.word_dim == 300
    audio, _ = soundfile.read(corpus / "u0.wav", dtype="float32")
    said = recognise(audio, "u0")
    first = _examples(output, "train")
    assert first["word_mask"].numpy().sum() == len(said) > 0
    vectors = load_word_vectors()
    assert np.allclose(first["word_sequence"].numpy()[0][0], vectors.lookup(said[0].word))
    middle = int((said[0].start + said[0].end) / 2 / FRAME_SECONDS)
    assert np.allclose(first["words"].numpy()[0][middle], vectors.lookup(said[0].word))
    assert _make(corpus, output, "--transcripts", "asr") == 0  # made again: nothing recognised
    assert listing.stat().st_mtime_ns == stamp


def test_asr_on_other_languages_fails_in_one_line(corpus, tmp_path, capsys):
    capsys.readouterr()
    assert _make(corpus, tmp_path / "r", "--transcripts", "asr", "--language", "deu") == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "English only" in lines[0] and "deu" in lines[0]


def test_a_csv_naming_no_file_of_the_corpus_is_refused(corpus, tmp_path, capsys):
    listing = tmp_path / "t.csv"
    listing.write_text("path,transcript\nother.wav,hello there\n")
    assert _make(corpus, tmp_path / "r", "--transcripts", str(listing)) == 2
