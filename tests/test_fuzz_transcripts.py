"""Fuzzing transcripts (hypothesis): empty, only punctuation, 10,000 words, mixed scripts, emoji.

Entry points: tokenize (the one tokeniser alignment and vector lookup share) and example
building with word vectors (uniform alignment, as make_tfrecords does it for a manifest with a
transcript column, and the same through make_tfrecords for a whole manifest). Property: no
crash; a transcript without words, or more words than the speech can hold, is an InputError
naming the audio file; any other transcript gives finite word vectors on the frames.
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st

from tfemo.core.errors import InputError
from tfemo.corpora.base import CATEGORICAL, Item, Segment
from tfemo.corpora.manifest import ManifestCorpus
from tfemo.records.build import MakeOptions, make_tfrecords
from tfemo.records.example import BuildOptions, build_example, item_words
from tfemo.records.partitions import read_portion
from tfemo.text.embeddings import load_word_vectors, vector_table
from tfemo.text.tokens import tokenize

MIXED = st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S", "Zs"))
SCRIPTS = "hello Привет مرحبا 你好 こんにちは שלום नमस्ते γειά 😀🎉👍🏽 ❤️ café naïve"
TRANSCRIPTS = st.one_of(
    st.just(""),
    st.text(alphabet=" \t\n", max_size=5),
    st.text(alphabet=string.punctuation + "«»—…¿¡“”", min_size=1, max_size=40),
    st.builds(lambda w, n: " ".join([w] * n), st.sampled_from(["hello", "world", "日本"]),
              st.sampled_from([1, 3, 10_000])),
    st.lists(st.sampled_from(SCRIPTS.split()), min_size=1, max_size=12).map(" ".join),
    st.text(alphabet=MIXED, max_size=60),
    st.text(max_size=60),
)
SECONDS = 2.0


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("t")
    vectors = folder / "vectors.txt"
    vectors.write_text("3 4\nhello 0.1 0.2 0.3 0.4\nworld 0.5 0.1 0.0 0.2\n"
                       "日本 0.3 0.3 0.3 0.3\n", encoding="utf-8")
    audio = folder / "speech.wav"
    t = np.arange(int(SECONDS * 16000)) / 16000
    envelope = (np.sin(2 * np.pi * 1.5 * t) > -0.3).astype(np.float64)
    signal = 0.3 * np.sin(2 * np.pi * 180 * t) * envelope + 0.001 * np.sin(t)
    soundfile.write(audio, signal.astype(np.float32), 16000)
    return folder, load_word_vectors(str(vectors)), audio


@given(text=TRANSCRIPTS)
def test_tokens_are_nonempty_lowercase_words(text):
    tokens = tokenize(text)
    assert all(token and token == token.lower() and not token.isspace() for token in tokens)
    assert tokenize(" ".join(tokens)) == tokens  # tokenising is idempotent


@given(text=TRANSCRIPTS)
def test_word_vectors_land_on_frames_or_the_file_is_named(setup, text):
    _, vectors, audio = setup
    item = Item(id="t", speaker="s", corpus="fuzz", portion="train", audio_path=audio,
                label="a", segments=(Segment(0.0, SECONDS, text),))
    table, _ = vector_table(item_words(item, "uniform"), vectors)
    options = BuildOptions(task="categorical", alignment="uniform", class_names=("a",),
                           word_dim=vectors.dim)
    try:
        result = build_example(item, options, table)
    except InputError as error:
        assert error.path == str(audio), error
        words = tokenize(text)
        assert not words and error.reason == "empty transcript" or \
            words and error.reason == "alignment failed", error
        return
    assert tokenize(text)
    words = result.example.words
    assert words.shape == (result.num_frames, vectors.dim) and np.isfinite(words).all()
    assert np.abs(words).sum() > 0  # the words are on some frames


@settings(settings.default, max_examples=max(4, settings.default.max_examples // 4))
@given(texts=st.lists(TRANSCRIPTS, min_size=2, max_size=4))
def test_a_manifest_with_any_transcripts_writes_the_usable_ones(setup, tmp_path_factory,
                                                                 texts):
    folder, _, audio = setup
    out = tmp_path_factory.mktemp("records")
    rows = ["path,speaker,label,portion,transcript"]
    for k, text in enumerate(texts):
        (out / f"u{k}.wav").write_bytes(audio.read_bytes())
        cell = '"' + text.replace('"', '""') + '"'
        rows.append(f"u{k}.wav,s{k},a,{('train', 'devel', 'test')[k % 3]},{cell}")
    manifest = out / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    corpus = ManifestCorpus(manifest)
    skips = []
    description, _ = make_tfrecords(
        corpus, out / "records", MakeOptions(task=CATEGORICAL, alignment="uniform",
                                             embeddings=str(folder / "vectors.txt")),
        on_skip=skips.append)
    written = {e.id for p in description.portions
               for e in read_portion(out / "records", p)}
    skipped = {Path(s.path).stem for s in skips}
    assert written | skipped == {f"u{k}" for k in range(len(texts))}
    assert not written & skipped
    if not any(text.strip() for text in texts):
        assert not skipped  # no transcripts at all: records without words
        return
    for k, text in enumerate(texts):  # with words: every item needs some
        assert (f"u{k}" in skipped) == (not tokenize(text)) or f"u{k}" in skipped and \
            "alignment failed" in {s.reason for s in skips}, (texts, skips)
