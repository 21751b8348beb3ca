"""Temperature scaling (fit on devel, saved, applied by eval and predict), NLL/ECE, and the
no_speech flag for silence and steady tones."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.test_classifier_pipeline import fold_records, tonal_emodb, tone  # noqa: F401
from tfemo import eval as evaluate
from tfemo import predict, train
from tfemo.audio.speech import MIN_PITCH_RANGE, MIN_VOICED_FRACTION, speech_activity
from tfemo.inference.predictor import Predictor
from tfemo.scoring.calibration import apply_temperature, ece, fit_temperature, nll
from tfemo.training.temperature import read_temperature

RATE = 16000


def speech_like(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """Voiced harmonics with an intonation contour (120-200 Hz) and 4 Hz syllables."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 160 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 8))
    syllables = np.clip(np.sin(2 * np.pi * 4 * t), 0, None)
    return (0.2 * voice * syllables + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def test_temperature_recovers_a_known_softening():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4000, 5)) * 3
    true_p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(5, p=p) for p in true_p])
    sharpened = apply_temperature(true_p, 0.5)  # over-confident by a factor 2 in the logits
    assert fit_temperature(sharpened, labels) == pytest.approx(2.0, rel=0.1)
    assert ece(apply_temperature(sharpened, 2.0), labels) < ece(sharpened, labels)
    assert nll(apply_temperature(sharpened, 2.0), labels) < nll(sharpened, labels)
    np.testing.assert_array_equal(apply_temperature(sharpened, 2.0).argmax(1),
                                  sharpened.argmax(1))


def test_ece_of_perfect_and_overconfident_predictions():
    labels = np.array([0, 1, 0, 1])
    assert ece(np.eye(2)[labels], labels) == 0.0
    wrong = np.eye(2)[1 - labels] * 0.98 + 0.01
    assert ece(wrong, labels) == pytest.approx(0.99)


def test_silence_noise_and_a_sine_have_no_speech_but_speech_like_audio_has():
    t = np.arange(10 * RATE) / RATE
    noise = 0.1 * np.random.default_rng(1).standard_normal(len(t))
    for audio in (np.zeros(10 * RATE), 0.3 * np.sin(2 * np.pi * 200 * t), noise):
        assert speech_activity(audio).no_speech
    activity = speech_activity(speech_like())
    assert activity.voiced_fraction > MIN_VOICED_FRACTION
    assert activity.pitch_range > MIN_PITCH_RANGE and not activity.no_speech


@pytest.fixture(scope="module")
def calibrated(fold_records, tmp_path_factory) -> Path:  # noqa: F811
    """logreg trained on fold-01's train speakers, temperature fit on its devel speaker."""
    train_dir = tmp_path_factory.mktemp("calibrated")
    fold = fold_records / "fold-01"
    assert train.main(["--model", "logreg", "--tfrecords", str(fold), "--train_dir",
                       str(train_dir), "--max_steps", "1", "--device", "-1"]) == 0
    assert evaluate.main(["--portion", "devel", "--calibrate", "--train_dir", str(train_dir),
                          "--tfrecords", str(fold), "--device", "-1"]) == 0
    return train_dir


@pytest.mark.slow  # trains and calibrates a model first
def test_eval_fits_saves_and_reports_the_temperature(calibrated, fold_records):  # noqa: F811
    temperature = read_temperature(calibrated, "fitted")
    assert temperature is not None and 0.05 <= temperature <= 20
    devel = json.loads((calibrated / "eval-devel-fitted.json").read_text())["calibration"]
    assert devel["temperature"] == temperature
    assert devel["nll_calibrated"] <= devel["nll"] + 1e-9  # T minimises the devel NLL
    assert evaluate.main(["--portion", "test", "--train_dir", str(calibrated),
                          "--tfrecords", str(fold_records / "fold-01"), "--device", "-1"]) == 0
    test = json.loads((calibrated / "eval-test-fitted.json").read_text())["calibration"]
    assert set(test) == {"nll", "ece", "temperature", "nll_calibrated", "ece_calibrated"}
    assert "ece_calibrated" in (calibrated / "log_eval.txt").read_text()


@pytest.mark.slow  # trains and calibrates a model first
def test_predict_calibrates_and_flags_files_without_speech(calibrated, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    t = np.arange(10 * RATE) / RATE
    soundfile.write(inputs / "silence.wav", np.zeros(10 * RATE, np.float32), RATE)
    soundfile.write(inputs / "sine.wav", (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32),
                    RATE)
    soundfile.write(inputs / "speech.wav", speech_like(), RATE)
    output = tmp_path / "out"
    assert predict.main([str(inputs), "--train_dir", str(calibrated), "--output_dir",
                         str(output)]) == 0
    rows = {Path(r["path"]).stem: r for r in csv.DictReader((output / "predictions.csv").open())}
    for name in ("silence", "sine"):
        assert rows[name]["no_speech"] == "True" and rows[name]["top_class"] == ""
    assert rows["speech"]["no_speech"] == "False" and rows["speech"]["top_class"]
    assert {row["calibrated"] for row in rows.values()} == {"True"}  # the p_* columns say so
    predictor = Predictor(calibrated)
    result = predictor.predict(inputs / "speech.wav")
    raw = predictor.model.predict_batch({k: v[None] for k, v in predictor.inputs(
        inputs / "speech.wav").items()})[0]
    np.testing.assert_allclose(result.probabilities,
                               apply_temperature(raw, predictor.temperature), atol=1e-5)
    probabilities = [float(v) for k, v in rows["speech"].items() if k.startswith("p_")]
    np.testing.assert_allclose(probabilities, result.probabilities, atol=1e-5)
