#!/usr/bin/env python
"""Frame feature extraction speed on one core: seconds of audio per second, and where it goes.

Pins itself to one core and to one BLAS/OpenMP thread (before numpy is imported), loads real
speech once (default: EMO-DB from ../shared/data if present, else the demo corpus), then times
extraction only, each measurement warmed up once and repeated (best or median), with the
measurements interleaved so that a noisy neighbour slows them all alike:
- each feature family alone through `extract_features` (the five spectral families each pay
  for the shared STFT when alone, the two mfb families for their filter-bank STFT);
- the groups that share work (zcr+rms, the shared-STFT group, pitch, the mfb group), which
  add up to the full set;
- the full set through `extract_features`;
- the baseline: a naive per-file librosa loop as upstream SER notebooks write it
  (zero_crossing_rate, chroma_stft, mfcc, rms, melspectrogram, spectral_contrast with default
  arguments, each computing its own STFT), plus parselmouth pitch with tfemo's Praat settings
  (40 ms step, 75-600 Hz; Praat's default 10 ms step would make the baseline 4 x slower on
  pitch alone).
The target is a full set of >= 400 x real time on one core.

    python benchmarks/features.py [--audio_dir DIR] [--limit 100] [--repeats 7] [--core N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import librosa
import numpy as np
import parselmouth
from one_core import run_on_one_core
from rich.console import Console
from rich.table import Table

from tfemo.audio import FRAME_SECONDS, SAMPLE_RATE
from tfemo.audio.features import (
    FEATURE_FAMILIES,
    PITCH_CEILING,
    PITCH_FLOOR,
    extract_features,
)
from tfemo.audio.io import frame_count, load_audio
from tfemo.corpora.demo import ensure_demo_corpus

TARGET = 400.0
EMODB = Path(__file__).resolve().parents[2] / "shared" / "data" / "emodb" / "wav"


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio_dir", default=None,
                        help=f"folder of audio files (default: {EMODB}, else the demo corpus)")
    parser.add_argument("--limit", type=int, default=100, help="files to use (sorted by path)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per measurement")
    parser.add_argument("--statistic", choices=("best", "median"), default="best")
    parser.add_argument("--timer", choices=("wall", "cpu"), default="wall",
                        help="wall clock, or this process's CPU time (all its threads; steadier "
                             "on a loaded machine)")
    parser.add_argument("--core", type=int, default=max(os.sched_getaffinity(0)),
                        help="the core to pin to (default: the highest one allowed)")
    return parser


AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3"}
GROUPS = {
    "zcr + rms": ("zcr", "rms"),
    "shared STFT group (5 families)": ("mfcc", "chroma", "mel_db", "contrast", "entropy"),
    "pitch (Praat)": ("pitch",),
    "mfb group (mfb_mean + mfb_cat)": ("mfb_mean", "mfb_cat"),
}
FULL = "full set (extract_features)"
BASELINE = "baseline: per-file librosa loop + Praat"


def audio_files(args: argparse.Namespace) -> tuple[str, list[Path]]:
    """(description, the first `limit` audio files) of --audio_dir, EMO-DB or the demo corpus."""
    folder = Path(args.audio_dir) if args.audio_dir else EMODB
    if not args.audio_dir and not folder.is_dir():
        folder = ensure_demo_corpus() / "utterances"
    if not folder.is_dir():
        raise SystemExit(f"{folder}: no such audio folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise SystemExit(f"{folder}: no audio files")
    return str(folder), files[: args.limit]


def tfemo_run(audios: list[np.ndarray], families: tuple[str, ...]) -> Callable[[], None]:
    """Extract `families` from every clip on the 40 ms record grid."""
    frames = [frame_count(len(audio)) for audio in audios]

    def run() -> None:
        for audio, num_frames in zip(audios, frames, strict=True):
            extract_features(audio, num_frames, families)
    return run


def baseline_features(audio: np.ndarray) -> list[np.ndarray]:
    """A similar set the way upstream notebooks compute it: one librosa call per feature."""
    sr = SAMPLE_RATE
    sound = parselmouth.Sound(audio.astype(np.float64), sampling_frequency=sr)
    pitch = sound.to_pitch(time_step=FRAME_SECONDS, pitch_floor=PITCH_FLOOR,
                           pitch_ceiling=PITCH_CEILING)
    return [
        librosa.feature.zero_crossing_rate(y=audio),
        librosa.feature.chroma_stft(y=audio, sr=sr),
        librosa.feature.mfcc(y=audio, sr=sr),
        librosa.feature.rms(y=audio),
        librosa.feature.melspectrogram(y=audio, sr=sr),
        librosa.feature.spectral_contrast(y=audio, sr=sr),
        pitch.selected_array["frequency"],
    ]


def baseline_run(audios: list[np.ndarray]) -> Callable[[], None]:
    """The baseline over every clip, one file at a time."""

    def run() -> None:
        for audio in audios:
            baseline_features(audio)
    return run


def measure(runs: dict[str, Callable[[], None]], args: argparse.Namespace) -> dict[str, float]:
    """Seconds per run of each measurement: warm-up, then `repeats` interleaved rounds."""
    clock = time.perf_counter if args.timer == "wall" else time.process_time
    for run in runs.values():
        run()
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            started = clock()
            run()
            seconds[name].append(clock() - started)
    pick = min if args.statistic == "best" else statistics.median
    return {name: pick(values) for name, values in seconds.items()}


def main() -> None:
    args = build_parser().parse_args()
    if args.limit < 1 or args.repeats < 1:
        build_parser().error("--limit and --repeats must be >= 1")
    run_on_one_core(args.core)  # one BLAS thread: restarts the script once to set it
    source, files = audio_files(args)
    audios = [load_audio(path) for path in files]
    audio_seconds = sum(len(audio) for audio in audios) / SAMPLE_RATE

    runs = {f"{name} alone": tfemo_run(audios, (name,)) for name in FEATURE_FAMILIES}
    runs.update({name: tfemo_run(audios, families) for name, families in GROUPS.items()})
    runs[FULL] = tfemo_run(audios, FEATURE_FAMILIES)
    runs[BASELINE] = baseline_run(audios)
    seconds = measure(runs, args)

    full, baseline = seconds[FULL], seconds[BASELINE]
    table = Table(title=f"feature extraction on core {args.core}, one thread: {len(files)} files, "
                        f"{audio_seconds / 60:.1f} min of audio from {source}; {args.timer} "
                        f"time, {args.statistic} of {args.repeats}")
    table.add_column("measurement", no_wrap=True)
    table.add_column("x real time", justify="right")
    table.add_column("share of full set", justify="right")
    table.add_column("x baseline speed", justify="right")
    group_total = sum(seconds[name] for name in GROUPS)
    for name, value in seconds.items():
        if name == FULL:
            table.add_section()
        last_of_section = name.startswith(("mfb_cat", "mfb group"))
        table.add_row(name, f"{audio_seconds / value:,.0f}", f"{100 * value / full:.1f} %",
                      f"{baseline / value:.2f}", end_section=last_of_section)
    console = Console(width=max(Console().width, 100))
    console.print(table)
    console.print(f"groups add up to {100 * group_total / full:.0f} % of the full set "
                  "(each spectral family alone pays for the shared STFT).")
    speed = audio_seconds / full
    verdict = "meets" if speed >= TARGET else "MISSES"
    console.print(f"full set: {speed:.0f} x real time on one core ({verdict} >= {TARGET:.0f} x), "
                  f"{baseline / full:.2f} x the baseline's speed "
                  f"({audio_seconds / baseline:.0f} x real time).")


if __name__ == "__main__":
    main()
