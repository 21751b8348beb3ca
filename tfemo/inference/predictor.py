"""Label new audio with a trained model: files in, class probabilities or traces out.

A `Predictor` restores a train dir's checkpoint with the model configuration (`model.json`)
and the records' description (`description.json`) that tfemo.train keeps there, and turns any
audio file into the model's inputs with the code that wrote the records (tfemo.records.example):
resampling to 16 kHz, 40 ms frames, the same hand-crafted features and, for models that read
words, word vectors from a transcript. Long files are run in chunks of `chunk_frames`: a
classifier averages the chunks' probabilities weighted by their frames; a regressor's chunk
traces are joined end to end. A classifier's probabilities are calibrated with the train
dir's temperature (if `tfemo.eval --calibrate` fit one), and a file without speech is flagged
`no_speech` (tfemo.audio.speech).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfemo.audio.speech import speech_activity
from tfemo.core.errors import InputError, TfemoError
from tfemo.core.tasks import Task
from tfemo.corpora.base import Item, Segment
from tfemo.corpora.files import audio_duration
from tfemo.records.description import DatasetDescription
from tfemo.records.example import BuildOptions, build_example, item_words
from tfemo.records.reader import STD_FLOOR
from tfemo.records.schema import AUDIO_SCALE
from tfemo.scoring.calibration import apply_temperature
from tfemo.training.run_dir import DESCRIPTION_COPY as DESCRIPTION_FILE
from tfemo.training.run_dir import MODEL_FILE

QUADRANTS = {
    (True, True): "high arousal, positive valence",
    (True, False): "high arousal, negative valence",
    (False, True): "low arousal, positive valence",
    (False, False): "low arousal, negative valence",
}


@dataclass
class FileResult:
    """What the model says about one file: class probabilities [C] or a trace [N, D]."""

    path: Path
    seconds: float
    frames: int
    chunks: int
    probabilities: np.ndarray | None = None
    trace: np.ndarray | None = None
    no_speech: bool = False  # classifier: no speech found (tfemo.audio.speech); no class given
    voiced_fraction: float | None = None


def quadrant(arousal: float, valence: float) -> str:
    """The quadrant of the arousal-valence plane a point falls in (0 counts as high/positive)."""
    return QUADRANTS[(arousal >= 0.0, valence >= 0.0)]


class Predictor:
    """A restored model and everything needed to feed it new audio."""

    def __init__(self, train_dir: str | Path, steps: str | int = "latest",
                 chunk_frames: int = 1500, alignment: str = "aeneas",
                 speech_check: bool = True) -> None:
        from tfemo.models.registry import forward_function
        from tfemo.training.estimator import restore_trained
        from tfemo.training.run_dir import step_of_checkpoint
        from tfemo.training.temperature import read_temperature

        train_dir = Path(train_dir)
        for name in (MODEL_FILE, DESCRIPTION_FILE):
            if not (train_dir / name).is_file():
                folds = sorted(p.name for p in train_dir.glob("fold-*"))
                hint = f" (it holds folds: pick one, e.g. {train_dir / folds[0]})" if folds else ""
                raise TfemoError(f"{train_dir}: no {name}; not a train dir of tfemo.train{hint}")
        if chunk_frames <= 0:
            raise ValueError(f"chunk_frames must be positive, got {chunk_frames}")
        self.description = DatasetDescription.read(train_dir / DESCRIPTION_FILE)
        self.model, self.checkpoint, spec = restore_trained(train_dir, steps)
        # calibration: the temperature `tfemo.eval --calibrate` fit on the devel speakers
        self.temperature = read_temperature(train_dir, step_of_checkpoint(self.checkpoint))
        self.speech_check = speech_check
        self.speaker_normalise = bool(spec["data"].get("speaker_normalise", False))
        self.keys = tuple(getattr(self.model, "input_keys", ("audio", "words")))
        self.categorical = self.description.task == Task.CATEGORICAL
        self.label_names = tuple(self.description.label_names)
        self.chunk_frames = chunk_frames
        self.alignment = alignment
        self._vectors = None
        # batch and time sizes unknown: one trace serves every file and chunk of the run
        self._forward = forward_function(self.model, self.input_signature())

    def input_signature(self) -> dict[str, tf.TensorSpec]:
        """The specs of the batch `run` feeds the model: its input keys and the mask."""
        sizes = {"audio": self.description.frame_length, "words": self.description.word_dim,
                 "features": self.description.feature_dim}
        fed = {"audio": True, "words": self.needs_transcripts,
               "features": bool(self.description.features)}
        spec = {key: tf.TensorSpec([None, None, sizes[key]], tf.float32, name=key)
                for key in self.keys if fed.get(key)}
        spec["mask"] = tf.TensorSpec([None, None], tf.bool, name="mask")
        return spec

    @property
    def needs_transcripts(self) -> bool:
        """Whether the model reads word vectors (and so each file needs a transcript)."""
        return "words" in self.keys and self.description.word_dim > 0

    def _word_table(self, item: Item) -> dict:
        """Vectors of the item's words, from the embeddings the records were made with."""
        from tfemo.text.embeddings import load_word_vectors, vector_table

        if self._vectors is None:
            self._vectors = load_word_vectors(self.description.extra.get("embeddings_option",
                                                                         "spacy-md"))
        return vector_table(item_words(item, self.alignment), self._vectors)[0]

    def inputs(self, path: Path, transcript: str = "") -> dict[str, np.ndarray]:
        """The model's per-frame inputs for one file, [N, ...] each (InputError if unusable).

        A model trained with per-speaker feature normalisation gets each file standardised
        with its own statistics (a new file's speaker has no others to pool with).
        """
        segments = ()
        if self.needs_transcripts:
            if not transcript.strip():
                raise InputError(path, "no transcript",
                                 "the model reads word vectors: give a CSV with a transcript "
                                 "column")
            segments = (Segment(0.0, audio_duration(path), transcript),)
        item = Item(id=path.stem, speaker="", corpus="predict", portion="predict",
                    audio_path=path, segments=segments)
        options = BuildOptions(task=self.description.task, alignment=self.alignment,
                               word_dim=self.description.word_dim if self.needs_transcripts else 0,
                               features=tuple(self.description.features))
        table = self._word_table(item) if self.needs_transcripts else {}
        example = build_example(item, options, table).example
        inputs = {"audio": example.audio.astype(np.float32) / AUDIO_SCALE}
        if example.words is not None:
            inputs["words"] = example.words
        if example.features is not None:
            features = example.features
            if self.speaker_normalise:
                features = ((features - features.mean(axis=0))
                            / np.maximum(features.std(axis=0), STD_FLOOR))
            inputs["features"] = features.astype(np.float32)
        return inputs

    def predict(self, path: str | Path, transcript: str = "") -> FileResult:
        """Probabilities (classifier) or the trace (regressor) of one audio file."""
        path = Path(path)
        return self.run(path, self.inputs(path, transcript))

    def run(self, path: Path, inputs: dict[str, np.ndarray]) -> FileResult:
        """The model over one file's inputs, chunk by chunk (see the module docstring)."""
        frames = len(inputs["audio"])
        outputs, sizes = [], []
        for start in range(0, frames, self.chunk_frames):
            batch = {k: v[None, start:start + self.chunk_frames] for k, v in inputs.items()
                     if k in self.keys}
            size = min(self.chunk_frames, frames - start)
            batch["mask"] = np.ones((1, size), dtype=bool)
            outputs.append(np.asarray(self._forward(batch))[0])
            sizes.append(size)
        result = FileResult(path, frames * self.description.frame_seconds, frames, len(sizes))
        if self.categorical:
            result.probabilities = self.calibrated(
                np.average(np.stack(outputs), axis=0, weights=sizes))
            if self.speech_check:
                activity = speech_activity(inputs["audio"].reshape(-1))
                result.no_speech = activity.no_speech
                result.voiced_fraction = activity.voiced_fraction
        else:
            result.trace = np.concatenate(outputs, axis=0)
        return result

    def calibrated(self, probabilities: np.ndarray) -> np.ndarray:
        """Class probabilities at the saved temperature (unchanged when none was fit)."""
        if self.temperature is None:
            return probabilities
        return apply_temperature(probabilities, self.temperature).astype(np.float32)
