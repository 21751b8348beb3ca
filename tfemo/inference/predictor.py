"""Label new audio with a trained model: files or decoded audio in, probabilities or traces out.

A `Predictor` runs either a train dir's checkpoint, restored with the model configuration
(`model.json`) and the records' description (`description.json`) that tfemo.train keeps there,
or an export of tfemo.export (its SavedModel and `tfemo.json`); `tfemo.predict` and the service
(tfemo.service) both use it, so they give the same numbers for the same audio. Any audio, a file
or samples already decoded in memory, becomes the model's inputs with the code that wrote the
records: 16 kHz mono, 40 ms frames (tfemo.audio.io), the same hand-crafted features
(tfemo.records.example.frame_features) and, for models that read words, word vectors from a
transcript: the given one, aligned, or, when none is given, the words the recogniser hears
(tfemo.inference.words). Long audio is run in chunks of `chunk_frames`: a classifier averages
the chunks' probabilities weighted by their frames; a regressor's chunk traces are joined end
to end; a recurrent regressor runs a chunk `step_frames` (4 s) at a time with its state
carried, which gives the chunk's outputs with a fraction of the activations. Files longer
than `stream_frames` (2 minutes; a model that reads words and no long-context features: one
chunk) are read and featurised chunk by chunk (tfemo.inference.streaming), a given transcript
aligned window by window (tfemo.text.piecewise_alignment), so an hour of audio fits in
bounded memory (benchmarks/predict.py --memory). A classifier's
probabilities are calibrated with the temperature `tfemo.eval --calibrate` fit on the devel
speakers (saved in the train dir and carried by an export), and a file without speech is
flagged `no_speech` (no VAD segment, tfemo.audio.speech_check) and given no class (a
regressor's trace is kept, but the file gets no quadrant); a file whose inputs lie far outside
the training statistics says so in `far_from_training` (tfemo.inference.input_range).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfemo.audio import FRAME_LENGTH, SAMPLE_RATE
from tfemo.audio.frames import frame_features
from tfemo.audio.io import load_audio, to_pcm_frames
from tfemo.audio.opensmile_features import OPENSMILE_FAMILIES, import_opensmile
from tfemo.audio.speech import voiced_f0
from tfemo.audio.speech_check import SpeechCheck
from tfemo.audio.vad import DEFAULT_BACKEND
from tfemo.core.errors import InputError, UserError
from tfemo.core.tasks import Task
from tfemo.corpora.files import audio_duration
from tfemo.inference.input_range import InputRange
from tfemo.inference.streaming import LONG_CONTEXT_FAMILIES, STREAM_FRAMES
from tfemo.inference.words import SAID, WORD_KEYS, Said, WordInputs
from tfemo.inference.words import chunks as input_chunks
from tfemo.records.description import DatasetDescription
from tfemo.records.reader import STD_FLOOR
from tfemo.records.schema import AUDIO_SCALE
from tfemo.scoring.calibration import apply_temperature
from tfemo.text.transcription import has_recogniser
from tfemo.text.transcripts import Transcript
from tfemo.training.exported import ExportedModel, is_export
from tfemo.training.restore import restore_train_dir

STEP_FRAMES = 100  # a recurrent regressor runs 4 s at a time, its state carried (and the VAD
# of the speech check reads 4 s at a time): semantic_fusion's peak on 60 s chunks, 1160 MB in
# one pass, 823 MB at 250 frames, 770 MB at 100 (50: 765 MB), at the same speed

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
    no_speech: bool = False  # no speech found (tfemo.audio.speech_check): no class or quadrant
    voiced_fraction: float | None = None  # share of speech (VAD) or voiced frames (Praat)
    speech: np.ndarray | None = None  # regressor: per-frame VAD mask (tfemo.inference.segments)
    far_from_training: str = ""  # what lies far outside the training statistics, if anything
    said: Said | None = None  # a model that reads words: the words it was given or heard


def quadrant(arousal: float, valence: float) -> str:
    """The quadrant of the arousal-valence plane a point falls in (0 counts as high/positive)."""
    return QUADRANTS[(arousal >= 0.0, valence >= 0.0)]


FRAME_INPUTS = ("audio", "features", *WORD_KEYS)  # what `inputs_from_audio` makes of a file


def check_frame_inputs(train_dir: str | Path, name: str, keys: tuple[str, ...]) -> None:
    """Refuse a model reading inputs new audio (and its words) is not turned into here."""
    missing = [key for key in keys if key not in FRAME_INPUTS]
    if missing:
        raise UserError(f"{train_dir}: the {name} model reads {', '.join(missing)}; predict, "
                        "export and serve feed audio, features and words only",
                        "score its records with python -m tfemo.eval, or train it with "
                        "--modalities audio to label new files")


def description_of_export(metadata: dict[str, Any]) -> DatasetDescription:
    """The parts of the records' description an export's tfemo.json carries."""
    return DatasetDescription(
        name=metadata.get("dataset", "export"), task=metadata["task"],
        sample_rate=metadata["sample_rate"], frame_length=metadata["frame_length"],
        frame_seconds=metadata["frame_seconds"], word_dim=metadata["word_dim"],
        features=[tuple(pair) for pair in metadata["features"]],
        label_names=list(metadata["label_names"]), normalisation=metadata["normalisation"],
        extra={"embeddings_option": metadata.get("embeddings", "spacy-md")})


def normalise_per_file(features: np.ndarray) -> np.ndarray:
    """Standardise features [N, F] with their own statistics (a new file is its own speaker)."""
    return ((features - features.mean(axis=0))
            / np.maximum(features.std(axis=0), STD_FLOOR)).astype(np.float32)


class Predictor:
    """A restored model (checkpoint or export) and everything needed to feed it new audio.

    `model_dir` is a train dir of tfemo.train (with `steps`) or an export of tfemo.export.
    """

    def __init__(self, model_dir: str | Path, steps: str | int = "latest",
                 chunk_frames: int = 1500, alignment: str = "aeneas",
                 stream_frames: int = STREAM_FRAMES, speech_check: bool = True,
                 alignment_seconds: float | None = None, vad: str = DEFAULT_BACKEND,
                 language: str = "eng", step_frames: int = STEP_FRAMES) -> None:
        from tfemo.models.registry import forward_function
        from tfemo.training.temperature import read_temperature

        if chunk_frames <= 0 or step_frames <= 0:
            raise ValueError(f"chunk_frames and step_frames must be positive, got "
                             f"{chunk_frames}, {step_frames}")
        self.exported: ExportedModel | None = None
        if is_export(model_dir):
            self.exported = ExportedModel.load(model_dir)
            meta = self.exported.metadata
            self.description = description_of_export(meta)
            self.checkpoint = str(model_dir)
            self.speaker_normalise = bool(meta["speaker_normalise"])
            self.keys = tuple(meta["model"]["input_keys"])
            output = next(iter(meta["signatures"]["serve"]["outputs"]))
            serve = self.exported.serve
            self._forward: Callable[[dict], Any] = lambda batch: serve(batch)[output]
            self.temperature = meta.get("temperature")
        else:
            restored = restore_train_dir(model_dir, steps)
            self.model = restored.model
            self.description = restored.description
            self.checkpoint = restored.checkpoint
            self.speaker_normalise = restored.speaker_normalise
            self.keys = tuple(getattr(self.model, "input_keys", ("audio", "words")))
            check_frame_inputs(model_dir, restored.name, self.keys)
            # batch and time sizes unknown: one trace serves every file and chunk of the run
            self._forward = forward_function(self.model, self.input_signature())
            # calibration: the temperature `tfemo.eval --calibrate` fit on the devel speakers
            self.temperature = read_temperature(model_dir, restored.step)
        if set(self.description.features) & set(OPENSMILE_FAMILIES):
            import_opensmile()  # a model on openSMILE features needs the extra: say so first
        self.speech_check = speech_check
        self.vad = vad  # the no_speech check's VAD backend (Praat when it cannot load)
        self._pitch = self._pitch_columns()
        self.categorical = self.description.task == Task.CATEGORICAL
        self.label_names = tuple(self.description.label_names)
        self.chunk_frames = chunk_frames
        self.alignment = alignment
        self.alignment_seconds = alignment_seconds  # aeneas in a child killed after this
        self.stream_frames = stream_frames
        self.language = language  # of the audio: the recogniser knows English only
        self.step_frames = step_frames
        self._step, self._state_sizes = self._stepper()
        self.word_inputs = WordInputs(self.keys, self.description.word_dim,
                                      self.description.extra.get("embeddings_option",
                                                                 "spacy-md"),
                                      alignment, alignment_seconds, language)

    def input_signature(self) -> dict:
        """The specs of the batch `run` feeds the model: its input keys and the mask."""
        import tensorflow as tf

        sizes = {"audio": self.description.frame_length, "words": self.description.word_dim,
                 "features": self.description.feature_dim,
                 "word_sequence": self.description.word_dim}
        fed = {"audio": True, "words": self.reads_words, "word_sequence": self.reads_words,
               "features": bool(self.description.features)}
        spec = {key: tf.TensorSpec([None, None, sizes[key]], tf.float32, name=key)
                for key in self.keys if fed.get(key)}
        if self.reads_words and "word_mask" in self.keys:
            spec["word_mask"] = tf.TensorSpec([None, None], tf.bool, name="word_mask")
        spec["mask"] = tf.TensorSpec([None, None], tf.bool, name="mask")
        return spec

    @property
    def reads_words(self) -> bool:
        """Whether the model reads words (word vectors on frames, or the word sequence)."""
        return bool({"words", "word_sequence"} & set(self.keys)) and self.description.word_dim > 0

    @property
    def needs_transcripts(self) -> bool:
        """Whether each file needs a transcript: the model reads words and the recogniser has
        no model of the audio's language."""
        return self.reads_words and not has_recogniser(self.language)

    def inputs_from_audio(self, audio: np.ndarray, source: str | Path,
                          transcript: str | Transcript = "") -> dict[str, Any]:
        """The model's per-frame inputs [N, ...] of 16 kHz mono float audio (or InputError).

        `source` names the audio in errors. A model trained with per-speaker feature
        normalisation gets the features standardised with the audio's own statistics. A model
        that reads words gets those of `transcript` (text, aligned here, or timed words), or
        the recogniser's when none is given; they are kept under `SAID` for the result.
        """
        source = str(source)
        given = transcript.text if isinstance(transcript, Transcript) else transcript
        if self.needs_transcripts and not given.strip() and not (
                isinstance(transcript, Transcript) and transcript.words is not None):
            from tfemo.text.transcription import check_language

            check_language(self.language, source)
        audio = np.asarray(audio, dtype=np.float32)
        if audio.size == 0:
            raise InputError(source, "empty audio", "the audio holds no samples")
        if not np.isfinite(audio).all():
            raise InputError(source, "non-finite audio", "the audio has NaN or infinite samples")
        pcm = to_pcm_frames(audio, FRAME_LENGTH)
        inputs = {"audio": pcm.astype(np.float32) / AUDIO_SCALE}
        if self.reads_words:
            said = self.word_inputs.said(audio, source, transcript)
            inputs.update(self.word_inputs.arrays(said, len(pcm)))
        if self.description.features and "features" in self.keys:
            features = frame_features(audio, len(pcm), tuple(self.description.features))
            inputs["features"] = (normalise_per_file(features) if self.speaker_normalise
                                  else features)
        return inputs

    def inputs(self, path: Path, transcript: str | Transcript = "") -> dict[str, Any]:
        """The model's per-frame inputs for one audio file, [N, ...] each."""
        return self.inputs_from_audio(load_audio(path, SAMPLE_RATE), path, transcript)

    def predict(self, path: str | Path, transcript: str | Transcript = "") -> FileResult:
        """Probabilities (classifier) or the trace (regressor) of one audio file.

        A file longer than `stream_seconds` (and given its words, if the model reads them) is
        read and featurised chunk by chunk, in bounded memory (tfemo.inference.streaming).
        """
        path = Path(path)
        if self.streams_file(transcript) and audio_duration(path) > self.stream_seconds:
            said = (self.word_inputs.said_in_file(path, transcript) if self.reads_words
                    else None)
            result = self.run_chunks(path, self.streamed_inputs(path, said))
            result.said = said
            return result
        return self.run(path, self.inputs(path, transcript))

    @property
    def stream_seconds(self) -> float:
        """Files longer than this are read chunk by chunk: `stream_frames`, or one chunk for
        a model that reads words and features a stream computes exactly (no pitch or contrast,
        no per-file standardisation): its whole-file inputs would be the larger ones."""
        exact = not (set(self.description.features) & set(LONG_CONTEXT_FAMILIES)
                     or self.speaker_normalise and self.description.features)
        frames = self.chunk_frames if self.reads_words and exact else self.stream_frames
        return frames * self.description.frame_seconds

    def streams_file(self, transcript: str | Transcript = "") -> bool:
        """Whether a long file can be read chunk by chunk: a model that reads no words, or
        one given the words (timed, or a text aligned window by window); the recogniser
        hears a whole file."""
        if not self.reads_words:
            return True
        if isinstance(transcript, Transcript):
            return transcript.words is not None or bool(transcript.text.strip())
        return bool(transcript.strip())

    def streamed_inputs(self, path: Path,
                        said: Said | None = None) -> Iterable[dict[str, np.ndarray]]:
        """The model's inputs of one file per chunk, read block by block (a model that reads
        words: with those of `said` in each chunk)."""
        from tfemo.inference.streaming import speaker_normalised, stream_chunks

        chunks = stream_chunks(path, self.chunk_frames, tuple(self.description.features))
        if self.speaker_normalise and self.description.features:
            chunks = speaker_normalised(list(chunks))  # needs the whole file's statistics
        if said is not None:
            chunks = self.word_inputs.on_chunks(chunks, said, self.chunk_frames)
        return chunks

    def feature_chunks(self, path: Path) -> Iterable[dict[str, np.ndarray]]:
        """One file's inputs chunk by chunk, as `predict` reads them, for a model that reads no
        words (streamed block by block when the file is long)."""
        if self.reads_words:
            raise ValueError("feature_chunks is for models that read no words")
        if audio_duration(path) > self.stream_seconds:
            return self.streamed_inputs(path)
        return input_chunks(self.inputs(path), self.chunk_frames)

    def predict_audio(self, audio: np.ndarray, name: str,
                      transcript: str | Transcript = "") -> FileResult:
        """As `predict`, for audio decoded in memory (16 kHz mono float32); `name` labels it."""
        return self.run(Path(name), self.inputs_from_audio(audio, name, transcript))

    def forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """The model on one batch dict (its input keys and `mask`): [B, C] or [B, T, D]."""
        return np.asarray(self._forward(batch))

    def forward_chunk(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """`forward` on one chunk of one file; a recurrent regressor runs it `step_frames` at
        a time with its state carried (the same outputs, a fraction of the activations)."""
        frames = batch["mask"].shape[1]
        if self._step is None or frames <= self.step_frames:
            return self.forward(batch)
        state = {name: np.zeros((1, width), np.float32)
                 for name, width in self._state_sizes.items()}
        outputs = []
        for start in range(0, frames, self.step_frames):
            part = {key: value[:, start:start + self.step_frames]
                    for key, value in batch.items()}
            predictions, state = self._step(part, state)
            outputs.append(np.asarray(predictions))
        return np.concatenate(outputs, axis=1)

    def _stepper(self) -> tuple[Callable | None, dict[str, int]]:
        """(inputs, state) -> (predictions, state) of a recurrent regressor (a train dir's
        traced `step`, or an export's `serve_chunk`) and its state widths; (None, {}) for any
        other model (a classifier pools over the whole chunk)."""
        if self.categorical or "word_sequence" in self.keys:
            return None, {}
        if self.exported is not None:
            if not self.exported.streams:
                return None, {}
            exported = self.exported
            sizes = {name: int(array.shape[1])
                     for name, array in exported.initial_state().items()}

            def serve_chunk(batch: dict, state: dict) -> tuple[np.ndarray, dict]:
                out = exported.serve_chunk({**batch, **state})
                return out["predictions"], {name: out[name] for name in sizes}

            return serve_chunk, sizes
        from tfemo.models.recurrent import RecurrentSteps

        model = getattr(self, "model", None)
        if not isinstance(model, RecurrentSteps):
            return None, {}
        import tensorflow as tf

        sizes = dict(model.state_sizes)
        states = {name: tf.TensorSpec([None, width], tf.float32, name=name)
                  for name, width in sizes.items()}
        step = tf.function(lambda batch, state: model.step(batch, state, training=False),
                           input_signature=[self.input_signature(), states])

        def stepped(batch: dict, state: dict) -> tuple[np.ndarray, dict]:
            predictions, after = step(batch, state)
            return predictions, {name: value.numpy() for name, value in after.items()}

        return stepped, sizes

    def run(self, path: Path, inputs: dict[str, Any],
            speech_check: bool | None = None) -> FileResult:
        """The model over one file's inputs, chunk by chunk (see the module docstring)."""
        result = self.run_chunks(path, input_chunks(inputs, self.chunk_frames), speech_check)
        result.said = inputs.get(SAID)
        return result

    def run_chunks(self, path: Path, chunks: Iterable[dict[str, np.ndarray]],
                   speech_check: bool | None = None) -> FileResult:
        """The model over one file's inputs given chunk by chunk ([n, ...] each);
        `speech_check` None: the predictor's own (False: speech already found, e.g. a VAD
        segment)."""
        outputs, sizes, seen = [], [], InputRange()
        check_speech = self.speech_check if speech_check is None else speech_check
        speech = SpeechCheck(self.vad) if check_speech else None
        for chunk in chunks:
            seen.add(chunk, raw_features=not self.speaker_normalise)
            size = len(chunk["audio"])
            batch = {k: v[None] for k, v in chunk.items() if k in self.keys}
            batch["mask"] = np.ones((1, size), dtype=bool)
            outputs.append(self.forward_chunk(batch)[0])
            sizes.append(size)
            if speech is not None:  # chunk by chunk, so long files stay bounded
                if speech.backend == "praat":
                    speech.add(chunk["audio"].reshape(-1), self._voiced_f0(chunk))
                else:  # a stream: the same segments fed in pieces, with less memory
                    samples = chunk["audio"].reshape(-1)
                    piece = self.step_frames * chunk["audio"].shape[1]
                    for start in range(0, len(samples), piece):
                        speech.add(samples[start:start + piece])
        frames = sum(sizes)
        result = FileResult(path, frames * self.description.frame_seconds, frames, len(sizes),
                            far_from_training=seen.verdict(self.description.normalisation))
        if speech is not None:  # a classifier gets no class, a regressor no quadrant
            verdict = speech.verdict()
            result.no_speech = verdict.no_speech
            result.voiced_fraction = verdict.fraction
        if self.categorical:
            result.probabilities = self.calibrated(
                np.average(np.stack(outputs), axis=0, weights=sizes))
        else:
            result.trace = np.concatenate(outputs, axis=0)
        return result

    def _pitch_columns(self) -> slice | None:
        """Where the raw pitch family ([F0, voiced]) sits in the feature inputs, if it does."""
        if self.speaker_normalise or "pitch" not in self.description.features:
            return None  # standardised per file: not Hz any more
        start = 0
        for family, width in self.description.features.items():
            if family == "pitch":
                return slice(start, start + width)
            start += width
        return None

    def _voiced_f0(self, chunk: dict[str, np.ndarray]) -> np.ndarray:
        """The voiced F0 values of one chunk: from its pitch features when the model reads
        them (the same Praat track), else computed from its audio."""
        if self._pitch is not None and "features" in chunk:
            pitch = chunk["features"][:, self._pitch]
            return pitch[pitch[:, 1] > 0, 0]
        return voiced_f0(chunk["audio"].reshape(-1))

    def calibrated(self, probabilities: np.ndarray) -> np.ndarray:
        """Class probabilities at the saved temperature (unchanged when none was fit)."""
        if self.temperature is None:
            return probabilities
        return apply_temperature(probabilities, self.temperature).astype(np.float32)
