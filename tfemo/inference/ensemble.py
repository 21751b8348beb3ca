"""The fold models of a protocol as one predictor: their calibrated probabilities averaged.

A train dir holding `fold-NN/` train dirs (tfemo.train on records with folds) is an ensemble:
each fold's model was trained without its test speakers and calibrated with its own
temperature, so averaging their calibrated class probabilities labels new audio with every
speaker's data and honest confidence, without training again. A regressor's traces are
averaged frame by frame. The folds must predict the same classes (or dimensions) from the same
inputs; the inputs of a file are made once and fed to every fold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfemo.core.errors import UserError
from tfemo.inference.predictor import FileResult, Predictor
from tfemo.text.transcripts import Transcript
from tfemo.training.run_dir import MODEL_FILE, fold_train_dirs


def is_ensemble(model_dir: str | Path) -> bool:
    """Whether `model_dir` is a train dir of folds (fold-NN/ train dirs, no model of its own)."""
    return bool(fold_train_dirs(model_dir)) and not (Path(model_dir) / MODEL_FILE).exists()


class Ensemble:
    """The fold predictors of a train dir of folds, used as one Predictor."""

    def __init__(self, model_dir: str | Path, steps: str | int = "latest", **options) -> None:
        folds = fold_train_dirs(model_dir)
        self.members = [Predictor(fold, steps, **options) for fold in folds]
        first = self.members[0]
        for fold, member in zip(folds, self.members, strict=True):
            same = (member.label_names == first.label_names and member.keys == first.keys
                    and member.description.features == first.description.features
                    and member.speaker_normalise == first.speaker_normalise)
            if not same:
                raise UserError(f"{fold}: not the model of {folds[0]} (classes, inputs or "
                                "normalisation differ); the folds cannot be averaged",
                                "give one fold's train dir")
        self.description = first.description
        self.categorical = first.categorical
        self.label_names = first.label_names
        self.checkpoint = f"{model_dir} ({len(folds)} fold models averaged)"
        self.temperature = [m.temperature for m in self.members]

    @property
    def reads_words(self) -> bool:
        """Whether the models read words (given, or heard by the recogniser)."""
        return self.members[0].reads_words

    def streams_file(self, transcript: str | Transcript = "") -> bool:
        """Whether a long file is read chunk by chunk (Predictor.streams_file)."""
        return self.members[0].streams_file(transcript)

    @property
    def needs_transcripts(self) -> bool:
        """Whether each file needs a transcript (words, and no recogniser of the language)."""
        return self.members[0].needs_transcripts

    def predict(self, path: str | Path, transcript: str | Transcript = "") -> FileResult:
        """Every fold on one file: the mean of their calibrated probabilities (or traces)."""
        first = self.members[0]
        path = Path(path)
        long = first.streams_file(transcript) and _seconds(path) > first.stream_seconds
        if long:  # streamed: each fold reads the file block by block
            if first.reads_words:  # aligned once, for every fold
                said = first.word_inputs.said_in_file(path, transcript)
                transcript = Transcript(said.text, said.words, said.source)
            results = [member.predict(path, transcript) for member in self.members]
        else:
            inputs = first.inputs(path, transcript)
            results = [member.run(path, inputs) for member in self.members]
        return self.combine(results)

    def predict_audio(self, audio: np.ndarray, name: str, transcript: str = "") -> FileResult:
        """As `predict`, for audio decoded in memory (16 kHz mono float32)."""
        inputs = self.members[0].inputs_from_audio(audio, name, transcript)
        return self.combine([member.run(Path(name), inputs) for member in self.members])

    def combine(self, results: list[FileResult]) -> FileResult:
        """One result of the folds' results of a file: probabilities or traces averaged."""
        first = results[0]
        combined = FileResult(first.path, first.seconds, first.frames, first.chunks,
                              no_speech=first.no_speech, voiced_fraction=first.voiced_fraction,
                              speech=first.speech, far_from_training=first.far_from_training,
                              said=first.said)
        if self.categorical:
            combined.probabilities = np.mean([r.probabilities for r in results], axis=0)
        else:
            combined.trace = np.mean([r.trace for r in results], axis=0)
        return combined


def _seconds(path: Path) -> float:
    from tfemo.corpora.files import audio_duration

    return audio_duration(path)


def open_predictor(model_dir: str | Path, steps: str | int = "latest",
                   **options) -> Predictor | Ensemble:
    """A Predictor of a train dir or an export, or the Ensemble of a train dir of folds."""
    if is_ensemble(model_dir):
        return Ensemble(model_dir, steps, **options)
    return Predictor(model_dir, steps, **options)


__all__ = ["Ensemble", "is_ensemble", "open_predictor"]
