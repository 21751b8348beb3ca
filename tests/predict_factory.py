"""Train dirs for prediction tests without training: a model built from a description,
initialised with a fixed seed and saved as `model.ckpt-1` beside model.json and description.json.

Prediction only needs a restorable model whose inputs match the description, so the weights
need not be trained; the seed makes every run predict the same numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

from tfemo.audio.features import feature_dims
from tfemo.records.description import DatasetDescription

CLASSES = ["anger", "neutral", "sadness"]
WORD_DIM = 6  # semantic_fusion: a small GloVe-style vectors file instead of spaCy's
WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def write_vectors(folder: Path) -> Path:
    """A WORD_DIM-d vectors file (GloVe text format) of WORDS, fixed seed."""
    import numpy as np

    rng = np.random.default_rng(0)
    path = folder / "vectors.txt"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{word} " + " ".join(f"{v:.4f}" for v in rng.normal(size=WORD_DIM))
                            + "\n" for word in WORDS))
    return path


def write_train_dir(train_dir: Path, model: str = "conv1d",
                    features: tuple[str, ...] = ("rms", "mfcc", "pitch"),
                    seed: int = 3, **options) -> Path:
    """A train dir of `model` (conv1d: categorical; gru_regressor: arousal/valence on
    features; semantic_fusion: arousal/valence on raw audio and 6-d word vectors)."""
    import keras
    import numpy as np
    import tensorflow as tf

    from tfemo.models.registry import build_model, model_spec
    from tfemo.training.run_dir import CHECKPOINT_NAME, DESCRIPTION_COPY, MODEL_FILE

    words = model == "semantic_fusion"  # raw audio and word vectors, no features
    dims = {} if words else feature_dims(features)
    width = sum(dims.values())
    categorical = model == "conv1d"
    description = DatasetDescription(
        name="factory", task="categorical" if categorical else "continuous", sample_rate=16000,
        frame_length=640, frame_seconds=0.04, corpus="factory", features=dims,
        label_names=CLASSES if categorical else ["arousal", "valence"],
        word_dim=WORD_DIM if words else 0,
        normalisation={"fit_on": "train", "audio": {"mean": 0.0, "std": 0.1},
                       "features": {"mean": [0.0] * width, "std": [1.0] * width}})
    small = ({"filters": 8, "hidden": 8, "blocks": 1} if categorical else {"hidden": 8})
    if words:
        description.extra["embeddings_option"] = str(write_vectors(train_dir.parent))
        small.update(fusion_size=8, attention_units=4)
    options = {**small, **options}  # `options`: the model's own sizes instead of small ones
    keras.utils.set_random_seed(seed)
    network = build_model(model, description, model_spec(model).config(**options))
    batch = ({"audio": np.zeros((1, 4, 640), np.float32),
              "words": np.zeros((1, 4, WORD_DIM), np.float32)} if words
             else {"features": np.zeros((1, 4, width), np.float32)})
    batch["mask"] = np.ones((1, 4), bool)
    network(batch, training=False)
    train_dir.mkdir(parents=True, exist_ok=True)
    description.write(train_dir / DESCRIPTION_COPY)
    spec = {"model": model, "config": network.get_config(), "data": {}}
    (train_dir / MODEL_FILE).write_text(json.dumps(spec, indent=1, sort_keys=True))
    tf.train.Checkpoint(model_variables=list(network.variables)).save(
        str(train_dir / CHECKPOINT_NAME))  # model.ckpt-1, as tfemo.train names it
    return train_dir
