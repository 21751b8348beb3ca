"""The demo corpus: reproducible bytes, speaker-disjoint portions, exact timings, sane labels."""

from __future__ import annotations

import csv
import hashlib
import json
import pickle
import shutil
import subprocess
import sys
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tfemo.audio import FRAME_SECONDS, SAMPLE_RATE
from tfemo.core.errors import InputError
from tfemo.corpora import demo
from tfemo.corpora.base import CATEGORICAL, CONTINUOUS, PORTIONS
from tfemo.corpora.demo import (
    DEFAULT_CONFIG,
    MANIFEST,
    TINY_CONFIG,
    DemoCorpus,
    default_root,
    ensure_demo_corpus,
    generate,
    read_session_labels,
)

REPO = Path(__file__).resolve().parents[1]


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _samples(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as handle:
        assert handle.getframerate() == SAMPLE_RATE
        assert handle.getnchannels() == 1 and handle.getsampwidth() == 2
        return np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> tuple[Path, Path]:
    """Two tiny corpora made at the same time by two separate generator processes."""
    base = tmp_path_factory.mktemp("demo")
    stale = base / ".first.partial-999999999"  # left by a generator that was killed
    stale.mkdir()
    (stale / "utterances.csv").write_text("id\n")
    with ThreadPoolExecutor(2) as threads:
        first, second = threads.map(lambda name: ensure_demo_corpus(TINY_CONFIG, base / name),
                                    ("first", "second"))
    return first, second


@pytest.fixture(scope="module")
def corpus(roots) -> DemoCorpus:
    return DemoCorpus(roots[0])


def test_two_generations_give_identical_files(roots):
    first, second = roots
    hashes = _hashes(first)
    assert hashes == _hashes(second)
    manifest = json.loads((first / MANIFEST).read_text())
    assert manifest["generator_version"] == demo.GENERATOR_VERSION
    assert manifest["config"] == TINY_CONFIG.to_dict()
    assert manifest["files"] == {k: v for k, v in hashes.items() if k != MANIFEST}
    assert not list(first.parent.glob(".*partial*"))  # no temporary folder left behind


def test_an_interrupted_generation_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    def crash(folder, *args):
        (folder / "utterances.csv").write_text("id\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(generate, "plan_utterances", lambda config: [])
    monkeypatch.setattr(generate, "write_corpus", crash)
    root = tmp_path / "corpus"
    with pytest.raises(KeyboardInterrupt):
        generate.generate(TINY_CONFIG, root)
    assert list(tmp_path.iterdir()) == []


def test_ensure_returns_a_complete_corpus_without_generating(roots, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("ensure_demo_corpus regenerated a complete corpus")

    monkeypatch.setattr(generate, "in_a_fresh_process", refuse)
    assert ensure_demo_corpus(TINY_CONFIG, roots[0]) == roots[0]
    with pytest.raises(InputError, match="wrong demo corpus"):
        ensure_demo_corpus(DEFAULT_CONFIG, roots[0])


def test_ensure_refuses_to_replace_a_folder_that_is_not_a_corpus(tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a complete demo corpus"):
        ensure_demo_corpus(TINY_CONFIG, root)
    assert (root / "notes.txt").read_text() == "mine"


def test_cache_folder_names(monkeypatch, tmp_path):
    monkeypatch.setenv("TFEMO_CACHE", str(tmp_path))
    assert default_root() == tmp_path / f"demo-v{demo.GENERATOR_VERSION}"
    tiny = default_root(TINY_CONFIG)
    assert tiny.parent == tmp_path
    assert tiny.name == f"demo-v{demo.GENERATOR_VERSION}-{TINY_CONFIG.digest()}"
    assert demo.DemoConfig.from_dict(TINY_CONFIG.to_dict()) == TINY_CONFIG


def test_portions_are_speaker_disjoint_and_non_empty(corpus):
    for task in (CATEGORICAL, CONTINUOUS):
        speakers = {portion: set() for portion in PORTIONS}
        for item in corpus.items(task):
            speakers[item.portion].add(item.speaker)
        assert all(speakers.values()), speakers
        assert not speakers["train"] & speakers["devel"]
        assert not speakers["train"] & speakers["test"]
        assert not speakers["devel"] & speakers["test"]
    with (corpus.root / "partition.csv").open() as handle:
        stored = {row["speaker"]: row["portion"] for row in csv.DictReader(handle)}
    assert stored == {s.name: s.portion for s in TINY_CONFIG.speakers}


def test_categorical_items(corpus):
    items = corpus.items(CATEGORICAL)
    names = corpus.label_names(CATEGORICAL)
    assert len(names) >= 6
    assert len(items) == len(TINY_CONFIG.speakers) * len(names) * 2
    assert [i.id for i in items] == sorted(i.id for i in items)
    assert pickle.loads(pickle.dumps(items[0])) == items[0]
    for item in items:
        assert item.label in names and item.corpus == "demo"
        assert all(s.words is not None for s in item.segments)
        duration = len(_samples(item.audio_path)) / SAMPLE_RATE
        (segment,) = item.segments
        assert segment.start == 0 and segment.end == pytest.approx(duration, abs=1e-5)
        assert [w.word for w in segment.words] == segment.transcript.split()
        starts = [w.start for w in segment.words]
        assert starts == sorted(starts) and starts[0] >= 0
        for word in segment.words:
            assert word.start < word.end <= duration + 1e-6


def test_continuous_items_and_traces(corpus):
    items = corpus.items(CONTINUOUS)
    assert items and corpus.label_names(CONTINUOUS) == ("arousal", "valence")
    raters = corpus.rater_names
    assert len(raters) >= 4
    for item in items:
        samples = _samples(item.audio_path)
        duration = len(samples) / SAMPLE_RATE
        trace = pickle.loads(pickle.dumps(item)).load_trace()  # load_trace runs in workers
        frames = len(trace.times)
        assert frames * FRAME_SECONDS >= duration - 1e-9
        assert np.allclose(np.diff(trace.times), FRAME_SECONDS)
        assert trace.values.shape == (frames, 2) and trace.dimensions == ("arousal", "valence")
        assert trace.ratings.shape == (frames, 2, len(raters)) and trace.raters == raters
        assert np.abs(trace.values).max() <= 1 and np.abs(trace.ratings).max() <= 1
        assert np.abs(trace.ratings[0]).max() == 0  # annotators start from 0
        previous_end = 0.0
        for segment in item.segments:
            assert previous_end <= segment.start < segment.end <= duration + 1e-6
            assert segment.words[0].start >= segment.start
            assert segment.words[-1].end <= segment.end + 1e-6
            previous_end = segment.end


def test_session_audio_is_the_utterances_at_their_segment_times(corpus):
    utterances = {item.id: item for item in corpus.items(CATEGORICAL)}
    with (corpus.root / "segments.csv").open() as handle:
        placed = list(csv.DictReader(handle))
    sessions = {item.id: item for item in corpus.items(CONTINUOUS)}
    for row in placed:
        session = _samples(sessions[row["session"]].audio_path)
        utterance = _samples(utterances[row["utterance"]].audio_path)
        start = round(float(row["start"]) * SAMPLE_RATE)
        np.testing.assert_array_equal(session[start:start + len(utterance)], utterance)


def test_rater_lags_are_one_to_three_seconds(corpus):
    with (corpus.root / "raters.csv").open() as handle:
        stored = {row["rater"]: float(row["lag"]) for row in csv.DictReader(handle)}
    max_shift = round(5 / FRAME_SECONDS)
    for item in corpus.items(CONTINUOUS):
        trace = item.load_trace()
        frames = len(trace.times)
        for r, rater in enumerate(trace.raters):
            score = np.zeros(max_shift + 1)
            for d in range(2):
                truth, rating = trace.values[:, d], trace.ratings[:, d, r]
                score += [np.corrcoef(truth[:frames - n], rating[n:])[0, 1]
                          for n in range(max_shift + 1)]
            lag = int(np.argmax(score)) * FRAME_SECONDS
            assert 1 - 0.2 <= lag <= 3 + 0.2, (item.id, rater, lag)
            assert lag == pytest.approx(stored[rater], abs=0.3), (item.id, rater)


def test_prosody_follows_arousal(corpus):
    high, low = [], []
    for item in corpus.items(CATEGORICAL):
        arousal = float(item.metadata["arousal"])
        samples = _samples(item.audio_path).astype(np.float64)
        rms = np.sqrt(np.mean(samples ** 2))
        per_word = item.segments[0].end / len(item.segments[0].words)
        if arousal > 0.3:
            high.append((rms, per_word))
        elif arousal < -0.3:
            low.append((rms, per_word))
    assert high and low
    high_rms, high_per_word = np.mean(high, axis=0)
    low_rms, low_per_word = np.mean(low, axis=0)
    assert high_rms > 1.3 * low_rms
    assert high_per_word < 0.8 * low_per_word


def test_valence_follows_the_sentence_pool(corpus):
    pools = {e.name: e.pool for e in demo.EMOTIONS}
    for item in corpus.items(CATEGORICAL):
        pool = demo.SENTENCES[pools[item.label]]
        assert item.metadata["sentence"] in pool
        valence = float(item.metadata["valence"])
        assert {"positive": valence > 0, "negative": valence < 0,
                "neutral": valence == 0}[pools[item.label]]


def _edited_labels(corpus: DemoCorpus, tmp_path: Path, edit) -> Path:
    source = corpus.root / corpus.items(CONTINUOUS)[0].load_trace.args[0]
    lines = source.read_text().splitlines()
    target = tmp_path / source.name
    edited = edit(lines)
    target.write_text("".join(line + "\n" for line in edited))
    return target


def _set(line: int, column: int, value: str):
    """An edit that puts `value` into one field of a labels file."""
    def edit(lines: list[str]) -> list[str]:
        fields = lines[line].split(",")
        fields[column] = value
        return [*lines[:line], ",".join(fields), *lines[line + 1:]]
    return edit


@pytest.mark.parametrize("edit, detail", [
    (_set(3, 1, "nan"), "NaN or infinite arousal at line 4"),
    (_set(5, 4, "NaN"), "NaN or infinite arousal_r2 at line 6"),
    (_set(2, 0, "0.00"), "time does not increase at line 3"),
    (_set(2, 2, "x"), "non-numeric"),
    (lambda lines: [lines[0].replace("valence,", "mood,", 1), *lines[1:]], "missing columns"),
    (lambda lines: [*lines[:-1], lines[-1][:7]], "fields"),
    (lambda lines: [lines[0]], "no rows"),
    (lambda lines: [], "empty"),
])
def test_read_session_labels_rejects_bad_files(corpus, tmp_path, edit, detail):
    path = _edited_labels(corpus, tmp_path, edit)
    with pytest.raises(InputError, match=detail) as caught:
        read_session_labels(path)
    assert caught.value.path == str(path) and caught.value.reason == "bad labels"


def test_reader_lists_items_of_a_damaged_tree(corpus, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(corpus.root, damaged)
    victim = corpus.items(CATEGORICAL)[0]
    (damaged / victim.audio_path.relative_to(corpus.root)).unlink()
    labels = damaged / "sessions" / f"{corpus.items(CONTINUOUS)[0].id}.labels.csv"
    labels.write_text("\n".join(labels.read_text().splitlines()[:10]) + "\n")
    reader = DemoCorpus(damaged)
    assert [i.id for i in reader.items(CATEGORICAL)] == [i.id for i in corpus.items(CATEGORICAL)]
    assert not reader.items(CATEGORICAL)[0].audio_path.exists()
    assert len(reader.items(CONTINUOUS)[0].load_trace().times) == 9


_BREATHY = """
import ctypes, hashlib, sys
from tfemo.audio.espeak import synthesize
from tfemo.corpora.demo.synthesis import reset_libc_rand
for _ in range(int(sys.argv[1])):
    ctypes.CDLL(None).rand()  # another library drawing on the C library's rand()
if sys.argv[2] == "reset":
    reset_libc_rand()
result = synthesize("We had a wonderful time together today.", "en+f3")
print(hashlib.sha256(result.samples.tobytes()).hexdigest())
"""


def test_breathy_voices_do_not_depend_on_earlier_rand_calls():
    """libespeak-ng draws en+f3's breath noise from rand(): generation reseeds it (f3 bug)."""
    def audio(calls: int, reset: str) -> str:
        done = subprocess.run([sys.executable, "-c", _BREATHY, str(calls), reset], cwd=REPO,
                              capture_output=True, text=True, check=True)
        return done.stdout.strip()

    fresh = audio(0, "no")
    assert audio(1000, "no") != fresh  # the shared rand() sequence changes the audio ...
    assert audio(1000, "reset") == fresh  # ... unless it is put back to its start
