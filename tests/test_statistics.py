"""The normalisation statistics of a records description, checked number by number.

`tfemo.make_tfrecords` writes the audio, label and feature statistics the models standardise
with; they must come from the train portion only (devel and test frames would leak into the
model otherwise), while the per-speaker feature statistics come from each speaker's own frames.
Here they are recomputed from the examples read back from the shards, on a tiny demo corpus
(continuous) and a fake EMO-DB tree whose speakers differ in loudness (categorical).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from tfemo.audio.io import load_audio
from tfemo.corpora.base import CONTINUOUS
from tfemo.corpora.demo import TINY_CONFIG, DemoCorpus, ensure_demo_corpus
from tfemo.make_tfrecords import main as make_tfrecords_main
from tfemo.records.description import DatasetDescription, RunningStats
from tfemo.records.partitions import read_portion
from tfemo.records.schema import AUDIO_SCALE, ExampleArrays

FAMILIES = "rms,zcr,mfcc"
ALL = ("train", "devel", "test")
# speaker -> (portion in EMO-DB's default split, amplitude, DC offset): train speakers are quiet
EMODB_SPEAKERS = {"03": ("train", 0.05, 0.0), "08": ("train", 0.1, 0.0),
                  "12": ("devel", 0.5, 0.05), "15": ("test", 0.4, -0.05)}


def examples(records: Path, portions: tuple[str, ...]) -> list[ExampleArrays]:
    """Every example of the given portions, read back from the shards."""
    return [e for p in portions for e in read_portion(records, p)]


def audio_stats(found: list[ExampleArrays], audio_paths: dict[str, Path]) -> RunningStats:
    """Statistics of the examples' samples, without the zeros that pad their last frame."""
    stats = RunningStats(1)
    for example in found:
        samples = len(load_audio(audio_paths[example.id]))
        stats.update(example.audio.reshape(-1)[:samples] / AUDIO_SCALE)
    return stats


def frame_stats(arrays: list[np.ndarray]) -> RunningStats:
    """Statistics of the rows of per-frame arrays [N, D]."""
    stats = RunningStats(arrays[0].shape[1])
    for array in arrays:
        stats.update(array)
    return stats


def matches(described: dict, stats: RunningStats) -> bool:
    """Whether a description's {mean, std} are `stats` (the description rounds to 6 places)."""
    return (np.allclose(described["mean"], stats.mean(), rtol=1e-6, atol=2e-6)
            and np.allclose(described["std"], stats.std(), rtol=1e-6, atol=2e-6))


def assert_train_only(described: dict, train: RunningStats, everything: RunningStats) -> None:
    """The described statistics are the train portion's, and not those of all portions."""
    assert matches(described, train), (described, train.mean(), train.std())
    assert not matches(described, everything), "the statistics include devel/test frames"


def assert_speaker_statistics(description: DatasetDescription, found: list[ExampleArrays]):
    """Every speaker's feature statistics are those of its own frames, in every portion."""
    by_speaker = description.normalisation["features_by_speaker"]
    speakers = sorted({e.speaker for e in found})
    assert sorted(by_speaker) == speakers
    for speaker in speakers:
        own = frame_stats([e.features for e in found if e.speaker == speaker])
        assert by_speaker[speaker]["frames"] == own.count
        assert matches(by_speaker[speaker], own), speaker


# ------------------------------------------------------------------- continuous: demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, Path]:
    """(corpus root, records) of the tiny demo corpus, with features and no word vectors."""
    base = tmp_path_factory.mktemp("demo")
    root = ensure_demo_corpus(TINY_CONFIG, root=base / "tiny")
    records = base / "records"
    assert make_tfrecords_main(["--data_dir", str(root), "--output_dir", str(records),
                                "--embeddings", "none", "--features", FAMILIES,
                                "--workers", "1", "--quiet"]) == 0
    return root, records


def test_demo_audio_label_and_feature_statistics_are_train_only(demo):
    root, records = demo
    description = DatasetDescription.read(records)
    paths = {i.id: i.audio_path for i in DemoCorpus(root).items(CONTINUOUS)}
    train, everything = examples(records, ("train",)), examples(records, ALL)
    assert {e.portion for e in everything} == set(ALL)
    normalisation = description.normalisation
    assert_train_only(normalisation["audio"], audio_stats(train, paths),
                      audio_stats(everything, paths))
    assert_train_only(normalisation["labels"], frame_stats([e.labels for e in train]),
                      frame_stats([e.labels for e in everything]))
    assert_train_only(normalisation["features"], frame_stats([e.features for e in train]),
                      frame_stats([e.features for e in everything]))
    assert_speaker_statistics(description, everything)


# ------------------------------------------------------------------ categorical: EMO-DB


@pytest.fixture(scope="module")
def emodb(tmp_path_factory) -> tuple[Path, Path]:
    """(corpus root, records) of a fake EMO-DB tree: quiet train speakers, loud others."""
    base = tmp_path_factory.mktemp("emodb")
    rng = np.random.default_rng(5)
    for speaker, (_, amplitude, offset) in EMODB_SPEAKERS.items():
        for name, hertz in (("a01W", 330.0), ("a02T", 180.0), ("a04N", 250.0)):
            t = np.arange(int(rng.uniform(0.4, 0.8) * 16000)) / 16000
            audio = (offset + amplitude * np.sin(2 * np.pi * hertz * t)
                     + 0.01 * rng.standard_normal(len(t)))
            path = base / "emodb" / "wav" / f"{speaker}{name}a.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, audio.astype(np.float32), 16000, subtype="PCM_16")
    records = base / "records"
    assert make_tfrecords_main(["--corpus", "emodb", "--data_dir", str(base / "emodb"),
                                "--output_dir", str(records), "--embeddings", "none",
                                "--features", FAMILIES, "--workers", "1", "--quiet"]) == 0
    return base / "emodb", records


def test_emodb_audio_and_feature_statistics_are_train_only(emodb):
    root, records = emodb
    description = DatasetDescription.read(records)
    paths = {p.stem: p for p in (root / "wav").glob("*.wav")}
    train, everything = examples(records, ("train",)), examples(records, ALL)
    assert {e.speaker: e.portion for e in everything} == {
        s: portion for s, (portion, _, _) in EMODB_SPEAKERS.items()}
    normalisation = description.normalisation
    assert "labels" not in normalisation  # class labels are not standardised
    assert_train_only(normalisation["audio"], audio_stats(train, paths),
                      audio_stats(everything, paths))
    assert_train_only(normalisation["features"], frame_stats([e.features for e in train]),
                      frame_stats([e.features for e in everything]))


def test_emodb_speaker_statistics_pool_each_speakers_own_utterances(emodb):
    _, records = emodb
    found = examples(records, ALL)
    assert all(sum(e.speaker == s for e in found) == 3 for s in EMODB_SPEAKERS)
    description = DatasetDescription.read(records)
    assert_speaker_statistics(description, found)
    # two speakers share the train portion: each has its own statistics, not the pooled ones
    train = frame_stats([e.features for e in found if e.portion == "train"])
    for speaker in ("03", "08"):
        assert not matches(description.normalisation["features_by_speaker"][speaker], train)
