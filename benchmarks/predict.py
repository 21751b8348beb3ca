#!/usr/bin/env python
"""Real-time factor of `tfemo.predict` on one core for a 60 s file.

Builds a 60 s recording by joining EMO-DB utterances (or the demo corpus's when EMO-DB is
absent), pins the process to one core with one TensorFlow thread, restores a trained
classifier (default: fold 1 of benchmarks/classify.py) and times Predictor.predict on the
file: reading, resampling, framing, features and the model, chunked as the command line does.
Prints the best of --repeats runs after one warm-up, split into input preparation and model.

    python benchmarks/predict.py [--checkpoint checkpoints/emodb-loso/conv1d-train/fold-01]

--memory: peak memory of `python -m tfemo.predict` (default flags) on long files of 16 kHz
noisy tones, per model and length, in a table: the largest process (the highest VmHWM of
predict or of any process it starts: the aligner's forkserver and its children) and the whole
tree at once (the highest sum in one 20 ms sample of their resident memory, the pages an
aligner child shares with the forkserver it was forked from counted once), and whether both
stay below 1000 MB. The models need no training (the weights do not change the memory): a conv1d on
classify.py's feature families (or --checkpoint), and a semantic_fusion with its default sizes
(raw audio + 6-d word vectors from a small vectors file instead of spaCy's) on a file of
espeak-ng sentences with pauses (~2.5 words a second), given its transcript in a CSV list
(aligned with aeneas, as predict does by default). --baseline adds a row per model by the paths
of before (main, 2026-12-07): the audio model on 10 minutes, the longest file featurised whole
then, and the text model on the shortest length (featurised whole, one aligner call, no steps).

    python benchmarks/predict.py --memory [--model both] [--lengths 600,3600] [--baseline]
"""

from __future__ import annotations

import tfemo.core.quiet  # noqa: F401  (before TensorFlow loads)

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import threading
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


SENTENCES = (
    "Kids are talking by the door every evening.", "Please bring the blue bottle back home.",
    "We should leave now, before it starts raining.", "The old man walked slowly across the field.",
    "Nobody knew what had happened to the red car.", "She opened the window and looked at the sea.",
    "Tomorrow we will visit our friends at home.", "A small dog was barking at the postman again.",
)


def write_long_speech(path: Path, seconds: float) -> str:
    """A long 16 kHz PCM_16 file of espeak-ng sentences (150-220 words/min) with 0.2-1.2 s
    pauses and faint noise, cycling through SENTENCES; its transcript."""
    from scipy.signal import resample_poly

    from tfemo.audio.espeak import synthesize

    rng = np.random.default_rng(0)
    spoken = []
    for k, text in enumerate(SENTENCES):
        samples = synthesize(text, voice="en-us", rate=150 + 10 * k).samples / 32768.0
        pause = np.zeros(int(rng.uniform(0.2, 1.2) * SAMPLE_RATE))
        spoken.append((text, np.concatenate([resample_poly(samples, 320, 441), pause])))
    words, done = [], 0
    with soundfile.SoundFile(path, "w", SAMPLE_RATE, 1, "PCM_16") as handle:
        while done < seconds * SAMPLE_RATE:  # whole sentences: the file may run a few s over
            text, audio = spoken[len(words) % len(spoken)]
            handle.write((audio + 0.001 * rng.standard_normal(len(audio))).astype(np.float32))
            words.append(text)
            done += len(audio)
    return " ".join(words)


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


BEFORE = """
import runpy, sys
import tfemo.audio.features as features
import tfemo.inference.predictor as predictor
import tfemo.text.piecewise_alignment as piecewise
original = predictor.Predictor.__init__
def as_before(self, *args, **options):
    options.update(stream_frames={stream_frames}, step_frames=10 ** 9)
    original(self, *args, **options)
    self.stream_seconds = self.stream_frames * self.description.frame_seconds
predictor.Predictor.__init__ = as_before
predictor.Predictor.stream_seconds = None  # a plain attribute, set above
features.SPECTRAL_BLOCK = 10 ** 9
piecewise.WINDOW_SECONDS = 10.0 ** 9
sys.argv = ["tfemo.predict", *sys.argv[1:]]
runpy.run_module("tfemo.predict", run_name="__main__")
"""  # the paths of before (main, 2026-12-07): files up to 10 minutes featurised whole (a model
# that reads words: any length), one aligner call per file, no steps, the STFT held whole
BASELINES = {"audio": (600.0, 15_000), "text": (None, 10 ** 9)}  # (seconds, stream_frames)


def _tree(root: int) -> list[tuple[int, int]]:
    """(pid, depth) of `root` (depth 0) and its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [(root, 0)]
    while todo:
        pid, depth = todo.pop()
        found.append((pid, depth))
        todo += [(child, depth + 1) for child in children.get(pid, [])]
    return found


def _status_kb(pid: int, field: str, name: str = "status") -> int:
    try:
        with open(f"/proc/{pid}/{name}") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measured_run(command: list[str], env: dict) -> tuple[int, float, float, float, str]:
    """Run `command`; (exit code, seconds, peak MB of its largest process, peak MB of its
    whole process tree at once, outcome). Every process's own peak is its VmHWM, read every
    20 ms while it lives; the tree's is the largest sum in one sample of the RSS of predict and
    of the processes it starts (the aligner's forkserver) and the private memory of the
    processes forked from those (the aligner children: their shared pages are the
    forkserver's, already counted)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    largest, together, done = {}, [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss = 0
            for pid, depth in _tree(process.pid):
                largest[pid] = max(largest.get(pid, 0), _status_kb(pid, "VmHWM"))
                if depth < 2:  # predict, and the processes it starts (the forkserver)
                    rss += _status_kb(pid, "VmRSS")
                else:  # forked from one of those: its shared pages are its parent's
                    rss += (_status_kb(pid, "Private_Clean", "smaps_rollup")
                            + _status_kb(pid, "Private_Dirty", "smaps_rollup"))
            together[0] = max(together[0], rss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    done.set()
    sampler.join()
    seconds = time.perf_counter() - started
    outcome = "labelled" if process.returncode == 0 else (err.strip().splitlines()
                                                          or ["failed"])[-1][:80]
    return (process.returncode, seconds, max(largest.values(), default=0) / 1024,
            together[0] / 1024, outcome)


def memory(args: argparse.Namespace) -> None:
    """Peak memory of tfemo.predict (default flags) on long files, per model and length: a
    conv1d on classify.py's feature families, and a semantic_fusion (raw audio + word
    vectors, its default sizes, a 6-d vectors file instead of spaCy's) given a transcript of
    its transcript in a CSV list; optionally a baseline row per model: the paths of before."""
    here = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(here))
    from tests.predict_factory import write_train_dir

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(here), os.environ.get("PYTHONPATH", "")) if p)}
    models = ("audio", "text") if args.model == "both" else (args.model,)
    runs = [(model, seconds, False) for model in models for seconds in args.lengths]
    if args.baseline:
        runs += [(model, BASELINES[model][0] or min(args.lengths), True) for model in models]
    table = Table(title=f"Peak memory of python -m tfemo.predict (default flags, "
                        f"--chunk_seconds {args.chunk_seconds:g}), {args.rate} Hz "
                        f"{args.channels} ch files, one core")
    for column in ("model", "path", "minutes", "largest process MB", "tree MB",
                   "within 1 GB", "wall s", "outcome"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        train_dirs = {
            "audio": (args.checkpoint if (args.checkpoint / "model.json").is_file()
                      else write_train_dir(folder / "audio" / "train", "conv1d",
                                           MEMORY_FEATURES)),
            "text": write_train_dir(folder / "text" / "train", "semantic_fusion",
                                    hidden=256, fusion_size=128, attention_units=64)}
        for model, seconds, baseline in runs:
            path = folder / f"{model}-{seconds:g}.wav"
            target = str(path)
            if model == "audio" and not path.exists():
                write_long_file(path, seconds, args.rate, args.channels)
            elif model == "text":
                target = str(folder / f"list-{seconds:g}.csv")
                if not path.exists():
                    words = write_long_speech(path, seconds)
                    with open(target, "w", newline="") as handle:
                        csv.writer(handle).writerows([("path", "transcript"),
                                                      (path.name, words)])
            flags = [target, "--train_dir", str(train_dirs[model]), "--output_dir",
                     str(folder / "out"), "--chunk_seconds", str(args.chunk_seconds),
                     "--strict", *args.predict_args]
            before = BEFORE.replace("{stream_frames}", str(BASELINES[model][1]))
            command = ([sys.executable, "-c", before, *flags] if baseline
                       else [sys.executable, "-m", "tfemo.predict", *flags])
            _, wall, largest, tree, outcome = measured_run(command, env)
            table.add_row(model, "before" if baseline else "default",
                          f"{seconds / 60:g}", f"{largest:.0f}", f"{tree:.0f}",
                          "yes" if max(largest, tree) < 1000 else "NO", f"{wall:.0f}",
                          outcome)
            print(f"{model} {seconds:g} s{' (before)' if baseline else ''}: largest "
                  f"{largest:.0f} MB, tree {tree:.0f} MB, {wall:.0f} s, {outcome}", flush=True)
    Console(width=140).print(table)
    print("largest process: the highest VmHWM of predict or any process it started; tree: the "
          "highest sum of their RSS in one 20 ms sample (an aligner child's pages shared with "
          "the forkserver counted once); within 1 GB: both below 1000 MB")


def main() -> None:
    run_on_one_core(sorted(os.sched_getaffinity(0))[0])
    here = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path,
                        default=Path("checkpoints/emodb-loso/conv1d-train/fold-01"))
    parser.add_argument("--memory", action="store_true",
                        help="measure the peak RSS of tfemo.predict on a long file instead")
    parser.add_argument("--model", choices=("audio", "text", "both"), default="both",
                        help="--memory: an audio model (conv1d on features), a model that "
                             "reads words (semantic_fusion; a transcript per file), or both")
    parser.add_argument("--lengths", default="3600",
                        help="--memory: file lengths in seconds, comma-separated")
    parser.add_argument("--baseline", action="store_true",
                        help="--memory: also a row per model by the paths of before (files "
                             "up to 10 minutes featurised whole, a model that reads words at "
                             "any length; one aligner call; no steps)")
    parser.add_argument("--predict_args", nargs=argparse.REMAINDER, default=[],
                        help="--memory: further flags of tfemo.predict (last on the line)")
    parser.add_argument("--rate", type=int, default=SAMPLE_RATE, help="--memory: sample rate")
    parser.add_argument("--channels", type=int, default=1, help="--memory: channels")
    parser.add_argument("--audio_dir", type=Path, default=here.parent / "shared/data/emodb/wav")
    parser.add_argument("--seconds", type=float, default=None,
                        help="file length (default 60)")
    parser.add_argument("--chunk_seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.memory:
        args.lengths = [float(v) for v in args.lengths.split(",")]
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
