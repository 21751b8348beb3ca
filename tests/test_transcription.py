"""The recogniser (pocketsphinx) on espeak-ng English, transcript CSVs, and the resumable
recognition of corpus items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from scipy.signal import resample_poly

from tfemo.audio import SAMPLE_RATE
from tfemo.audio.espeak import synthesize
from tfemo.audio.io import load_audio
from tfemo.core.errors import InputError, UserError
from tfemo.corpora.base import Item, Segment, WordTiming
from tfemo.text.frames import word_vectors_on_frames
from tfemo.text.recognised import recognise_items
from tfemo.text.transcription import (
    StreamRecogniser,
    pcm16_bytes,
    recognise,
    segment_words,
)
from tfemo.text.transcripts import (
    apply_transcripts,
    read_transcripts,
    write_timed_transcripts,
)

PAD = 0.25


def _speech(text: str = "Kids are talking by the door every evening.", voice: str = "en-us",
            rate: int = 150) -> tuple[np.ndarray, list[WordTiming]]:
    """espeak-ng speech at 16 kHz with PAD s of silence around it, and its true word starts."""
    synthesis = synthesize(text, voice=voice, rate=rate)
    audio = resample_poly(synthesis.samples / 32768.0, 320, 441).astype(np.float32)
    silence = np.zeros(int(PAD * SAMPLE_RATE), np.float32)
    hz = synthesis.sample_rate
    truth = [WordTiming(w.lower(), s / hz + PAD, e / hz + PAD) for w, s, e in synthesis.words]
    return np.concatenate([silence, audio, silence]), truth


def test_recognised_words_carry_their_times():
    audio, truth = _speech()
    words = recognise(audio, "kids.wav")
    said = [w.word for w in words]
    assert said[:2] == ["kids", "are"]
    starts = {w.word: w.start for w in truth}
    for word in words[:2]:  # the words it got right start where espeak-ng said them
        assert abs(word.start - starts[word.word]) < 0.1
    assert all(w.end > w.start for w in words)
    assert all(truth[0].start - 0.1 <= w.start and w.end <= truth[-1].end + 0.1 for w in words)
    assert [(w.start, w.end) for w in words] == sorted((w.start, w.end) for w in words)


def test_offset_shifts_every_word_and_recognition_is_deterministic():
    audio, _ = _speech()
    first = recognise(audio, "a.wav")
    shifted = recognise(audio, "a.wav", offset=10.0)
    assert [w.word for w in shifted] == [w.word for w in first]
    assert np.allclose([w.start - 10.0 for w in shifted], [w.start for w in first])
    recognise(_speech("We had a wonderful time together today.")[0], "b.wav")
    assert recognise(audio, "a.wav") == first  # whatever the decoder heard before


def test_silence_gives_no_words():
    assert recognise(np.zeros(SAMPLE_RATE, np.float32), "quiet.wav") == []


def test_non_english_audio_is_refused_naming_the_file():
    audio, _ = _speech()
    with pytest.raises(InputError) as caught:
        recognise(audio, "rec/guten_tag.wav", language="deu")
    assert caught.value.path == "rec/guten_tag.wav"
    assert "deu" in caught.value.detail and "transcript" in caught.value.detail


def test_bad_audio_is_an_input_error():
    with pytest.raises(InputError, match="empty audio"):
        recognise(np.zeros(0, np.float32), "empty.wav")
    with pytest.raises(InputError, match="non-finite"):
        recognise(np.full(1600, np.nan, np.float32), "nan.wav")


def test_stream_recogniser_equals_the_whole_file():
    audio, _ = _speech()
    stream = StreamRecogniser("stream")
    hypotheses = [stream.feed(audio[start:start + 3200]) for start in range(0, len(audio), 3200)]
    assert hypotheses[0] == "" and hypotheses[-1]  # words appear as the speech comes
    assert stream.finish() == recognise(audio, "whole")


def test_segments_drop_fillers_and_pronunciation_numbers():
    words = segment_words([("<s>", 0, 2), ("read(2)", 3, 19), ("<sil>", 20, 30),
                           ("[NOISE]", 31, 40), ("It", 41, 49), ("</s>", 50, 52)], offset=1.0)
    assert words == [WordTiming("read", 1.03, 1.2), WordTiming("it", 1.41, 1.5)]


def test_pcm16_bytes_round_and_clip():
    data = np.frombuffer(pcm16_bytes(np.array([0.0, 0.5, -1.0, 1.5], np.float32)), "<i2")
    assert data.tolist() == [0, 16384, -32768, 32767]


def test_recognised_words_go_straight_onto_frames():
    audio, _ = _speech()
    words = recognise(audio, "kids.wav")
    table = {w.word: np.full(2, i + 1, np.float32) for i, w in enumerate(words)}
    frames = word_vectors_on_frames(words, table, len(audio) // 640, 2)
    first = words[0]
    centre = int((first.start + first.end) / 2 / 0.04)
    assert frames[centre, 0] == table[first.word][0]
    assert not frames[: int(PAD / 0.04) - 2].any()  # the leading silence has no word


# ----------------------------------------------------------------------- transcript CSVs
def test_plain_and_timed_csvs(tmp_path):
    (tmp_path / "plain.csv").write_text("path,transcript\na.wav,Hello there\nsub/b.wav,\n")
    table = read_transcripts(tmp_path / "plain.csv")
    assert table.get(tmp_path / "a.wav").text == "Hello there"
    assert table.get(tmp_path / "a.wav").words is None
    assert table.get("/elsewhere/b.wav").text == ""  # found by its unique file name
    timed = tmp_path / "timed.csv"
    write_timed_transcripts(timed, [(str(tmp_path / "a.wav"), [WordTiming("hi", 0.1, 0.4)]),
                                    (str(tmp_path / "c.wav"), [])])
    table = read_transcripts(timed)
    assert table.get(tmp_path / "a.wav").words == (WordTiming("hi", 0.1, 0.4),)
    assert table.get(tmp_path / "c.wav").words == ()
    assert table.get(tmp_path / "d.wav") is None


@pytest.mark.parametrize(("text", "match"), [
    ("file,words\na.wav,hi\n", "needs the columns"),
    ("path,word,start,end\na.wav,hi,0.5,0.2\n", "ends"),
    ("path,word,start,end\na.wav,hi,x,0.2\n", "line 2"),
])
def test_bad_transcript_csvs_name_the_file(tmp_path, text, match):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(UserError, match=match) as caught:
        read_transcripts(path)
    assert str(path) in str(caught.value)


def _item(path: Path, transcript: str = "", language: str = "eng") -> Item:
    segments = (Segment(0.0, 1.0, transcript),) if transcript else ()
    return Item(path.stem, "s1", "test", "train", path, segments, language=language)


def test_a_csv_replaces_or_fills_transcripts(tmp_path):
    (tmp_path / "t.csv").write_text("path,word,start,end\na.wav,hi,0.1,0.3\n")
    table = read_transcripts(tmp_path / "t.csv")
    given = _item(tmp_path / "a.wav", "hello")
    replaced = apply_transcripts([given], table)[0]
    assert replaced.segments[0].words == (WordTiming("hi", 0.1, 0.3),)
    assert apply_transcripts([given], table, replace=False)[0] == given


def test_recognise_items_resumes_and_leaves_other_languages_out(tmp_path):
    audio, _ = _speech()
    for name in ("a", "b", "c"):
        soundfile.write(tmp_path / f"{name}.wav", audio, SAMPLE_RATE, subtype="PCM_16")
    items = [_item(tmp_path / "a.wav"), _item(tmp_path / "b.wav", "has one"),
             _item(tmp_path / "c.wav", language="deu"), _item(tmp_path / "missing.wav")]
    cache = tmp_path / "asr.csv"
    table, report = recognise_items(items, cache)
    assert (report.recognised, report.reused) == (1, 0)
    assert [i.audio_path for i in report.other_language] == [tmp_path / "c.wav"]
    assert [e.path for e in report.failed] == [str(tmp_path / "missing.wav")]
    # the file's 16-bit samples (what recognise_items read), not the float synthesis: the
    # quantisation may move a word's last 10 ms frame
    written = load_audio(tmp_path / "a.wav")
    assert table.get(tmp_path / "a.wav").words[:2] == tuple(recognise(written, "a")[:2])
    assert table.get(tmp_path / "b.wav") is None  # it has a transcript of its own
    table, report = recognise_items(items, cache, replace=True)
    assert (report.recognised, report.reused) == (1, 1)  # only b is new
    assert table.get(tmp_path / "b.wav").words == table.get(tmp_path / "a.wav").words
