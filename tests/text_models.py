"""Tiny exported models that read words, fed from audio alone (recognised words), for the
predict, export and service tests; and espeak-ng English speech to feed them.

Word vectors are a small word2vec text file (6-d), named in the records' description as the
`embeddings_option` the Predictor loads; words it lacks get their deterministic stand-ins.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from tests.records_factory import write_synthetic_records
from tests.serve_models import CLASSES, FAMILIES, train_tiny, write_tone_records
from tfemo import export
from tfemo.audio import SAMPLE_RATE
from tfemo.audio.espeak import synthesize
from tfemo.records.description import DatasetDescription
from tfemo.records.schema import read_examples, serialize
from tfemo.records.writer import write_shard

WORD_DIM = 6
WORDS = ("kids", "are", "talking", "by", "the", "door", "happy", "sad")
MULTIMODAL = ["--filters", "8", "--text_units", "8", "--fusion_size", "8", "--blocks", "1",
              "--modalities", "audio,text"]


def write_vectors(path: Path) -> Path:
    """A word2vec text file of WORDS, WORD_DIM wide, seeded."""
    rng = np.random.default_rng(3)
    lines = [f"{len(WORDS)} {WORD_DIM}"]
    lines += [" ".join([word, *(f"{v:.4f}" for v in rng.normal(size=WORD_DIM))]) for word in WORDS]
    path.write_text("\n".join(lines) + "\n")
    return path


def _name_vectors(records: Path, vectors: Path) -> None:
    description = DatasetDescription.read(records)
    description.extra["embeddings_option"] = str(vectors)
    description.write(records)


def _with_word_sequences(records: Path) -> None:
    """Give every example of tone records per-frame words and a word sequence (2-5 words whose
    first component says the class), as make_tfrecords writes them."""
    description = DatasetDescription.read(records)
    description.word_dim = WORD_DIM
    rng = np.random.default_rng(4)
    for shard in sorted(records.glob("*/*.tfrecord")):
        examples = []
        for example in list(read_examples([shard])):
            count = int(rng.integers(2, 6))
            sequence = rng.normal(scale=0.3, size=(count, WORD_DIM)).astype(np.float32)
            sequence[:, 0] = example.label - 1.0
            frames = len(example.audio)
            words = np.zeros((frames, WORD_DIM), np.float32)
            edges = np.linspace(0, frames, count + 1).astype(int)
            for k in range(count):
                words[edges[k]:edges[k + 1]] = sequence[k]
            examples.append(serialize(dataclasses.replace(example, words=words,
                                                          word_sequence=sequence)))
        write_shard(examples, shard)
    description.write(records)


def multimodal_export(base: Path) -> Path:
    """An exported audio+text multimodal classifier of three classes of tones and words."""
    write_tone_records(base / "records", "categorical")
    _with_word_sequences(base / "records")
    _name_vectors(base / "records", write_vectors(base / "vectors.txt"))
    train_dir = train_tiny(base / "records", base / "train", "multimodal", *MULTIMODAL)
    assert export.main(["--train_dir", str(train_dir), "--export_dir", str(base / "export")]) == 0
    return base / "export"


def fusion_export(base: Path) -> Path:
    """An exported semantic fusion regressor (audio + words on frames)."""
    write_synthetic_records(base / "records", {"train": [40, 50], "devel": [30], "test": [30]})
    _name_vectors(base / "records", write_vectors(base / "vectors.txt"))
    train_dir = train_tiny(base / "records", base / "train", "semantic_fusion")
    assert export.main(["--train_dir", str(train_dir), "--export_dir", str(base / "export")]) == 0
    return base / "export"


def speech(path: Path, text: str = "Kids are talking by the door every evening.") -> Path:
    """espeak-ng English at 16 kHz with 0.2 s of silence around it, as a WAV file."""
    synthesis = synthesize(text, voice="en-us", rate=150)
    audio = resample_poly(synthesis.samples / 32768.0, 320, 441).astype(np.float32)
    pad = np.zeros(int(0.2 * SAMPLE_RATE), np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.concatenate([pad, audio, pad]), SAMPLE_RATE, subtype="PCM_16")
    return path


__all__ = ["CLASSES", "FAMILIES", "fusion_export", "multimodal_export", "speech"]
