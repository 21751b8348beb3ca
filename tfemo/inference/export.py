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
  state among every caller). Frames where `mask` is False leave the state unchanged. Its body
  is the model's own `step` (tfemo.models.recurrent): no layer is called here.

The archive loads with `tf.saved_model.load` alone (no tfemo code): `ExportedModel`
(tfemo.training.exported, beside the train-dir restore) is the thin loader tfemo's Predictor
and service use.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tfemo import __version__
from tfemo.core.errors import TfemoError, UserError
from tfemo.training.exported import FORMAT_VERSION, METADATA_FILE, VERSION_DIR


def _input_specs(model, description) -> dict[str, tuple[list[int | None], str]]:
    """Shape and dtype of every `serve` input, by name (batch and time free)."""
    widths = {"audio": description.frame_length, "words": description.word_dim,
              "features": description.feature_dim, "word_sequence": description.word_dim}
    specs = {key: ([None, None, int(widths[key])], "float32") for key in model.input_keys
             if key in widths}
    if "word_mask" in model.input_keys:  # word_sequence's mask: [B, W]
        specs["word_mask"] = ([None, None], "bool")
    specs["mask"] = ([None, None], "bool")
    return specs


def streams(model) -> bool:
    """Whether `model` has a chunk step with explicit state (tfemo.models.recurrent)."""
    from tfemo.models.recurrent import RecurrentSteps

    return isinstance(model, RecurrentSteps)


def chunk_function(model):
    """`serve_chunk`'s body: inputs + state -> predictions + state, the model's own `step`."""

    def serve_chunk(inputs: dict) -> dict:
        state = {name: inputs[name] for name in model.state_sizes}
        predictions, after = model.step(inputs, state, training=False)
        return {"predictions": predictions, **after}

    return serve_chunk


def write_saved_model(model, specs: dict[str, tuple[list[int | None], str]], output_name: str,
                      states: dict[str, list[int | None]], directory: Path) -> None:
    """The SavedModel of `model`: `serve` (its `call`) and, given `states`, `serve_chunk`."""
    import keras
    import tensorflow as tf

    signature = {name: tf.TensorSpec(shape, dtype, name=name)
                 for name, (shape, dtype) in specs.items()}

    def serve(inputs: dict) -> dict:
        return {output_name: model(inputs, training=False)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", serve, input_signature=[signature])
    if states:
        chunk_signature = {**signature, **{name: tf.TensorSpec(shape, "float32", name=name)
                                           for name, shape in states.items()}}
        archive.add_endpoint("serve_chunk", chunk_function(model),
                             input_signature=[chunk_signature])
    archive.write_out(str(directory), verbose=False)


def description_digest(path: Path) -> str:
    """sha256 of the records' description.json the model was trained on."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def export_model(train_dir: str | Path, output: str | Path, steps: str | int = "latest") -> Path:
    """Write the SavedModel and tfemo.json of a train dir's checkpoint into `output`."""
    from tfemo.inference.predictor import check_frame_inputs
    from tfemo.training.restore import restore_train_dir
    from tfemo.training.run_dir import DESCRIPTION_COPY
    from tfemo.training.temperature import read_temperature

    restored = restore_train_dir(train_dir, steps)
    if restored.spec.is_estimator:
        raise UserError(f"{train_dir}: a {restored.name} model is a scikit-learn pipeline, not a "
                        "Keras model, and has no SavedModel",
                        "label files with python -m tfemo.predict --train_dir on the train dir")
    model, description = restored.model, restored.description
    check_frame_inputs(train_dir, restored.name, tuple(getattr(model, "input_keys", ())))
    output = Path(output)
    if (output / METADATA_FILE).exists() or (output / VERSION_DIR).exists():
        raise TfemoError(f"{output}: already holds an export; choose a new --output")
    categorical = description.task == "categorical"
    specs = _input_specs(model, description)
    output_name = "probabilities" if categorical else "predictions"
    states = ({name: [None, width] for name, width in model.state_sizes.items()}
              if streams(model) and not categorical else {})
    output.mkdir(parents=True, exist_ok=True)
    write_saved_model(model, specs, output_name, states, output / VERSION_DIR)

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
                  "recurrent": model.recurrent if states else "",
                  "checkpoint": restored.checkpoint},
        "task": description.task,
        "label_names": list(description.label_names),
        "sample_rate": description.sample_rate,
        "frame_length": description.frame_length,
        "frame_seconds": description.frame_seconds,
        "word_dim": description.word_dim if {"words", "word_sequence"} & set(model.input_keys)
        else 0,
        "embeddings": description.extra.get("embeddings_option", "spacy-md"),
        "features": [[family, dim] for family, dim in description.features.items()],
        "normalisation": description.normalisation,
        "speaker_normalise": restored.speaker_normalise,
        # the classifier's calibration (tfemo.eval --calibrate), applied by the Predictor
        "temperature": read_temperature(train_dir, restored.step),
        "description_sha256": description_digest(Path(train_dir) / DESCRIPTION_COPY),
        "dataset": description.name,
        "saved_model": VERSION_DIR,
        "signatures": {name: {part: {k: {"shape": s, "dtype": d} for k, (s, d) in io.items()}
                              for part, io in sig.items()}
                       for name, sig in signatures.items()},
    }
    (output / METADATA_FILE).write_text(json.dumps(metadata, indent=1, sort_keys=True) + "\n")
    return output
