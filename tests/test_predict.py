"""python -m tfemo.predict with a regressor and a classifier: every frame scored, one trace.

The models are trained for a few steps on records that tfemo.make_tfrecords made with
hand-crafted features (a tiny demo corpus for the gru_regressor, a fake EMO-DB tree for the
conv1d classifier); predict then labels WAV files longer than two of its chunks.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tfemo import predict, train
from tfemo.corpora.demo import TINY_CONFIG, ensure_demo_corpus
from tfemo.inference import predictor as predictor_module
from tfemo.inference.predictor import Predictor
from tfemo.make_tfrecords import main as make_tfrecords_main

FAMILIES = "rms,mfcc"
CHUNK_SECONDS, CHUNK_FRAMES = 0.4, 10  # 40 ms frames
# name -> (seconds, loudness): 2.08 s is 52 frames, five chunks of 10 and one of 2
FILES = {"short": (0.3, 0.05), "middle": (1.0, 0.3), "long": (2.08, 0.1), "longer": (3.3, 0.5)}
pytestmark = pytest.mark.slow  # each test trains a model first (about 5 to 10 s)
COMMON = ["--verbose", "0", "--device", "-1", "--save_interval_secs", "1000"]


def _write_files(folder: Path, seed: int = 2) -> dict[str, int]:
    """WAV files of FILES, a tone that changes pitch over time; name -> frame count."""
    rng = np.random.default_rng(seed)
    frames = {}
    for name, (seconds, loudness) in FILES.items():
        t = np.arange(int(seconds * 16000)) / 16000
        hertz = 150.0 + 300.0 * t / seconds
        audio = loudness * np.sin(2 * np.pi * hertz * t) + 0.01 * rng.standard_normal(len(t))
        folder.mkdir(parents=True, exist_ok=True)
        soundfile.write(folder / f"{name}.wav", audio.astype(np.float32), 16000,
                        subtype="PCM_16")
        frames[name] = math.ceil(len(t) / 640)
    return frames


@pytest.fixture(scope="module")
def audio_files(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    folder = tmp_path_factory.mktemp("new-audio")
    return folder, _write_files(folder)


@pytest.fixture(scope="module")
def regressor(tmp_path_factory) -> Path:
    """A gru_regressor train dir, trained for 3 steps on the tiny demo corpus's features."""
    base = tmp_path_factory.mktemp("regressor")
    root = ensure_demo_corpus(TINY_CONFIG, root=base / "tiny")
    assert make_tfrecords_main(["--data_dir", str(root), "--output_dir", str(base / "records"),
                                "--embeddings", "none", "--features", FAMILIES,
                                "--workers", "1", "--quiet"]) == 0
    assert train.main(["--tfrecords", str(base / "records"), "--train_dir", str(base / "run"),
                       "--model", "gru_regressor", "--hidden", "8", "--gru_layers", "1",
                       "--batch_size", "2", "--sequence_length", "50", "--max_steps", "3",
                       *COMMON]) == 0
    return base / "run"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    """A conv1d train dir, trained for 3 steps on a fake EMO-DB tree of tones."""
    base = tmp_path_factory.mktemp("classifier")
    rng = np.random.default_rng(4)
    for speaker in ("03", "08", "12", "15"):
        for name, hertz, loudness in (("a01W", 440.0, 0.5), ("a02T", 150.0, 0.08),
                                      ("a04N", 250.0, 0.2)):
            t = np.arange(int(rng.uniform(0.5, 0.9) * 16000)) / 16000
            audio = loudness * np.sin(2 * np.pi * hertz * t) + 0.01 * rng.standard_normal(len(t))
            path = base / "emodb" / "wav" / f"{speaker}{name}a.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, audio.astype(np.float32), 16000, subtype="PCM_16")
    assert make_tfrecords_main(["--corpus", "emodb", "--data_dir", str(base / "emodb"),
                                "--output_dir", str(base / "records"), "--embeddings", "none",
                                "--features", FAMILIES, "--workers", "1", "--quiet"]) == 0
    assert train.main(["--tfrecords", str(base / "records"), "--train_dir", str(base / "run"),
                       "--model", "conv1d", "--filters", "8", "--hidden", "8", "--blocks", "1",
                       "--batch_size", "4", "--max_steps", "3", *COMMON]) == 0
    return base / "run"


def _predict(train_dir: Path, inputs: Path, output: Path) -> dict[str, dict]:
    """Run tfemo.predict.main on a folder; predictions.csv rows by file stem."""
    assert predict.main([str(inputs), "--checkpoint", str(train_dir), "--output_dir",
                         str(output), "--chunk_seconds", str(CHUNK_SECONDS),
                         "--no_speech_check"]) == 0  # tones: no speech by design (the VAD)
    return {Path(r["path"]).stem: r for r in csv.DictReader((output / "predictions.csv").open())}


def _chunk_outputs(reference: Predictor, path: Path) -> tuple[list[np.ndarray], list[int]]:
    """The model's outputs on each chunk of a file, called directly, and the chunk sizes."""
    inputs = reference.inputs(path)
    frames = len(inputs["audio"])
    outputs, sizes = [], []
    for start in range(0, frames, CHUNK_FRAMES):
        batch = {k: inputs[k][None, start:start + CHUNK_FRAMES] for k in reference.keys}
        outputs.append(reference.model(batch, training=False).numpy()[0])
        sizes.append(min(CHUNK_FRAMES, frames - start))
    return outputs, sizes


def _quadrant(arousal: float, valence: float) -> str:
    return (f"{'high' if arousal >= 0 else 'low'} arousal, "
            f"{'positive' if valence >= 0 else 'negative'} valence")


def test_regressor_writes_a_trace_row_for_every_frame(regressor, audio_files, tmp_path, capsys):
    inputs, frames = audio_files
    rows = _predict(regressor, inputs, tmp_path)
    assert sorted(rows) == sorted(FILES)
    reference = Predictor(regressor)
    quadrants: dict[str, int] = {}
    for name, row in rows.items():
        assert int(row["chunks"]) == math.ceil(frames[name] / CHUNK_FRAMES)
        trace_path = Path(row["trace"])
        assert trace_path == tmp_path / "traces" / f"{name}.csv"
        trace = np.loadtxt(trace_path, delimiter=",", skiprows=1, ndmin=2)
        assert trace_path.read_text().splitlines()[0] == "time,arousal,valence"
        assert trace.shape == (frames[name], 3)  # one row per 40 ms frame, none twice
        np.testing.assert_allclose(trace[:, 0], (np.arange(frames[name]) + 0.5) * 0.04)
        outputs, _ = _chunk_outputs(reference, inputs / f"{name}.wav")
        np.testing.assert_allclose(trace[:, 1:], np.concatenate(outputs), rtol=1e-5, atol=1e-6)
        means = trace[:, 1:].mean(axis=0)
        assert float(row["mean_arousal"]) == pytest.approx(means[0], abs=1e-6)
        assert float(row["mean_valence"]) == pytest.approx(means[1], abs=1e-6)
        assert row["quadrant"] == _quadrant(*means)
        quadrants[row["quadrant"]] = quadrants.get(row["quadrant"], 0) + 1
    assert frames["longer"] > 2 * CHUNK_FRAMES and int(rows["longer"]["chunks"]) == 9
    printed = capsys.readouterr().out
    for name, count in quadrants.items():
        assert any(name in line and f" {count} " in line for line in printed.splitlines())
    assert (tmp_path / "distribution.png").stat().st_size > 1000


def test_classifier_averages_its_chunks_by_their_length(classifier, audio_files, tmp_path):
    inputs, frames = audio_files
    rows = _predict(classifier, inputs, tmp_path)
    reference = Predictor(classifier)
    for name, row in rows.items():
        outputs, sizes = _chunk_outputs(reference, inputs / f"{name}.wav")
        assert int(row["chunks"]) == len(sizes) == math.ceil(frames[name] / CHUNK_FRAMES)
        assert sum(sizes) == frames[name]
        expected = np.average(np.stack(outputs), axis=0, weights=sizes)
        names = [k[2:] for k in row if k.startswith("p_")]
        found = np.array([float(row[f"p_{n}"]) for n in names])
        np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-6)
        assert row["top_class"] == names[int(np.argmax(expected))]
    # the long file's last chunk has 2 frames: weighting by length changes its average
    outputs, _ = _chunk_outputs(reference, inputs / "long.wav")
    found = np.array([float(v) for k, v in rows["long"].items() if k.startswith("p_")])
    assert np.abs(found - np.mean(np.stack(outputs), axis=0)).max() > 1e-4
    assert (tmp_path / "distribution.png").stat().st_size > 1000


@pytest.mark.parametrize("model", ["regressor", "classifier"])
def test_a_run_builds_restores_and_traces_the_model_once(model, request, audio_files,
                                                         tmp_path, monkeypatch):
    from tfemo.models import registry
    from tfemo.training import checkpoints

    train_dir = request.getfixturevalue(model)
    inputs, _ = audio_files
    calls = {"built": 0, "restored": 0}
    predictors: list[Predictor] = []

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return wrapper

    class RecordedPredictor(Predictor):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            predictors.append(self)

    monkeypatch.setattr(registry, "model_from_config",
                        counted("built", registry.model_from_config))
    monkeypatch.setattr(checkpoints, "restore_model",
                        counted("restored", checkpoints.restore_model))
    monkeypatch.setattr(predictor_module, "Predictor", RecordedPredictor)
    rows = _predict(train_dir, inputs, tmp_path)
    assert len(rows) == len(FILES) and {int(r["chunks"]) for r in rows.values()} == {1, 3, 6, 9}
    assert calls == {"built": 1, "restored": 1} and len(predictors) == 1
    # files and final chunks of several lengths, one trace of the model
    assert predictors[0]._forward.experimental_get_tracing_count() == 1
