"""Tiny trained models whose inputs tfemo can compute from audio, for export and service tests.

Records are written directly (no corpus reader): each example is a tone whose loudness follows
its arousal (regressor) or its class (classifier), framed and featurised with the code that
writes real records (tfemo.audio.io, tfemo.records.example.frame_features), so the Predictor
can rebuild the same inputs from any audio file. Training runs tfemo.train for a few steps.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile

from tfemo import train
from tfemo.audio.features import feature_dims
from tfemo.audio.io import to_pcm_frames
from tfemo.records.description import DatasetDescription, RunningStats
from tfemo.records.example import frame_features
from tfemo.records.schema import ExampleArrays, serialize
from tfemo.records.writer import shard_path, write_shard

FAMILIES = ("rms", "zcr", "mfcc")
CLASSES = ("anger", "neutral", "sadness")
TONES = {"anger": (440.0, 0.5), "neutral": (250.0, 0.2), "sadness": (150.0, 0.05)}
PORTIONS = {"train": 6, "devel": 2, "test": 2}


def tone_audio(rng: np.random.Generator, hertz: float, amplitude, seconds: float) -> np.ndarray:
    """A noisy tone; `amplitude` is a number or a per-sample envelope."""
    t = np.arange(int(seconds * 16000)) / 16000
    return (amplitude * np.sin(2 * np.pi * hertz * t)
            + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def write_tone(path: Path, audio: np.ndarray) -> Path:
    """A 16-bit WAV file of float audio."""
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, audio, 16000, subtype="PCM_16")
    return path


def _example(rng, task: str, index: int, portion: str,
             families: tuple[str, ...]) -> tuple[ExampleArrays, np.ndarray]:
    if task == "categorical":
        name = CLASSES[index % len(CLASSES)]
        hertz, amplitude = TONES[name]
        audio = tone_audio(rng, hertz, amplitude, rng.uniform(0.6, 1.0))
        labels, label = None, CLASSES.index(name)
    else:
        seconds = rng.uniform(1.0, 1.6)
        frames = int(np.ceil(seconds / 0.04))
        arousal = np.repeat(rng.uniform(-0.8, 0.8, size=(frames + 9) // 10), 10)[:frames]
        envelope = np.repeat(0.05 + 0.2 * (arousal + 1), 640)[: int(seconds * 16000)]
        audio = tone_audio(rng, 220.0, envelope, seconds)
        valence = -arousal / 2
        labels, label = np.stack([arousal, valence], 1).astype(np.float32), -1
    pcm = to_pcm_frames(audio)
    features = frame_features(audio, len(pcm), families)
    if labels is not None:
        labels = labels[: len(pcm)]
        labels = np.pad(labels, ((0, len(pcm) - len(labels)), (0, 0)), mode="edge")
    example = ExampleArrays(id=f"{portion}{index:02d}", speaker=f"{portion}{index % 2}",
                            corpus="tones", portion=portion, sample_rate=16000, audio=pcm,
                            labels=labels, label=label, features=features)
    return example, audio


def write_tone_records(folder: Path, task: str, seed: int = 0,
                       families: tuple[str, ...] = FAMILIES) -> DatasetDescription:
    """Records of tones (continuous: arousal/valence traces; categorical: three classes)."""
    rng = np.random.default_rng(seed)
    portions, features_stats, audio_stats = {}, None, None
    for portion, count in PORTIONS.items():
        built = [_example(rng, task, k, portion, families) for k in range(count)]
        examples = [e for e, _ in built]
        path = shard_path(folder, portion, "tones", 0, 1)
        write_shard([serialize(e) for e in examples], path)
        frames = sum(len(e.audio) for e in examples)
        entry = {"examples": count, "frames": frames, "seconds": frames * 0.04,
                 "files": [path.name]}
        if task == "categorical":
            entry["classes"] = {c: sum(e.label == i for e in examples)
                                for i, c in enumerate(CLASSES)}
        portions[portion] = entry
        if portion == "train":
            for example, audio in built:
                stats = RunningStats.of(example.features)
                features_stats = stats if features_stats is None else features_stats.merge(stats)
                one = RunningStats.of(audio.reshape(-1, 1))
                audio_stats = one if audio_stats is None else audio_stats.merge(one)
    description = DatasetDescription(
        name=f"tones-{task}", task=task, sample_rate=16000, frame_length=640,
        frame_seconds=0.04, corpus="tones",
        features=list(feature_dims(families).items()),
        label_names=list(CLASSES) if task == "categorical" else ["arousal", "valence"],
        portions=portions,
        normalisation={"fit_on": "train",
                       "audio": {"mean": float(audio_stats.mean()[0]),
                                 "std": float(audio_stats.std()[0])},
                       "features": {"mean": features_stats.mean().tolist(),
                                    "std": features_stats.std().tolist()}})
    description.write(folder)
    return description


def train_tiny(records: Path, train_dir: Path, model: str, *extra: str) -> Path:
    """A few steps of tfemo.train with small sizes; returns the train dir."""
    assert train.main(["--tfrecords", str(records), "--train_dir", str(train_dir),
                       "--model", model, "--hidden", "8", "--batch_size", "2",
                       "--sequence_length", "20", "--max_steps", "4",
                       "--save_interval_secs", "0", "--verbose", "0", "--device", "-1",
                       *extra]) == 0
    return train_dir


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(process: subprocess.Popen, port: int, seconds: float) -> bool:
    """Poll 127.0.0.1:port/healthz until it answers (True), the process exits or time is up."""
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            time.sleep(0.3)
    return False


def start_server(model: Path, port: int, *extra: str) -> subprocess.Popen:
    """`python -m tfemo.serve` on 127.0.0.1:port, once /healthz answers (90 s at most)."""
    repo = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "tfemo.serve", "--export_dir", str(model), "--port", str(port),
         "--log_level", "warning", *extra],
        cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(repo)})
    if wait_until_healthy(process, port, 90):
        return process
    if process.poll() is not None:
        raise AssertionError(process.stdout.read().decode())
    process.kill()
    raise AssertionError("the server did not come up in 90 s")


def stop_server(process: subprocess.Popen) -> None:
    """Terminate the server (kill it after 20 s)."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
