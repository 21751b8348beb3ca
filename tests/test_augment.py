"""Augmentation of the train stream: seeded, only on train batches, masks where they should be,
padding left alone, and every tensorflow-io call behind tfemo/audio/tfio_ops.py."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from tests.records_factory import FEATURE_DIM, write_synthetic_records
from tfemo.evaluation.portion import predict_portion
from tfemo.records.description import DatasetDescription
from tfemo.records.schema import read_examples
from tfemo.records.writer import shard_paths
from tfemo.training.augment import augment, check
from tfemo.training.config import TrainConfig
from tfemo.training.loop import training_stream

ROOT = Path(__file__).resolve().parents[1] / "tfemo"
LENGTHS = {"train": [70, 45, 90, 33, 64, 51], "devel": [40, 37], "test": [30]}
L = 40  # chunk length: most rows end in a padded chunk


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("records")
    write_synthetic_records(folder, LENGTHS, seed=5)
    return folder


def stream(records: Path, keys: tuple[str, ...], **settings) -> list[dict[str, np.ndarray]]:
    """The first batches of the real train stream with these settings, as NumPy."""
    train = TrainConfig(tfrecords=records, batch_size=3, sequence_length=L, cache=False,
                        **settings)
    description = DatasetDescription.read(records)
    data, _ = training_stream(train, records, description, SimpleNamespace(input_keys=keys))
    return [{k: v.numpy() for k, v in inputs.items()} for inputs, *_ in data.take(4)]


def importers(module: str) -> list[str]:
    """The tfemo modules (paths under tfemo/) with an import of `module` or its parts."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == module or n.startswith(module + ".") for n in names):
                found.append(path.relative_to(ROOT).as_posix())
                break
    return found


def test_no_module_but_tfio_ops_imports_tensorflow_io():
    assert importers("tensorflow_io") == ["audio/tfio_ops.py"]


def test_only_the_training_loop_uses_the_augmentation():
    assert importers("tfemo.training.augment") == ["training/loop.py"]


@pytest.mark.slow
def test_same_seed_same_batches_other_seed_other_batches(records):
    settings = {"freq_mask": 2, "time_mask": 10, "augment_seed": 7}
    first, again = stream(records, ("features",), **settings), stream(records, ("features",),
                                                                      **settings)
    other = stream(records, ("features",), **{**settings, "augment_seed": 8})
    plain = stream(records, ("features",))
    for a, b, d in zip(first, again, plain, strict=True):
        assert np.array_equal(a["features"], b["features"])
        assert np.array_equal(a["id"], d["id"])  # the data order is not changed
    differ = [not np.array_equal(a["features"], c["features"])
              for a, c in zip(first, other, strict=True)]
    augmented = [not np.array_equal(a["features"], d["features"])
                 for a, d in zip(first, plain, strict=True)]
    assert any(differ) and any(augmented)


def _changed(augmented: dict, plain: dict) -> np.ndarray:
    return augmented["features"] != plain["features"]


def test_freq_masks_are_bands_of_features_on_real_frames_set_to_the_train_mean(records):
    mean = np.array(DatasetDescription.read(records).normalisation["features"]["mean"],
                    np.float32)
    masked_rows = 0
    for aug, plain in zip(stream(records, ("features",), freq_mask=3),
                          stream(records, ("features",)), strict=True):
        changed, mask = _changed(aug, plain), aug["mask"]
        assert np.array_equal(mask, plain["mask"])
        assert not changed[~mask].any() and not aug["features"][~mask].any()  # padding stays 0
        for row in range(len(mask)):
            columns = np.flatnonzero(changed[row][mask[row]].any(axis=0))
            if len(columns):
                masked_rows += 1
                assert len(columns) < 3 and np.all(np.diff(columns) == 1)
                band = aug["features"][row][mask[row]][:, columns]
                assert np.allclose(band, mean[columns])  # the whole band, every real frame
    assert masked_rows


def test_time_masks_are_runs_of_real_frames(records):
    masked_rows = 0
    for aug, plain in zip(stream(records, ("features",), time_mask=8, mask_count=2),
                          stream(records, ("features",)), strict=True):
        changed, mask = _changed(aug, plain), aug["mask"]
        assert not changed[~mask].any() and not aug["features"][~mask].any()
        for row in range(len(mask)):
            frames = np.flatnonzero(changed[row].any(axis=1))
            masked_rows += bool(len(frames))
            assert len(frames) <= 2 * 7 and mask[row][frames].all()
    assert masked_rows


@pytest.mark.slow
def test_gain_and_noise_change_real_samples_only(records):
    plain = stream(records, ("audio", "words"))
    gained = stream(records, ("audio", "words"), gain_db=(-6, -6))
    noisy = stream(records, ("audio", "words"), noise_snr=(10, 10))
    for p, g, n in zip(plain, gained, noisy, strict=True):
        real = p["mask"]
        assert np.allclose(g["audio"][real], p["audio"][real] * 10 ** (-6 / 20), atol=1e-6)
        assert not g["audio"][~real].any() and not n["audio"][~real].any()
        noise = n["audio"][real] - p["audio"][real]
        snr = 10 * np.log10(np.mean(p["audio"][real] ** 2) / np.mean(noise ** 2))
        assert 8 < snr < 12
        assert np.array_equal(n["labels"], p["labels"])


@pytest.mark.slow
def test_speed_perturbation_stretches_frames_labels_and_mask(records):
    plain = stream(records, ("audio", "words"))
    slow = stream(records, ("audio", "words"), speed=(90,))
    fast = stream(records, ("audio", "words"), speed=(110,))
    for p, s, f in zip(plain, slow, fast, strict=True):
        assert s["audio"].shape[1] == int(np.ceil(L / 0.9)) and f["audio"].shape[1] == L
        for batch in (s, f):
            assert np.array_equal(batch["mask"].sum(axis=1), batch["num_frames"])
            assert not batch["audio"][~batch["mask"]].any()
            assert not batch["labels"][~batch["mask"]].any()
        ratio = s["num_frames"] / p["num_frames"]
        assert np.all(np.abs(ratio - 1 / 0.9) < 0.1)
        assert np.all(f["num_frames"] <= p["num_frames"])
        for row in range(len(p["mask"])):  # nearest-frame labels: frame i from frame i * 0.9
            n = s["num_frames"][row]
            source = np.minimum((np.arange(n) * 0.9).astype(int), p["num_frames"][row] - 1)
            assert np.array_equal(s["labels"][row, :n], p["labels"][row, source])


def test_waveform_augmentation_needs_a_model_that_reads_audio(records):
    with pytest.raises(ValueError, match="cannot be recomputed"):
        check(TrainConfig(speed=(90, 100, 110)), ("features",))
    with pytest.raises(ValueError, match="LOW,HIGH"):
        check(TrainConfig(noise_snr=(20, 5)), ("audio",))


class Probe(keras.Model):
    """Predicts the first two raw features of each frame: what the evaluation was fed."""

    input_keys = ("features",)

    def call(self, inputs, training=None):
        return inputs["features"][..., :2]


@pytest.mark.slow
def test_devel_and_test_batches_are_never_augmented(records):
    train = TrainConfig(freq_mask=FEATURE_DIM, time_mask=30, mask_count=3, augment_seed=3)
    description = DatasetDescription.read(records)
    data, _ = training_stream(replace(train, tfrecords=records, batch_size=2, cache=False),
                              records, description, Probe())
    train_ids = {e.id for e in read_examples(shard_paths(records, "train"))}
    ids = {i.decode() for inputs, *_ in data.take(6) for i in inputs["id"].numpy()}
    assert ids <= train_ids  # the augmented stream is the train portion's
    for portion in ("devel", "test"):
        files = predict_portion(Probe(), records, portion)
        examples = {e.id: e for e in read_examples(shard_paths(records, portion))}
        assert {f.id for f in files} == set(examples)
        for f in files:
            assert np.array_equal(f.predictions, examples[f.id].features[:, :2])


def test_off_by_default_leaves_the_stream_object_alone():
    data = object()
    assert augment(data, TrainConfig(), None, ("features",)) is data


@pytest.mark.parametrize("percent", [90, 110])
def test_polyphase_resampler_matches_scipy_and_moves_the_pitch(percent):
    from scipy.signal import resample_poly

    from tfemo.audio.polyphase import ratio, resample

    t = np.arange(8000) / 16000
    x = (np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32)
    up, down = ratio(percent)
    y = resample(x, up, down).numpy()
    expected = resample_poly(x, up, down)
    assert len(y) == len(expected) == int(np.ceil(len(x) * 100 / percent))
    assert np.abs(y[200:-200] - expected[200:-200]).max() < 0.05
    peak = np.fft.rfftfreq(len(y), 1 / 16000)[np.argmax(np.abs(np.fft.rfft(y)))]
    assert abs(peak - 440 * percent / 100) < 4
