"""Tiny synthetic TFRecords for model, train and eval tests (no corpus, no alignment)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfemo.core import storage
from tfemo.records.description import DatasetDescription, RunningStats
from tfemo.records.schema import ExampleArrays, serialize
from tfemo.records.writer import shard_path, write_shard

FRAME_LENGTH = 640
WORD_DIM = 6
FEATURE_DIM = 4


def synthetic_example(rng: np.random.Generator, example_id: str, portion: str,
                      frames: int) -> ExampleArrays:
    """Arousal follows loudness, valence the sign of a word-vector feature (both learnable)."""
    arousal = np.repeat(rng.uniform(-0.8, 0.8, size=(frames + 9) // 10), 10)[:frames]
    valence = np.repeat(rng.choice([-0.6, 0.6], size=(frames + 9) // 10), 10)[:frames]
    carrier = rng.normal(size=(frames, FRAME_LENGTH))
    audio = (carrier * (0.05 + 0.2 * (arousal[:, None] + 1)) * 32767 / 4).astype(np.int16)
    words = rng.normal(scale=0.3, size=(frames, WORD_DIM)).astype(np.float32)
    words[:, 0] = valence * 2
    labels = np.stack([arousal, valence], axis=1).astype(np.float32)
    # hand-crafted stand-ins on another scale than the labels: the model must standardise them
    features = (10.0 + 5.0 * np.concatenate([labels, rng.normal(size=(frames, 2))], axis=1)
                + rng.normal(scale=0.5, size=(frames, FEATURE_DIM))).astype(np.float32)
    return ExampleArrays(id=example_id, speaker=example_id.split("_")[0], corpus="synthetic",
                         portion=portion, sample_rate=16000, audio=audio, words=words,
                         labels=labels, features=features)


def write_synthetic_records(output_dir: Path, lengths: dict[str, list[int]],
                            seed: int = 0) -> DatasetDescription:
    """One shard per portion with examples of the given lengths, and their description."""
    rng = np.random.default_rng(seed)
    portions, audio_stats, label_stats, feature_stats = {}, None, None, RunningStats(FEATURE_DIM)
    for portion, frame_counts in lengths.items():
        examples = [synthetic_example(rng, f"{portion}spk{k}_{k:02d}", portion, n)
                    for k, n in enumerate(frame_counts)]
        path = shard_path(output_dir, portion, "synthetic", 0, 1)
        write_shard([serialize(e) for e in examples], path)
        portions[portion] = {"examples": len(examples), "frames": int(sum(frame_counts)),
                             "seconds": float(sum(frame_counts)) * 0.04,
                             "files": [storage.name(path)]}
        if portion == "train":
            for e in examples:
                audio = RunningStats.of(e.audio.reshape(-1, 1) / 32768.0)
                labels = RunningStats.of(e.labels)
                audio_stats = audio if audio_stats is None else audio_stats.merge(audio)
                label_stats = labels if label_stats is None else label_stats.merge(labels)
                feature_stats.update(e.features)
    description = DatasetDescription(
        name="synthetic", task="continuous", sample_rate=16000, frame_length=FRAME_LENGTH,
        frame_seconds=0.04, corpus="synthetic", word_dim=WORD_DIM, word_vectors="random",
        label_names=["arousal", "valence"], portions=portions, features={"synthetic": FEATURE_DIM},
        normalisation={"fit_on": "train",
                       "audio": {"mean": float(audio_stats.mean()[0]),
                                 "std": float(audio_stats.std()[0])},
                       "labels": {"mean": label_stats.mean().tolist(),
                                  "std": label_stats.std().tolist()},
                       "features": {"mean": feature_stats.mean().tolist(),
                                    "std": feature_stats.std().tolist()}})
    description.write(output_dir)
    return description
