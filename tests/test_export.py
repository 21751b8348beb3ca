"""tfemo.export: the SavedModel equals the checkpoint, and streaming in chunks equals one pass."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.records_factory import write_synthetic_records
from tests.serve_models import train_tiny, write_tone_records
from tfemo import export
from tfemo.inference.export import description_digest
from tfemo.training.exported import METADATA_FILE, ExportedModel
from tfemo.training.restore import restore_train_dir

LENGTHS = {"train": [57, 80, 43, 66], "devel": [37, 52], "test": [45]}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("synthetic")
    write_synthetic_records(folder, LENGTHS)
    return folder


def _export(train_dir: Path, output: Path) -> ExportedModel:
    assert export.main(["--train_dir", str(train_dir), "--export_dir", str(output)]) == 0
    return ExportedModel.load(output)


@pytest.fixture(scope="module")
def gru(synthetic, tmp_path_factory):
    train_dir = train_tiny(synthetic, tmp_path_factory.mktemp("gru"), "gru_regressor",
                           "--gru_layers", "2")
    return train_dir, _export(train_dir, tmp_path_factory.mktemp("gru-export") / "gru")


@pytest.fixture(scope="module")
def fusion(synthetic, tmp_path_factory):
    train_dir = train_tiny(synthetic, tmp_path_factory.mktemp("fusion"), "semantic_fusion",
                           "--lstm_layers", "2")
    return train_dir, _export(train_dir, tmp_path_factory.mktemp("fusion-export") / "fusion")


def _batch(rng: np.random.Generator, keys: dict, lengths: list[int]) -> dict[str, np.ndarray]:
    """A padded batch of rows with the given lengths (padding filled with garbage)."""
    steps = max(lengths)
    batch = {k: rng.normal(size=(len(lengths), steps, width)).astype(np.float32) * scale
             for k, (width, scale) in keys.items()}
    batch["mask"] = np.arange(steps)[None, :] < np.array(lengths)[:, None]
    return batch


def _keys(model) -> dict:
    widths = {"audio": (640, 0.1), "words": (6, 0.5), "features": (4, 5.0)}
    return {k: widths[k] for k in model.input_keys}


@pytest.mark.parametrize("which", ["gru", "fusion"])
def test_the_export_equals_the_checkpoint(which, request):
    train_dir, exported = request.getfixturevalue(which)
    model = restore_train_dir(train_dir).model
    batch = _batch(np.random.default_rng(1), _keys(model), [31, 17, 24])
    if "features" in batch:
        batch["features"] += 10.0
    expected = model(batch, training=False).numpy()
    got = exported.serve(batch)["predictions"]
    assert got.shape == expected.shape == (3, 31, 2)
    valid = batch["mask"]
    assert np.abs(got[valid] - expected[valid]).max() < 1e-5


@pytest.mark.parametrize("which", ["gru", "fusion"])
def test_chunk_by_chunk_streaming_equals_the_full_sequence(which, request):
    _, exported = request.getfixturevalue(which)
    keys = {k: w for k, w in zip(exported.metadata["model"]["input_keys"],
                                 [(640, 0.1), (6, 0.5)] if which == "fusion" else [(4, 5.0)],
                                 strict=True)}
    batch = _batch(np.random.default_rng(2), keys, [40, 29])
    full = exported.serve(batch)["predictions"]
    state = exported.initial_state(batch=2)
    pieces, start = [], 0
    for size in (1, 7, 13, 3, 16):  # chunks of any size, past the end of the shorter row
        chunk = {k: v[:, start:start + size] for k, v in batch.items()}
        out = exported.serve_chunk({**chunk, **state})
        state = {k: out[k] for k in state}
        pieces.append(out["predictions"])
        start += size
    streamed = np.concatenate(pieces, axis=1)
    valid = batch["mask"]
    assert np.abs(streamed[valid] - full[valid]).max() < 1e-5
    # the state after the shorter row's end is the state at its last real frame
    alone = exported.serve_chunk({**{k: v[1:, :29] for k, v in batch.items()},
                                  **exported.initial_state(batch=1)})
    for name in state:
        assert np.abs(alone[name][0] - state[name][1]).max() < 1e-5


def test_metadata_describes_the_model_and_its_signatures(gru, synthetic):
    train_dir, exported = gru
    meta = json.loads((exported.path / METADATA_FILE).read_text())
    assert meta["label_names"] == ["arousal", "valence"]
    assert meta["sample_rate"] == 16000 and meta["frame_length"] == 640
    assert meta["features"] == [["synthetic", 4]]
    assert len(meta["normalisation"]["features"]["mean"]) == 4
    assert meta["model"]["name"] == "gru_regressor" and meta["model"]["config"]["gru_layers"] == 2
    assert meta["description_sha256"] == description_digest(synthetic / "description.json")
    assert meta["tfemo_version"]
    serve = meta["signatures"]["serve"]
    assert serve["inputs"] == {"features": {"shape": [None, None, 4], "dtype": "float32"},
                               "mask": {"shape": [None, None], "dtype": "bool"}}
    assert set(meta["signatures"]["serve_chunk"]["inputs"]) == {"features", "mask", "state_0",
                                                                "state_1"}


def test_the_saved_model_loads_with_tensorflow_alone(gru):
    import tensorflow as tf

    _, exported = gru
    loaded = tf.saved_model.load(str(exported.path / "1"))
    signature = loaded.signatures["serve"]
    out = signature(features=tf.ones((1, 5, 4)), mask=tf.ones((1, 5), tf.bool))
    assert out["predictions"].shape == (1, 5, 2)
    assert set(loaded.signatures) >= {"serve", "serve_chunk", "serving_default"}


@pytest.mark.slow
def test_a_classifier_exports_probabilities_and_no_chunk_endpoint(tmp_path):
    records = tmp_path / "records"
    write_tone_records(records, "categorical")
    train_dir = train_tiny(records, tmp_path / "conv1d", "conv1d", "--filters", "8",
                           "--blocks", "1")
    exported = _export(train_dir, tmp_path / "export")
    model = restore_train_dir(train_dir).model
    batch = _batch(np.random.default_rng(3), {"features": (15, 3.0)}, [12, 30])
    expected = model(batch, training=False).numpy()
    got = exported.serve(batch)["probabilities"]
    assert got.shape == (2, 3) and np.abs(got - expected).max() < 1e-5
    assert not exported.streams and "serve_chunk" not in exported.metadata["signatures"]


def test_export_refuses_to_overwrite(gru, capsys):
    train_dir, exported = gru
    assert export.main(["--train_dir", str(train_dir), "--export_dir", str(exported.path)]) == 2
    assert "already holds an export" in capsys.readouterr().err
