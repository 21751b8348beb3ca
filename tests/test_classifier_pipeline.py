"""Features -> records -> conv1d train -> eval (folds pooled) -> predict, on a fake EMO-DB tree.

The tree has the corpus's exact layout; its audio is tonal so the classes are learnable:
anger is a loud 440 Hz tone, sadness a quiet 150 Hz tone, neutral a 250 Hz tone, each with
noise and a random length.
"""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tfemo import eval as evaluate
from tfemo import predict, train
from tfemo.audio.frames import frame_features
from tfemo.audio.io import load_audio
from tfemo.make_tfrecords import main as make_tfrecords_main
from tfemo.records.description import DatasetDescription, RunningStats
from tfemo.records.partitions import read_portion
from tfemo.records.reader import make_dataset
from tfemo.training.loop import class_weights

SPEAKERS = ("03", "08", "09", "10")
TONES = {"W": (440.0, 0.5), "T": (150.0, 0.08), "N": (250.0, 0.2)}  # letter: (Hz, amplitude)
FAMILIES = ("rms", "mfcc", "pitch")
SMALL = ["--model", "conv1d", "--batch_size", "8", "--filters", "16", "--hidden", "16",
         "--blocks", "2", "--learning_rate", "3e-3", "--max_steps", "40",
         "--save_interval_secs", "100", "--verbose", "0", "--device", "-1"]


def tone(path: Path, hertz: float, amplitude: float, rng: np.random.Generator) -> None:
    seconds = rng.uniform(0.6, 1.2)
    t = np.arange(int(seconds * 16000)) / 16000
    audio = amplitude * np.sin(2 * np.pi * hertz * t) + 0.01 * rng.standard_normal(len(t))
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, audio.astype(np.float32), 16000, subtype="PCM_16")


@pytest.fixture(scope="module")
def tonal_emodb(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("emodb")
    rng = np.random.default_rng(7)
    for speaker in SPEAKERS:
        for letter, (hertz, amplitude) in TONES.items():
            for text in ("a01", "a02"):
                tone(root / "wav" / f"{speaker}{text}{letter}a.wav", hertz, amplitude, rng)
    return root


@pytest.fixture(scope="module")
def fold_records(tonal_emodb, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("records")
    assert make_tfrecords_main(["--corpus", "emodb", "--data_dir", str(tonal_emodb),
                                "--output_dir", str(output), "--embeddings", "none",
                                "--features", ",".join(FAMILIES), "--partition", "loso",
                                "--workers", "1", "--quiet"]) == 0
    return output


@pytest.fixture(scope="module")
def trained(fold_records, tmp_path_factory) -> Path:
    train_dir = tmp_path_factory.mktemp("checkpoints")
    assert train.main(["--tfrecords", str(fold_records), "--train_dir", str(train_dir),
                       *SMALL]) == 0
    return train_dir


def test_records_carry_the_features_and_train_only_statistics(tonal_emodb, fold_records):
    fold = fold_records / "fold-01"
    description = DatasetDescription.read(fold)
    assert description.features == {"rms": 1, "mfcc": 13, "pitch": 2}
    assert description.word_dim == 0
    train_stats = RunningStats(16)
    speaker_stats = {s: RunningStats(16) for s in SPEAKERS}
    for portion in description.portions:
        for example in read_portion(fold, portion):
            audio = load_audio(tonal_emodb / "wav" / f"{example.id}.wav")
            expected = frame_features(audio, example.num_frames, FAMILIES)
            np.testing.assert_allclose(example.features, expected, rtol=1e-6, atol=1e-6)
            speaker_stats[example.speaker].update(example.features)
            if portion == "train":
                train_stats.update(example.features)
    stats = description.normalisation["features"]
    np.testing.assert_allclose(stats["mean"], train_stats.mean(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats["std"], train_stats.std(), rtol=1e-5, atol=1e-5)
    # per speaker: each speaker's own frames, whatever its portion (audio only, no labels)
    by_speaker = description.normalisation["features_by_speaker"]
    assert sorted(by_speaker) == list(SPEAKERS)
    for speaker, own in speaker_stats.items():
        assert by_speaker[speaker]["frames"] == own.count
        np.testing.assert_allclose(by_speaker[speaker]["mean"], own.mean(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(by_speaker[speaker]["std"], own.std(), rtol=1e-5, atol=1e-5)
    assert description.portions["train"]["classes"] == {"anger": 4, "sadness": 4, "neutral": 4}


def test_speaker_normalised_features_have_zero_mean_per_speaker(fold_records):
    fold = fold_records / "fold-01"
    data = make_dataset(fold, "test", sequence_length=None, batch_size=100, shuffle=False,
                        seed=0, features=("features",), speaker_normalise=True)
    batch = next(iter(data))
    frames = batch["features"].numpy()[batch["mask"].numpy()]
    np.testing.assert_allclose(frames.mean(axis=0), 0.0, atol=1e-3)
    std = frames.std(axis=0)
    assert np.all((np.abs(std - 1.0) < 1e-3) | (std < 1e-3))  # constant dims stay constant


def test_balanced_sampling_draws_every_class_equally(fold_records):
    fold = fold_records / "fold-01"
    data = make_dataset(fold, "train", sequence_length=None, batch_size=1, shuffle=True,
                        seed=3, repeat=True, features=("features",), balance_classes=(0, 5))
    labels = [int(b["label"][0]) for b in data.take(400)]
    assert set(labels) == {0, 5} and abs(labels.count(0) - 200) < 40


def test_class_weights_are_inverse_frequencies():
    from types import SimpleNamespace

    description = SimpleNamespace(
        label_names=["a", "b", "c"],
        portion=lambda name: {"classes": {"a": 30, "b": 10}, "examples": 40})
    assert class_weights(description) == pytest.approx([40 / 60, 40 / 20, 0.0])


def test_folds_train_evaluate_and_pool(fold_records, trained, capsys):
    assert sorted(p.name for p in trained.iterdir() if p.is_dir()) == [
        "fold-01", "fold-02", "fold-03", "fold-04"]
    # run.toml at the top reruns every fold; each fold's own reruns that fold
    top = tomllib.loads((trained / "run.toml").read_text())
    fold = tomllib.loads((trained / "fold-02" / "run.toml").read_text())
    assert top["model"] == "conv1d" and top["tfrecords"] == str(fold_records.resolve())
    assert fold == {**top, "tfrecords": str((fold_records / "fold-02").resolve()),
                    "train_dir": str((trained / "fold-02").resolve())}
    assert evaluate.main(["--portion", "test", "--steps", "40", "--train_dir", str(trained),
                          "--tfrecords", str(fold_records), "--device", "-1"]) == 0
    pooled = json.loads((trained / "eval-test-40-pooled.json").read_text())
    assert pooled["files"] == 24 and pooled["folds"] == 4
    assert pooled["uar"] >= 0.9
    per_fold = [json.loads((trained / f / "eval-test-40.json").read_text())
                for f in ("fold-01", "fold-02", "fold-03", "fold-04")]
    assert sum(s["files"] for s in per_fold) == 24
    assert np.array(pooled["confusion"]).sum() == 24
    assert np.array_equal(np.sum([s["confusion"] for s in per_fold], axis=0),
                          pooled["confusion"])
    assert (trained / "eval-test-40-pooled-confusion.png").stat().st_size > 1000
    rows = list(csv.reader((trained / "eval-test-40-pooled-confusion.csv").open()))
    assert rows[0] == ["true", "anger", "boredom", "disgust", "fear", "happiness", "sadness",
                       "neutral"]
    assert "pooled" in capsys.readouterr().out


def test_predict_labels_a_folder_and_skips_a_corrupt_file(trained, tmp_path, capsys):
    rng = np.random.default_rng(11)
    inputs = tmp_path / "new"
    tone(inputs / "loud.wav", 440.0, 0.5, rng)
    tone(inputs / "quiet.flac", 150.0, 0.08, rng)
    (inputs / "broken.wav").write_bytes(b"RIFF but not really audio")
    output = tmp_path / "predictions"
    code = predict.main([str(inputs), "--train_dir", str(trained / "fold-01"),
                         "--output_dir", str(output), "--chunk_seconds", "0.4",
                         "--no_speech_check"])  # steady tones: no speech by design
    assert code == 0
    out = capsys.readouterr().out
    assert "broken.wav: corrupt audio" in out
    rows = {Path(r["path"]).name: r for r in csv.DictReader((output / "predictions.csv").open())}
    assert sorted(rows) == ["loud.wav", "quiet.flac"]
    for row in rows.values():
        probabilities = [float(v) for k, v in row.items() if k.startswith("p_")]
        assert len(probabilities) == 7 and sum(probabilities) == pytest.approx(1.0, abs=1e-5)
        assert int(row["chunks"]) >= 2  # 0.6-1.2 s in chunks of 0.4 s
    assert rows["loud.wav"]["top_class"] == "anger"
    assert rows["quiet.flac"]["top_class"] == "sadness"
    assert (output / "distribution.png").stat().st_size > 1000


def test_predict_needs_some_audio_and_averages_a_train_dir_of_folds(trained, tmp_path, capsys):
    assert predict.main([str(tmp_path), "--train_dir", str(trained / "fold-01")]) == 2
    assert "no audio files found" in capsys.readouterr().err
    tone(tmp_path / "a.wav", 440.0, 0.5, np.random.default_rng(0))
    output = tmp_path / "out"
    assert predict.main([str(tmp_path / "a.wav"), "--train_dir", str(trained),
                         "--output_dir", str(output), "--no_speech_check"]) == 0  # an ensemble
    (row,) = csv.DictReader((output / "predictions.csv").open())
    probabilities = [float(v) for k, v in row.items() if k.startswith("p_")]
    assert len(probabilities) == 7 and abs(sum(probabilities) - 1) < 1e-5


def test_utterance_baseline_with_speaker_normalisation(fold_records, tmp_path):
    fold = fold_records / "fold-02"
    assert train.main(["--tfrecords", str(fold), "--train_dir", str(tmp_path), *SMALL,
                       "--variant", "utterance", "--normalise", "speaker",
                       "--balance", "weights"]) == 0
    assert evaluate.main(["--portion", "test", "--train_dir", str(tmp_path),
                          "--tfrecords", str(fold), "--device", "-1"]) == 0
    scores = json.loads((tmp_path / "eval-test-40.json").read_text())
    assert scores["files"] == 6 and scores["uar"] >= 0.6
    spec = json.loads((tmp_path / "model.json").read_text())
    data, config = spec["data"], spec["config"]
    assert data["speaker_normalise"] is True and data["balance"] == "weights"
    # the reader standardises per speaker, so the model's own standardisation is the identity
    width = config["feature_dim"]
    assert config["feature_mean"] == [0.0] * width and config["feature_std"] == [1.0] * width


def test_random_crops_are_windows_of_the_utterance(fold_records):
    fold = fold_records / "fold-01"
    whole = {b["id"][0].numpy(): b["features"][0].numpy() for b in make_dataset(
        fold, "train", sequence_length=None, batch_size=1, shuffle=False, seed=0,
        features=("features",))}
    crops = make_dataset(fold, "train", sequence_length=None, batch_size=1, shuffle=True,
                         seed=5, repeat=True, features=("features",), crop_frames=8)
    starts = set()
    for batch in crops.take(60):
        crop = batch["features"][0].numpy()
        assert crop.shape[0] == 8 == int(batch["num_frames"][0]) and batch["mask"].numpy().all()
        source = whole[batch["id"][0].numpy()]
        matches = [s for s in range(len(source) - 7) if np.array_equal(source[s:s + 8], crop)]
        assert matches
        starts.add(matches[0])
    assert len(starts) > 5  # windows start at many places
