"""Outputs that say what they are: predictions.csv's calibrated / no_speech / far_from_training
columns, the warnings (inputs far from the training statistics, labels collapsed onto one
class), and plots whose text fits inside them."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile
from matplotlib.backends.backend_agg import FigureCanvasAgg

from tests.test_calibration import speech_like
from tests.test_predict import audio_files, classifier, regressor  # noqa: F401
from tfemo import predict
from tfemo.core.reports import arousal_valence_figure, distribution_figure
from tfemo.inference.input_range import FEATURE_SD, LEVEL_FACTOR, InputRange
from tfemo.inference.outputs import prediction_warnings
from tfemo.inference.predictor import QUADRANTS, FileResult

RATE = 16000


def _text_boxes(figure) -> list:
    """The drawn extents of the title, axis labels and tick labels of every axes."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    texts = []
    for axes in figure.axes:
        (x0, x1), (y0, y1) = sorted(axes.get_xlim()), sorted(axes.get_ylim())
        texts += [axes.title, axes.xaxis.label, axes.yaxis.label]
        # tick labels of ticks inside the view (matplotlib keeps, and does not draw, others)
        texts += [t for t in axes.get_xticklabels() if x0 <= t.get_position()[0] <= x1]
        texts += [t for t in axes.get_yticklabels() if y0 <= t.get_position()[1] <= y1]
    return [t.get_window_extent(renderer) for t in texts if t.get_visible() and t.get_text()]


def _inside(box, figure) -> bool:
    width, height = figure.canvas.get_width_height()
    return box.x0 >= -0.5 and box.y0 >= -0.5 and box.x1 <= width + 0.5 and box.y1 <= height + 0.5


@pytest.mark.parametrize("names", [list(QUADRANTS.values()),
                                   ["neutral", "happy", "sad", "angry", "fearful", "disgust",
                                    "surprised", "calm", "no_speech"]])
def test_the_distribution_plot_keeps_its_title_and_labels_whole_and_apart(names):
    counts = {name: 3 * k + 1 for k, name in enumerate(names)}
    figure = distribution_figure(counts, "arousal-valence quadrant of 1234 files")
    boxes = _text_boxes(figure)
    assert all(_inside(box, figure) for box in boxes), "text clipped at the figure's edge"
    axes = figure.axes[0]
    labels = [t for t in axes.get_yticklabels() if t.get_text()]
    assert [t.get_text() for t in labels] == names and {t.get_rotation() for t in labels} == {0}
    extents = [t.get_window_extent() for t in labels]
    for above, below in zip(extents, extents[1:], strict=False):
        assert not above.overlaps(below), "class labels drawn over each other"
    title = axes.title.get_window_extent()
    assert not any(t.get_window_extent().overlaps(title) for t in axes.texts), \
        "a count drawn over the title"
    width, height = figure.canvas.get_width_height()
    plot = axes.get_window_extent()
    assert plot.width * plot.height >= 0.4 * width * height, "the bars squashed by the labels"


def test_the_arousal_valence_scatter_places_each_file_in_its_quadrant():
    points = [("calm", -0.4, 0.5), ("angry", 0.7, -0.6), ("far", 1.8, 0.1)]
    figure = arousal_valence_figure(points, "mean arousal and valence of 3 files")
    assert all(_inside(box, figure) for box in _text_boxes(figure))
    axes = figure.axes[0]
    offsets = axes.collections[0].get_offsets()
    np.testing.assert_allclose(offsets, [[0.5, -0.4], [-0.6, 0.7], [0.1, 1.8]])  # (v, a)
    assert axes.get_ylim()[1] >= 1.8 and axes.get_xlim() == axes.get_ylim()


def test_input_range_names_a_level_or_features_far_from_training():
    normalisation = {"audio": {"mean": 0.0, "std": 0.1},
                     "features": {"mean": [0.0, 10.0], "std": [1.0, 2.0]}}
    rng = np.random.default_rng(0)

    def verdict(level: float, shift: float) -> str:
        seen = InputRange()
        audio = (level * rng.standard_normal((50, 640))).astype(np.float32)
        features = np.array([0.0, 10.0]) + shift * np.array([1.0, 2.0]) + 0.1 * (
            rng.standard_normal((50, 2)))
        seen.add({"audio": audio, "features": features}, raw_features=True)
        return seen.verdict(normalisation)

    assert verdict(0.1, 0.0) == ""
    assert verdict(0.1, FEATURE_SD * 0.5) == ""
    assert verdict(0.1 * LEVEL_FACTOR * 2, 0.0) == "40x louder than the training audio"
    assert verdict(0.1 / (LEVEL_FACTOR * 5), 0.0) == "100x quieter than the training audio"
    assert verdict(0.1, FEATURE_SD * 2).startswith("features 6.0 SD from the training means")
    standardised = InputRange()  # per-file standardised features say nothing about training
    standardised.add({"audio": np.full((5, 640), 0.1, np.float32),
                      "features": np.full((5, 2), 50.0)}, raw_features=False)
    assert standardised.verdict(normalisation) == ""


def _result(name: str, probabilities: list[float], no_speech: bool = False,
            far: str = "") -> FileResult:
    return FileResult(Path(name), 1.0, 25, 1, probabilities=np.array(probabilities),
                      no_speech=no_speech, far_from_training=far)


def test_warnings_for_collapsed_labels_and_inputs_far_from_training():
    predictor = SimpleNamespace(categorical=True, label_names=("happy", "sad", "angry"))
    collapsed = [_result(f"{k}.wav", [0.2, 0.7, 0.1]) for k in range(6)]
    collapsed.append(_result("quiet.wav", [0.9, 0.05, 0.05], no_speech=True))
    warnings = prediction_warnings(predictor, collapsed)
    assert len(warnings) == 1 and warnings[0].startswith("6 of 6 files are labelled sad")
    varied = collapsed[:4] + [_result("x.wav", [0.6, 0.3, 0.1]),
                              _result("y.wav", [0.1, 0.3, 0.6], far="40x louder than the "
                                                                   "training audio")]
    assert prediction_warnings(predictor, varied) == [
        "y.wav: 40x louder than the training audio; its labels may mean little"]
    assert prediction_warnings(predictor, collapsed[:4]) == []  # too few files to say


def _sweep(seconds: float, loudness: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (loudness * np.sin(2 * np.pi * (150.0 + 150.0 * t / seconds) * t)).astype(np.float32)


@pytest.mark.slow  # trains a model first
def test_a_regressor_flags_no_speech_and_far_inputs_and_plots_the_plane(
        regressor, tmp_path, capsys):  # noqa: F811
    inputs = tmp_path / "in"
    inputs.mkdir()
    soundfile.write(inputs / "silence.wav", np.zeros(2 * RATE, np.float32), RATE)
    soundfile.write(inputs / "speech.wav", speech_like(), RATE)
    soundfile.write(inputs / "whisper.wav", speech_like() / 400, RATE)
    output = tmp_path / "out"
    # Praat's voicing (relative to the file's own peak) hears the whisper; a VAD would not
    assert predict.main([str(inputs), "--train_dir", str(regressor), "--output_dir",
                         str(output), "--vad", "praat"]) == 0
    rows = {Path(r["path"]).stem: r for r in csv.DictReader((output / "predictions.csv").open())}
    assert rows["silence"]["no_speech"] == "True" and rows["silence"]["quadrant"] == ""
    assert rows["whisper"]["no_speech"] == "False"
    assert rows["speech"]["no_speech"] == "False" and rows["speech"]["quadrant"] in (
        QUADRANTS.values())
    assert rows["speech"]["far_from_training"] == ""
    assert "quieter than the training audio" in rows["whisper"]["far_from_training"]
    assert "calibrated" not in rows["speech"]  # a regressor has no probabilities
    assert (output / "arousal_valence.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert f"warning: {inputs / 'whisper.wav'}: " in out
    # the check can be switched off: every file then gets a quadrant
    assert predict.main([str(inputs / "silence.wav"), "--train_dir", str(regressor),
                         "--output_dir", str(tmp_path / "all"), "--no_speech_check"]) == 0
    row = next(csv.DictReader((tmp_path / "all" / "predictions.csv").open()))
    assert row["no_speech"] == "False" and row["quadrant"] in QUADRANTS.values()


@pytest.mark.slow  # trains a model first
def test_an_uncalibrated_classifier_says_so_in_every_row(classifier, audio_files,  # noqa: F811
                                                         tmp_path):
    inputs, _ = audio_files
    assert predict.main([str(inputs), "--train_dir", str(classifier), "--output_dir",
                         str(tmp_path), "--no_speech_check"]) == 0
    rows = list(csv.DictReader((tmp_path / "predictions.csv").open()))
    assert rows and {row["calibrated"] for row in rows} == {"False"}
    assert not (tmp_path / "arousal_valence.png").exists()
