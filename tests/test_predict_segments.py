"""python -m tfemo.predict --segments: one row per speech segment or window, a timeline per
file, the regressor's traces marked speech or not, and no segment (no_speech) for silence and
noise. Models from tests/predict_factory.py (seeded, untrained: prediction needs no training)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.predict_factory import write_train_dir
from tests.vad_audio import RATE, recording
from tfemo import predict
from tfemo.audio.vad import Vad, speech_mask
from tfemo.inference.predictor import Predictor
from tfemo.inference.segments import SegmentMode, windows


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, list[tuple[float, float]]]:
    """talk.wav (four espeak sentences at known times), noise.wav and silence.wav."""
    folder = tmp_path_factory.mktemp("segments-in")
    audio, truth = recording()
    soundfile.write(folder / "talk.wav", audio, RATE, subtype="PCM_16")
    rng = np.random.default_rng(5)
    soundfile.write(folder / "noise.wav", (0.05 * rng.standard_normal(8 * RATE)).astype(
        np.float32), RATE, subtype="PCM_16")
    soundfile.write(folder / "silence.wav", np.zeros(5 * RATE, np.float32), RATE,
                    subtype="PCM_16")
    return folder, truth


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("segments-models")
    return {"classifier": write_train_dir(base / "conv1d"),
            "regressor": write_train_dir(base / "gru", model="gru_regressor")}


def _rows(path: Path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def _run(model: Path, folder: Path, output: Path, segments: str) -> dict[str, list[dict]]:
    assert predict.main([str(folder), "--checkpoint", str(model), "--output_dir", str(output),
                         "--segments", segments]) == 0
    found: dict[str, list[dict]] = {"talk": [], "noise": [], "silence": []}
    for row in _rows(output / "segments.csv"):
        found[Path(row["path"]).stem].append(row)
    for name in found:  # a legible timeline per file
        assert (output / "timelines" / f"{name}.png").stat().st_size > 10_000
    return found


def test_a_classifier_labels_each_speech_segment(models, inputs, tmp_path):
    folder, truth = inputs
    found = _run(models["classifier"], folder, tmp_path, "vad")
    talk = found["talk"]
    assert len(talk) == len(truth) and not found["noise"] and not found["silence"]
    predictor = Predictor(models["classifier"], speech_check=False)
    audio = soundfile.read(folder / "talk.wav", dtype="float32")[0]
    names = predictor.label_names
    spans = []
    for row, (true_start, true_end) in zip(talk, truth, strict=True):
        start, end = float(row["start"]), float(row["end"])
        assert abs(start - true_start) <= 0.4 and abs(end - true_end) <= 0.4
        piece = audio[int(start * RATE):int(end * RATE)]
        expected = predictor.predict_audio(piece, "piece").probabilities
        got = np.array([float(row[f"p_{n}"]) for n in names])
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        assert row["top_class"] == names[int(np.argmax(expected))] and row["speech"] == "1"
        spans.append(end - start)
    files = {Path(r["path"]).stem: r for r in _rows(tmp_path / "predictions.csv")}
    assert files["talk"]["no_speech"] == "False" and files["talk"]["top_class"]
    for name in ("noise", "silence"):  # no segment: no class, never a crash
        assert files[name]["no_speech"] == "True" and files[name]["top_class"] == ""
    segment_p = np.array([[float(r[f"p_{n}"]) for n in names] for r in talk])
    whole = np.array([float(files["talk"][f"p_{n}"]) for n in names])
    frames = [len(predictor.inputs_from_audio(audio[int(float(r["start"]) * RATE):
                                                     int(float(r["end"]) * RATE)], "x")["audio"])
              for r in talk]
    np.testing.assert_allclose(whole, np.average(segment_p, axis=0, weights=frames),
                               rtol=1e-5, atol=1e-6)


def test_windows_cover_the_recording_and_say_how_much_is_speech(models, inputs, tmp_path):
    folder, truth = inputs
    found = _run(models["classifier"], folder, tmp_path, "window:2.5")
    talk = found["talk"]
    seconds = soundfile.info(folder / "talk.wav").duration
    assert [(float(r["start"]), float(r["end"])) for r in talk] == windows(seconds, 2.5)
    assert float(talk[-1]["end"]) == pytest.approx(seconds, abs=1e-3)
    assert talk[0]["no_speech"] == "False"  # 0-2.5 s holds the start of the first sentence
    assert 0 < float(talk[0]["speech"]) < 1
    assert all(r["no_speech"] == "True" and r["top_class"] == "" and float(r["speech"]) == 0
               for r in found["silence"])
    assert len(found["silence"]) == 2  # 5 s in windows of 2.5 s


def test_a_regressor_keeps_its_trace_and_marks_the_frames_without_speech(models, inputs,
                                                                         tmp_path):
    folder, truth = inputs
    found = _run(models["regressor"], folder, tmp_path / "seg", "vad")
    assert predict.main([str(folder / "talk.wav"), "--checkpoint", str(models["regressor"]),
                         "--output_dir", str(tmp_path / "plain")]) == 0
    trace = np.loadtxt(tmp_path / "seg" / "traces" / "talk.csv", delimiter=",", skiprows=1)
    header = (tmp_path / "seg" / "traces" / "talk.csv").read_text().splitlines()[0]
    assert header == "time,arousal,valence,speech"
    plain = np.loadtxt(tmp_path / "plain" / "traces" / "talk.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(trace[:, :3], plain, rtol=1e-5, atol=1e-6)  # the same trace
    segments = [(float(r["start"]), float(r["end"])) for r in found["talk"]]
    assert len(segments) == len(truth)
    audio = soundfile.read(folder / "talk.wav", dtype="float32")[0]
    assert segments == Vad().segments(audio)
    np.testing.assert_array_equal(trace[:, 3], speech_mask(segments, len(trace)).astype(int))
    assert 0.2 < trace[:, 3].mean() < 0.9
    for row, (start, end) in zip(found["talk"], segments, strict=True):
        rows = trace[int(start / 0.04):int(np.ceil(end / 0.04)), 1:3]
        assert float(row["mean_arousal"]) == pytest.approx(rows[:, 0].mean(), abs=1e-5)
        assert float(row["mean_valence"]) == pytest.approx(rows[:, 1].mean(), abs=1e-5)
    quiet = np.loadtxt(tmp_path / "seg" / "traces" / "noise.csv", delimiter=",", skiprows=1)
    assert not quiet[:, 3].any() and not found["noise"]


def test_a_bad_segments_value_is_a_one_line_error(models, inputs, tmp_path, capsys):
    folder, _ = inputs
    for value in ("window:0", "window:x", "speech"):
        assert predict.main([str(folder), "--checkpoint", str(models["classifier"]),
                             "--output_dir", str(tmp_path), "--segments", value]) == 2
    assert SegmentMode.parse("none") is None
    assert SegmentMode.parse("window:1.5") == SegmentMode("window", 1.5)
    assert len(capsys.readouterr().err.strip().splitlines()) == 3


def _long_quiet(path: Path, seconds: int, block: int = 60, seed: int = 7) -> Path:
    """`seconds` of alternating blocks of silence, white noise and brown noise (16-bit WAV),
    written block by block."""
    rng = np.random.default_rng(seed)
    with soundfile.SoundFile(path, "w", RATE, 1, subtype="PCM_16") as out:
        for start in range(0, seconds, block):
            size = min(block, seconds - start) * RATE
            kind = start // block % 3
            piece = (np.zeros(size) if kind == 0 else 0.05 * rng.standard_normal(size)
                     if kind == 1 else np.cumsum(rng.standard_normal(size)) * 1e-3)
            if kind == 2:
                piece = np.clip(piece - np.convolve(piece, np.ones(801) / 801, "same"), -1, 1)
            out.write(piece.astype(np.float32))
    return path


@pytest.mark.slow  # an hour of audio through the VAD (about a minute)
def test_an_hour_of_silence_and_noise_gives_no_segments(models, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _long_quiet(folder / "hour.wav", 3600)
    assert predict.main([str(folder), "--checkpoint", str(models["classifier"]),
                         "--output_dir", str(tmp_path / "out"), "--segments", "vad"]) == 0
    assert _rows(tmp_path / "out" / "segments.csv") == []
    row = _rows(tmp_path / "out" / "predictions.csv")[0]
    assert row["no_speech"] == "True" and row["top_class"] == ""
    assert float(row["seconds"]) == pytest.approx(3600, abs=0.05)
    assert (tmp_path / "out" / "timelines" / "hour.png").exists()


def test_silence_and_noise_have_no_speech_with_or_without_segments(models, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _long_quiet(folder / "quiet.wav", 45, block=15)
    for extra in ([], ["--segments", "vad"]):
        output = tmp_path / f"out{len(extra)}"
        assert predict.main([str(folder), "--checkpoint", str(models["classifier"]),
                             "--output_dir", str(output), *extra]) == 0
        row = _rows(output / "predictions.csv")[0]
        assert row["no_speech"] == "True" and row["top_class"] == ""
