"""A trained model as a self-describing artifact: a Keras 3 ExportArchive SavedModel + tfemo.json.

Layout of `exported/NAME/`:
- `1/`: the SavedModel (version 1, so TF Serving's `--model_base_path=exported/NAME` serves it);
- `tfemo.json`: what a client needs to feed it (labels, sample rate, frame length, feature
  families and their train statistics, the model's name and config, the records' description
  digest, the tfemo version, the signatures and their tensors).

Endpoints (each also a signature of the SavedModel):
- `serve`: inputs {key: [B, T, ...] float32 for each of the model's input keys, "mask": [B, T]
  bool}; outputs {"probabilities": [B, C]} (a classifier) or {"predictions": [B, T, D]}.
- `serve_chunk` (recurrent continuous models): the same inputs plus the recurrent state
  (`state_<layer>` [B, H] for GRUs; `h_<layer>`, `c_<layer>` for LSTMs), the same outputs plus
  the state after each row's last real frame. A caller starts from zeros and feeds each output
  state back in; nothing is kept in server-side variables (a stateful RNN would share one
  state among every caller). Frames where `mask` is False leave the state unchanged.

The archive loads with `tf.saved_model.load` alone (no tfemo code): `ExportedModel` is the thin
loader tfemo's Predictor and service use.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfemo import __version__
from tfemo.core.errors import TfemoError, UserError

METADATA_FILE = "tfemo.json"
VERSION_DIR = "1"
FORMAT_VERSION = 1


def _input_specs(model, description) -> dict[str, tuple[list[int | None], str]]:
    """Shape and dtype of every `serve` input, by name (batch and time free)."""
    widths = {"audio": description.frame_length, "words": description.word_dim,
              "features": description.feature_dim}
    specs = {key: ([None, None, int(widths[key])], "float32") for key in model.input_keys}
    specs["mask"] = ([None, None], "bool")
    return specs


def recurrent_layers(model) -> tuple[str, list]:
    """("gru" | "lstm", the model's recurrent layers), or ("", []) when it has none to stream."""
    if getattr(model, "grus", None):
        return "gru", list(model.grus)
    if getattr(model, "lstms", None):
        return "lstm", list(model.lstms)
    return "", []


def state_specs(model) -> dict[str, list[int | None]]:
    """Shapes [B, H] of the explicit recurrent state of `serve_chunk`, by input name."""
    kind, rnns = recurrent_layers(model)
    names = ("state",) if kind == "gru" else ("h", "c")
    return {f"{name}_{index}": [None, int(rnn.units)]
            for index, rnn in enumerate(rnns) for name in names}


def _gru_frames(model, inputs: dict, mask):
    """GRURegressor's per-frame input to its first GRU: the standardised features."""
    return model.standardiser(inputs["features"], mask)


def _fusion_frames(model, inputs: dict, mask):
    """SemanticFusion's per-frame fused vectors (everything before its LSTMs)."""
    from keras import ops

    vectors = []
    if "audio" in model.modalities:
        audio = ops.cast(inputs["audio"], "float32") * (1.0 / model.audio_scale)
        batch, steps = ops.shape(audio)[0], ops.shape(audio)[1]
        frame_mask = ops.reshape(mask, (-1,)) if model.audio_encoder.batch_norm else None
        encoded = model.audio_encoder(ops.reshape(audio, (-1, model.frame_length)),
                                      training=False, frame_mask=frame_mask)
        encoded = ops.reshape(encoded, (batch, steps, model.audio_encoder.output_dim))
        vectors.append(model.audio_projection(encoded))
    if "text" in model.modalities:
        vectors.append(model.text_projection(ops.cast(inputs["words"], "float32")))
    return model.fusion(vectors)[0] if len(vectors) > 1 else vectors[0]


def chunk_function(model):
    """`serve_chunk`'s body: inputs + state -> predictions + state, for GRU or LSTM models.

    Each recurrent layer's own cell runs in a `keras.layers.RNN` that returns its state (the
    same weights, the same arithmetic as the layer); the per-frame parts before and after it
    are the model's own layers, called in the order the model's `call` calls them.
    """
    import keras
    from keras import ops

    kind, rnns = recurrent_layers(model)
    runners = [keras.layers.RNN(rnn.cell, return_sequences=True, return_state=True)
               for rnn in rnns]
    frames = _gru_frames if kind == "gru" else _fusion_frames

    def serve_chunk(inputs: dict) -> dict:
        mask = ops.cast(inputs["mask"], "bool")
        x = frames(model, inputs, mask)
        outputs = {}
        for index, runner in enumerate(runners):
            if kind == "gru":
                x, h = runner(x, mask=mask, initial_state=[inputs[f"state_{index}"]])
                outputs[f"state_{index}"] = h
            else:
                x, h, c = runner(x, mask=mask,
                                 initial_state=[inputs[f"h_{index}"], inputs[f"c_{index}"]])
                outputs[f"h_{index}"], outputs[f"c_{index}"] = h, c
        predictions = model.head(x)
        if kind == "gru":  # as GRURegressor.call: zero on padded frames
            predictions = ops.where(ops.expand_dims(mask, -1), predictions, 0.0)
        outputs["predictions"] = predictions
        return outputs

    return serve_chunk


def description_digest(path: Path) -> str:
    """sha256 of the records' description.json the model was trained on."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def export_model(train_dir: str | Path, output: str | Path, steps: str | int = "latest") -> Path:
    """Write the SavedModel and tfemo.json of a train dir's checkpoint into `output`."""
    import keras
    import tensorflow as tf

    from tfemo.inference.predictor import check_frame_inputs, restore_train_dir
    from tfemo.models.registry import model_spec
    from tfemo.training.run_dir import DESCRIPTION_COPY, step_of_checkpoint
    from tfemo.training.temperature import read_temperature

    restored = restore_train_dir(train_dir, steps)
    if model_spec(restored.name).is_estimator:
        raise UserError(f"{train_dir}: a {restored.name} model is a scikit-learn pipeline, not a "
                        "Keras model, and has no SavedModel",
                        "label files with python -m tfemo.predict --checkpoint on the train dir")
    model, description = restored.model, restored.description
    check_frame_inputs(train_dir, restored.name, tuple(getattr(model, "input_keys", ())))
    output = Path(output)
    if (output / METADATA_FILE).exists() or (output / VERSION_DIR).exists():
        raise TfemoError(f"{output}: already holds an export; choose a new --output")
    categorical = description.task == "categorical"
    specs = _input_specs(model, description)
    signature = {name: tf.TensorSpec(shape, dtype, name=name)
                 for name, (shape, dtype) in specs.items()}
    output_name = "probabilities" if categorical else "predictions"

    def serve(inputs: dict) -> dict:
        return {output_name: model(inputs, training=False)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", serve, input_signature=[signature])
    kind, _ = recurrent_layers(model)
    states = state_specs(model) if kind and not categorical else {}
    if states:
        chunk_signature = {**signature, **{name: tf.TensorSpec(shape, "float32", name=name)
                                           for name, shape in states.items()}}
        archive.add_endpoint("serve_chunk", chunk_function(model),
                             input_signature=[chunk_signature])
    output.mkdir(parents=True, exist_ok=True)
    archive.write_out(str(output / VERSION_DIR), verbose=False)

    label_width = [None, len(description.label_names)] if categorical else \
        [None, None, len(description.label_names)]
    outputs = {output_name: (label_width, "float32")}
    signatures = {"serve": {"inputs": specs, "outputs": outputs}}
    if states:
        state_io = {name: (shape, "float32") for name, shape in states.items()}
        signatures["serve_chunk"] = {"inputs": {**specs, **state_io},
                                     "outputs": {**outputs, **state_io}}
    metadata = {
        "format_version": FORMAT_VERSION,
        "tfemo_version": __version__,
        "model": {"name": restored.name, "config": restored.config,
                  "input_keys": list(model.input_keys),
                  "recurrent": kind if states else "",
                  "checkpoint": restored.checkpoint},
        "task": description.task,
        "label_names": list(description.label_names),
        "sample_rate": description.sample_rate,
        "frame_length": description.frame_length,
        "frame_seconds": description.frame_seconds,
        "word_dim": description.word_dim if "words" in model.input_keys else 0,
        "embeddings": description.extra.get("embeddings_option", "spacy-md"),
        "features": [[family, dim] for family, dim in description.features.items()],
        "normalisation": description.normalisation,
        "speaker_normalise": restored.speaker_normalise,
        # the classifier's calibration (tfemo.eval --calibrate), applied by the Predictor
        "temperature": read_temperature(train_dir, step_of_checkpoint(restored.checkpoint)),
        "description_sha256": description_digest(Path(train_dir) / DESCRIPTION_COPY),
        "dataset": description.name,
        "saved_model": VERSION_DIR,
        "signatures": {name: {part: {k: {"shape": s, "dtype": d} for k, (s, d) in io.items()}
                              for part, io in sig.items()}
                       for name, sig in signatures.items()},
    }
    (output / METADATA_FILE).write_text(json.dumps(metadata, indent=1, sort_keys=True) + "\n")
    return output


def is_export(path: str | Path) -> bool:
    """Whether `path` is an export of tfemo.export (it holds tfemo.json)."""
    return (Path(path) / METADATA_FILE).is_file()


@dataclass
class ExportedModel:
    """A loaded export: its metadata and its endpoints (numpy in, numpy out)."""

    path: Path
    metadata: dict[str, Any]
    saved_model: Any

    @classmethod
    def load(cls, path: str | Path) -> ExportedModel:
        """tf.saved_model.load of `path/1` and the JSON beside it."""
        import tensorflow as tf

        path = Path(path)
        if not is_export(path):
            raise TfemoError(f"{path}: no {METADATA_FILE}; not an export of tfemo.export")
        metadata = json.loads((path / METADATA_FILE).read_text())
        if metadata.get("format_version") != FORMAT_VERSION:
            raise TfemoError(f"{path / METADATA_FILE}: format_version "
                             f"{metadata.get('format_version')}, this tfemo reads {FORMAT_VERSION}")
        return cls(path, metadata, tf.saved_model.load(str(path / metadata["saved_model"])))

    @property
    def streams(self) -> bool:
        """Whether the export has a `serve_chunk` endpoint."""
        return "serve_chunk" in self.metadata["signatures"]

    def _call(self, endpoint: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        spec = self.metadata["signatures"][endpoint]["inputs"]
        batch = {name: np.asarray(inputs[name], dtype=spec[name]["dtype"]) for name in spec}
        return {k: v.numpy() for k, v in getattr(self.saved_model, endpoint)(batch).items()}

    def serve(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The `serve` endpoint on a batch dict (the model's keys and `mask`)."""
        return self._call("serve", inputs)

    def serve_chunk(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The `serve_chunk` endpoint: the batch dict plus the state, outputs plus new state."""
        return self._call("serve_chunk", inputs)

    def initial_state(self, batch: int = 1) -> dict[str, np.ndarray]:
        """Zero recurrent state for `batch` streams."""
        inputs = self.metadata["signatures"]["serve_chunk"]["inputs"]
        return {name: np.zeros((batch, spec["shape"][1]), np.float32)
                for name, spec in inputs.items() if name not in self.metadata["model"]
                ["input_keys"] and name != "mask"}
