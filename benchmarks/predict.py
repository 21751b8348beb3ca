#!/usr/bin/env python
"""Real-time factor of `tfemo.predict` on one core for a 60 s file.

Builds a 60 s recording by joining EMO-DB utterances (or the demo corpus's when EMO-DB is
absent), pins the process to one core with one TensorFlow thread, restores a trained
classifier (default: fold 1 of benchmarks/classify.py) and times Predictor.predict on the
file: reading, resampling, framing, features and the model, chunked as the command line does.
Prints the best of --repeats runs after one warm-up, split into input preparation and model.

    python benchmarks/predict.py [--checkpoint checkpoints/emodb-loso/conv1d-train/fold-01]

--memory: peak resident memory of `python -m tfemo.predict` on a long file (default one hour
of 16 kHz noisy tones): writes the file, runs the command in a subprocess and prints the
child's peak RSS (resource.getrusage(RUSAGE_CHILDREN).ru_maxrss). Without --checkpoint it
builds an untrained conv1d train dir reading classify.py's feature families (the weights do
not change the memory); --model text trains a tiny semantic_fusion (audio + word vectors,
with a 6-d vectors file instead of spaCy's) and gives the file a transcript.

    python benchmarks/predict.py --memory [--seconds 3600] [--rate 16000 --channels 1]
    python benchmarks/predict.py --memory --model text [--seconds 600]
"""

from __future__ import annotations

import tfemo.core.quiet  # noqa: F401  (before TensorFlow loads)

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import tensorflow as tf
from one_core import run_on_one_core
from rich.console import Console
from rich.table import Table

from tfemo.audio import FRAME_SECONDS, SAMPLE_RATE
from tfemo.audio.io import load_audio
from tfemo.inference.predictor import Predictor

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)


def sixty_seconds(source: Path, seconds: float) -> np.ndarray:
    """Utterances of `source` joined in name order until `seconds` of audio."""
    pieces, total = [], 0
    for path in sorted(source.rglob("*.wav")):
        audio = load_audio(path)
        pieces.append(audio)
        total += len(audio)
        if total >= seconds * SAMPLE_RATE:
            break
    return np.concatenate(pieces)[: int(seconds * SAMPLE_RATE)]


MEMORY_FEATURES = ("zcr", "rms", "mfcc", "chroma", "mel_db", "contrast", "entropy", "pitch")


def write_long_file(path: Path, seconds: float, rate: int, channels: int) -> None:
    """A long PCM_16 file of noisy tones switching on and off, written minute by minute."""
    rng = np.random.default_rng(0)
    with soundfile.SoundFile(path, "w", rate, channels, "PCM_16") as handle:
        done = 0
        while done < seconds * rate:
            n = int(min(60 * rate, seconds * rate - done))
            t = (done + np.arange(n)) / rate
            tone = 0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 0.3 * t) > 0)
            block = tone[:, None] + 0.02 * rng.standard_normal((n, channels))
            handle.write(block.astype(np.float32))
            done += n


def text_train_dir(folder: Path) -> Path:
    """A tiny semantic_fusion train dir (audio + 6-d word vectors) whose description points at a
    6-d GloVe-style vectors file, so that it runs without spaCy's model (and lists no feature
    families: the records' stand-in family is not one predict computes)."""
    from tests.records_factory import write_synthetic_records
    from tests.serve_models import train_tiny
    from tfemo.records.description import DatasetDescription
    from tfemo.training.run_dir import DESCRIPTION_COPY

    write_synthetic_records(folder / "records", {"train": [40, 50], "devel": [30], "test": [30]})
    train_dir = train_tiny(folder / "records", folder / "text-train", "semantic_fusion")
    vectors = folder / "vectors.txt"
    rng = np.random.default_rng(0)
    vectors.write_text("".join(f"{word} " + " ".join(f"{v:.4f}" for v in rng.normal(size=6))
                               + "\n" for word in TEXT_WORDS))
    description = DatasetDescription.read(train_dir / DESCRIPTION_COPY)
    description.extra["embeddings_option"] = str(vectors)
    description.features = {}  # the model reads audio and words; "synthetic" is no family
    (train_dir / DESCRIPTION_COPY).unlink()
    description.write(train_dir / DESCRIPTION_COPY)
    return train_dir


TEXT_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def memory(args: argparse.Namespace) -> None:
    """Peak RSS of tfemo.predict on one long file, run as the command line does (default flags
    but --chunk_seconds); a text model reads a CSV list with a transcript of 2 words a second."""
    here = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(here))
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        checkpoint = args.checkpoint
        if args.model == "text":
            checkpoint = text_train_dir(folder)
        elif not (checkpoint / "model.json").is_file():
            from tests.predict_factory import write_train_dir

            checkpoint = write_train_dir(folder / "train", "conv1d", MEMORY_FEATURES)
        path = folder / "long.wav"
        write_long_file(path, args.seconds, args.rate, args.channels)
        target = str(path)
        if args.model == "text":
            words = " ".join(TEXT_WORDS[k % len(TEXT_WORDS)] for k in range(int(2 * args.seconds)))
            (folder / "list.csv").write_text(f"path,transcript\nlong.wav,{words}\n")
            target = str(folder / "list.csv")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(here), os.environ.get("PYTHONPATH", "")) if p)}
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "tfemo.predict", target, "--train_dir", str(checkpoint),
             "--output_dir", str(folder / "out"), "--chunk_seconds", str(args.chunk_seconds),
             "--strict", *args.predict_args], env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
    # the largest of the processes run (predict, and a text model's aligner child)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    table = Table(title=f"tfemo.predict on a {args.seconds / 60:.0f} min file "
                        f"({args.rate} Hz, {args.channels} ch), {args.model} model, one core")
    for column in ("peak RSS (MB)", "below 1 GB", "wall seconds", "outcome"):
        table.add_column(column, justify="right")
    outcome = "labelled" if result.returncode == 0 else (result.stderr.strip().splitlines()
                                                         or ["failed"])[-1][:100]
    table.add_row(f"{peak_mb:.0f}", "yes" if peak_mb < 1024 else "NO", f"{seconds:.1f}",
                  outcome)
    Console().print(table)


def main() -> None:
    run_on_one_core(sorted(os.sched_getaffinity(0))[0])
    here = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path,
                        default=Path("checkpoints/emodb-loso/conv1d-train/fold-01"))
    parser.add_argument("--memory", action="store_true",
                        help="measure the peak RSS of tfemo.predict on a long file instead")
    parser.add_argument("--model", choices=("audio", "text"), default="audio",
                        help="--memory: an audio model (conv1d on features) or a model that "
                             "reads words (semantic_fusion; a transcript per file)")
    parser.add_argument("--predict_args", nargs=argparse.REMAINDER, default=[],
                        help="--memory: further flags of tfemo.predict (last on the line)")
    parser.add_argument("--rate", type=int, default=SAMPLE_RATE, help="--memory: sample rate")
    parser.add_argument("--channels", type=int, default=1, help="--memory: channels")
    parser.add_argument("--audio_dir", type=Path, default=here.parent / "shared/data/emodb/wav")
    parser.add_argument("--seconds", type=float, default=None,
                        help="file length (default 60, with --memory 3600)")
    parser.add_argument("--chunk_seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.memory:
        args.seconds = args.seconds or 3600.0
        memory(args)
        return
    args.seconds = args.seconds or 60.0
    source = args.audio_dir
    if not source.is_dir():
        from tfemo.corpora.demo import ensure_demo_corpus

        source = ensure_demo_corpus()
    audio = sixty_seconds(source, args.seconds)
    predictor = Predictor(args.checkpoint, chunk_frames=round(args.chunk_seconds / FRAME_SECONDS))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sixty.wav"
        soundfile.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
        predictor.predict(path)  # warm-up: traces the model
        best = None
        for _ in range(args.repeats):
            started = time.perf_counter()
            inputs = predictor.inputs(path)
            prepared = time.perf_counter()
            predictor.run(path, inputs)
            timing = (prepared - started, time.perf_counter() - prepared)
            best = timing if best is None or sum(timing) < sum(best) else best
    seconds = len(audio) / SAMPLE_RATE
    table = Table(title=f"tfemo.predict on a {seconds:.0f} s file, one core "
                        f"({predictor.checkpoint})")
    for column in ("stage", "seconds", "real-time factor", "x real time"):
        table.add_column(column, justify="right")
    for name, value in (("read + features", best[0]), ("model", best[1]),
                        ("total", sum(best))):
        table.add_row(name, f"{value:.3f}", f"{value / seconds:.4f}", f"{seconds / value:.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
