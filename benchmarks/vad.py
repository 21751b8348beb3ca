#!/usr/bin/env python
"""Which VAD backend? Frame-level F1 of speech against non-speech, and speed, per backend.

Two sets of recordings whose true speech is known:
- demo: the demo corpus's sessions of its test speakers (--sessions of them; espeak-ng
  utterances joined with pauses of its noise floor); truth: each utterance from its start to
  its last word's end (words.csv, exact from espeak-ng);
- emodb: EMO-DB utterances (../shared/data/emodb; skipped when absent) joined, --mixes
  recordings of --utterances each, with 0.5-3 s gaps of digital silence, white noise, brown
  noise or a tone (mains hum at 100 Hz with harmonics, or 1 kHz beeps; -40 to -25 dBFS) that
  also runs under the next utterance; truth: each
  utterance's frames within 35 dB of its loudest (EMO-DB files have silence at both ends).
On the 40 ms frame grid, a frame is speech when its centre is in a segment. Each backend runs
with the default settings of tfemo.audio.vad (chosen by --tune on the devel speakers; these
sets hold none of their speech); the
baseline calls every frame speech. Speed: seconds of audio per second of one process (x real
time), on the whole set. F1 is the mean ± sd over the recordings of a set; `within 0.3 s` is
the share of true utterances that one found segment matches at both ends within 0.3 s (the
padding of the segments included).

    python benchmarks/vad.py [--sessions 6 --mixes 3 --utterances 15]

--tune: the segment settings (threshold, hysteresis, padding, min silence) per backend, on a
10-minute recording made as --long makes it from the DEVEL speakers' utterances; the defaults
of tfemo.audio.vad are Silero's best here.

    python benchmarks/vad.py --tune

--long: the done-when figure of issue 24. A 10-minute recording of the TEST speakers' demo
utterances (a fixed seed), 1-4 s pauses of silence and noise, and 10-30 s stretches of noise
alone, run through `python -m tfemo.predict --segments vad` (an untrained conv1d train dir
unless --checkpoint is given: the segments do not depend on the model); prints the share of
utterances whose found segment's boundaries both fall within 0.3 s of the true ones.

    python benchmarks/vad.py --long [--minutes 10] [--checkpoint DIR]
"""

from __future__ import annotations

import tfemo.core.quiet  # noqa: F401  (before TensorFlow loads)

import argparse
import csv
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile
from rich.console import Console
from rich.table import Table

from tfemo.audio import FRAME_SECONDS, SAMPLE_RATE
from tfemo.audio.io import load_audio
from tfemo.audio.vad import BACKENDS, Vad, speech_mask
from tfemo.corpora.demo import ensure_demo_corpus

ROOT = Path(__file__).resolve().parent.parent
EMODB = ROOT.parent / "shared" / "data" / "emodb"
TOLERANCE = 0.3
Segments = list[tuple[float, float]]


def demo_truth(root: Path) -> dict[str, Segments]:
    """session -> true (start, end) of each utterance: its start to its last word's end."""
    last_word: dict[str, float] = {}
    with (root / "words.csv").open() as handle:
        for row in csv.DictReader(handle):
            last_word[row["utterance"]] = max(last_word.get(row["utterance"], 0.0),
                                              float(row["end"]))
    truth: dict[str, Segments] = defaultdict(list)
    with (root / "segments.csv").open() as handle:
        for row in csv.DictReader(handle):
            start = float(row["start"])
            truth[row["session"]].append((start, start + last_word[row["utterance"]]))
    return truth


def demo_recordings(count: int) -> list[tuple[str, np.ndarray, Segments]]:
    """The first `count` sessions of the default demo corpus's test speakers, with their true
    segments."""
    root = ensure_demo_corpus()
    truth = demo_truth(root)
    with (root / "partition.csv").open() as handle:
        test = {r["speaker"] for r in csv.DictReader(handle) if r["portion"] == "test"}
    names = sorted(name for name in truth if name.split("_")[0] in test)[:count]
    return [(name, load_audio(root / "sessions" / f"{name}.wav", SAMPLE_RATE), truth[name])
            for name in names]


def noise(kind: str, samples: int, level_db: float, rng: np.random.Generator) -> np.ndarray:
    """Silence (a faint dither), white or brown noise or a tone at `level_db` dBFS RMS."""
    if kind == "silence":
        return (1e-5 * rng.standard_normal(samples)).astype(np.float32)
    signal = rng.standard_normal(samples)
    t = np.arange(samples) / SAMPLE_RATE
    if kind == "tone" and rng.random() < 0.5:  # mains hum, 100 Hz and harmonics
        signal = sum(np.sin(2 * np.pi * 100 * k * t) / k for k in range(1, 6))
    elif kind == "tone":  # 1 kHz beeps, 0.25 s on and off
        signal = np.sin(2 * np.pi * 1000 * t) * ((t % 0.5) < 0.25) + 1e-3 * signal
    if kind == "brown":
        signal = np.cumsum(signal)
        signal -= np.convolve(signal, np.ones(801) / 801, mode="same")  # no drift
    signal *= 10 ** (level_db / 20) / max(float(np.sqrt(np.mean(signal ** 2))), 1e-12)
    return signal.astype(np.float32)


def trimmed(audio: np.ndarray, floor_db: float = 35.0) -> tuple[float, float]:
    """Seconds from the first to the last 40 ms frame within `floor_db` of the loudest."""
    hop = int(FRAME_SECONDS * SAMPLE_RATE)
    frames = audio[:len(audio) // hop * hop].reshape(-1, hop)
    level = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(level >= level.max() - floor_db)
    return loud[0] * FRAME_SECONDS, (loud[-1] + 1) * FRAME_SECONDS


def joined(utterances: list[np.ndarray], rng: np.random.Generator,
           gap: tuple[float, float] = (0.5, 3.0)) -> tuple[np.ndarray, Segments]:
    """Utterances joined with gaps of silence or noise (the noise running under the next
    utterance too); the audio and the true segments (each utterance trimmed)."""
    pieces, truth, position = [], [], 0
    for audio in [*utterances, None]:
        kind = rng.choice(["silence", "white", "brown", "tone"])
        level = rng.uniform(-40, -25)
        samples = int(rng.uniform(*gap) * SAMPLE_RATE)
        pieces.append(noise(kind, samples, level, rng))
        position += samples
        if audio is None:
            break
        start, end = trimmed(audio)
        pieces.append(audio + noise(kind, len(audio), level, rng))
        truth.append((position / SAMPLE_RATE + start, position / SAMPLE_RATE + end))
        position += len(audio)
    return np.concatenate(pieces), truth


def emodb_recordings(mixes: int, count: int) -> list[tuple[str, np.ndarray, Segments]]:
    """`mixes` recordings of `count` EMO-DB utterances each (seeds 0, 1, ...)."""
    files = sorted((EMODB / "wav").glob("*.wav"))
    recordings = []
    for seed in range(mixes):
        rng = np.random.default_rng(seed)
        picked = [files[i] for i in rng.choice(len(files), count, replace=False)]
        audio, truth = joined([load_audio(path, SAMPLE_RATE) for path in picked], rng)
        recordings.append((f"emodb-mix{seed}", audio, truth))
    return recordings


def frame_f1(found: Segments, truth: Segments, seconds: float) -> float:
    """F1 of speech frames (40 ms; a frame is speech when its centre is in a segment)."""
    frames = int(seconds / FRAME_SECONDS)
    guess, true = speech_mask(found, frames), speech_mask(truth, frames)
    hits = float(np.sum(guess & true))
    return 2 * hits / max(float(guess.sum() + true.sum()), 1.0)


def matched(found: Segments, truth: Segments, tolerance: float = TOLERANCE) -> int:
    """True segments with a found segment whose start and end are both within `tolerance`."""
    return sum(any(abs(a - s) <= tolerance and abs(b - e) <= tolerance for a, b in found)
               for s, e in truth)


def score_sets(sets: dict[str, list], backends: tuple[str, ...]) -> Table:
    """The table: per set and backend, F1 mean ± sd, matched utterances, x real time."""
    table = Table(title="VAD: frame-level F1 of speech (40 ms frames), boundaries, speed")
    for column in ("recordings", "backend", "F1 mean ± sd", f"within {TOLERANCE} s",
                   "x real time"):
        table.add_column(column, justify="left" if column in ("recordings", "backend")
                         else "right")
    for name, recordings in sets.items():
        seconds = sum(len(audio) / SAMPLE_RATE for _, audio, _ in recordings)
        utterances = sum(len(truth) for _, _, truth in recordings)
        label = f"{name} ({len(recordings)}, {seconds / 60:.1f} min)"
        f1 = [frame_f1([(0.0, len(a) / SAMPLE_RATE)], t, len(a) / SAMPLE_RATE)
              for _, a, t in recordings]
        table.add_row(label, "all speech (baseline)", f"{np.mean(f1):.3f} ± {np.std(f1):.3f}",
                      "", "")
        for backend in backends:
            vad = Vad(backend)
            vad.segments(recordings[0][1][:SAMPLE_RATE])  # warm-up
            began = time.perf_counter()
            found = [vad.segments(audio) for _, audio, _ in recordings]
            elapsed = time.perf_counter() - began
            f1 = [frame_f1(f, t, len(a) / SAMPLE_RATE)
                  for f, (_, a, t) in zip(found, recordings, strict=True)]
            hits = sum(matched(f, t) for f, (_, _, t) in zip(found, recordings, strict=True))
            table.add_row(label, backend, f"{np.mean(f1):.3f} ± {np.std(f1):.3f}",
                          f"{hits / utterances:.1%}", f"{seconds / elapsed:.0f}")
    return table


def long_recording(minutes: float, portion: str = "test",
                   seed: int = 0) -> tuple[np.ndarray, Segments]:
    """`minutes` of the demo utterances of one portion's speakers (in a seeded order), 1-4 s
    pauses of silence or noise and, now and then, 10-30 s of noise alone; the audio and the
    utterances' true spans."""
    root = ensure_demo_corpus()
    rng = np.random.default_rng(seed)
    with (root / "partition.csv").open() as handle:
        speakers = {r["speaker"] for r in csv.DictReader(handle) if r["portion"] == portion}
    last_word: dict[str, float] = {}
    with (root / "words.csv").open() as handle:
        for row in csv.DictReader(handle):
            last_word[row["utterance"]] = max(last_word.get(row["utterance"], 0.0),
                                              float(row["end"]))
    with (root / "utterances.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["speaker"] in speakers]
    pieces, truth, position, total = [], [], 0, int(minutes * 60 * SAMPLE_RATE)
    for k in rng.permutation(len(rows)):
        long_noise = rng.random() < 0.1
        samples = int((rng.uniform(10, 30) if long_noise else rng.uniform(1.0, 4.0))
                      * SAMPLE_RATE)
        kind = rng.choice(["white", "brown"]) if long_noise else rng.choice(
            ["silence", "white", "brown"])
        level = rng.uniform(-45, -30)
        audio = load_audio(root / rows[k]["path"], SAMPLE_RATE)
        if position + samples + len(audio) + SAMPLE_RATE > total:
            break
        pieces.append(noise(kind, samples, level, rng))
        position += samples
        pieces.append(audio)
        start = position / SAMPLE_RATE
        truth.append((start, start + last_word[rows[k]["id"]]))
        position += len(audio)
    pieces.append(noise("silence", total - position, -60, rng))
    return np.concatenate(pieces), truth


def tune(minutes: float, console: Console) -> None:
    """The segment settings per backend on a recording of the DEVEL speakers' utterances
    (as --long makes it): the grid, best first by the share of utterances within 0.3 s."""
    import itertools

    from tfemo.audio.vad import VadSettings, segments_of

    audio, truth = long_recording(minutes, "devel")
    seconds = len(audio) / SAMPLE_RATE
    table = Table(title=f"segment settings on {seconds / 60:.1f} min of the devel speakers' "
                        f"utterances ({len(truth)})")
    for column in ("backend", "threshold", "hysteresis", "padding", "min_silence",
                   f"within {TOLERANCE} s", "frame F1"):
        table.add_column(column, justify="right")
    for backend in BACKENDS:
        vad = Vad(backend)
        probabilities = vad.probabilities(audio)
        scores = []
        grid = itertools.product((0.3, 0.5, 0.7), (0.0, 0.15), (0.0, 0.05, 0.1), (0.3, 0.5))
        for threshold, hysteresis, padding, silence in grid:
            if backend != "silero" and (threshold != 0.5 or hysteresis):
                continue  # a 0/1 score: one threshold does
            if 2 * padding > silence:
                continue
            settings = VadSettings(threshold=threshold, hysteresis=hysteresis,
                                   padding=padding, min_silence=silence)
            found = segments_of(probabilities, vad.hop, settings, seconds)
            scores.append((matched(found, truth) / len(truth),
                           frame_f1(found, truth, seconds), settings))
        scores.sort(key=lambda row: row[:2], reverse=True)
        for share, f1, settings in scores[:3]:
            table.add_row(backend, f"{settings.threshold:g}", f"{settings.hysteresis:g}",
                          f"{settings.padding:g}", f"{settings.min_silence:g}",
                          f"{share:.1%}", f"{f1:.3f}")
    console.print(table)


def run_long(minutes: float, checkpoint: Path | None, console: Console) -> float:
    """The done-when figure: write the recording, run tfemo.predict --segments vad on it."""
    from tfemo import predict

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        audio, truth = long_recording(minutes)
        wav = folder / "long.wav"
        soundfile.write(wav, audio, SAMPLE_RATE, subtype="PCM_16")
        if checkpoint is None:
            sys.path.insert(0, str(ROOT))
            from tests.predict_factory import write_train_dir

            checkpoint = write_train_dir(folder / "model")
        command = [str(wav), "--checkpoint", str(checkpoint), "--segments", "vad",
                   "--output_dir", str(folder / "out")]
        began = time.perf_counter()
        assert predict.main(command) == 0
        elapsed = time.perf_counter() - began
        with (folder / "out" / "segments.csv").open() as handle:
            found = [(float(r["start"]), float(r["end"])) for r in csv.DictReader(handle)]
    share = matched(found, truth) / len(truth)
    table = Table(title=f"tfemo.predict --segments vad on {len(audio) / SAMPLE_RATE / 60:.1f} "
                        "min of demo utterances, silences and noise")
    for column in ("utterances", "segments found", f"boundaries within {TOLERANCE} s",
                   "frame F1", "seconds"):
        table.add_column(column, justify="right")
    table.add_row(str(len(truth)), str(len(found)), f"{share:.1%}",
                  f"{frame_f1(found, truth, len(audio) / SAMPLE_RATE):.3f}", f"{elapsed:.0f}")
    console.print(table)
    return share


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=6, help="demo sessions scored")
    parser.add_argument("--mixes", type=int, default=3, help="EMO-DB recordings (seeds)")
    parser.add_argument("--utterances", type=int, default=15, help="EMO-DB utterances each")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--long", action="store_true", help="the done-when figure (above)")
    parser.add_argument("--tune", action="store_true",
                        help="the segment settings on the devel speakers' utterances")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--checkpoint", type=Path, default=None)
    args = parser.parse_args(argv)
    console = Console()
    if args.tune:
        tune(args.minutes, console)
        return 0
    if args.long:
        run_long(args.minutes, args.checkpoint, console)
        return 0
    sets = {"demo sessions": demo_recordings(args.sessions)}
    if EMODB.exists():
        sets["EMO-DB + silence/noise"] = emodb_recordings(args.mixes, args.utterances)
    else:
        console.print(f"EMO-DB not found at {EMODB}: demo sessions only")
    console.print(score_sets(sets, tuple(args.backends.split(","))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
