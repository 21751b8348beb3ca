"""The embedded demo corpus: synthetic, deterministic emotional speech made with espeak-ng.

tfemo needs a corpus that anyone can build offline in seconds, on which every stage (readers,
alignment, records, models, evaluation) can be run end to end. This module generates one into a
cache folder on first use (it is never committed) and reads it like any other corpus.

Design: what carries what
-------------------------
* AROUSAL is carried by prosody. Every utterance has an emotion category with an (arousal,
  valence) target in [-1, 1] and an intensity drawn uniformly from `DemoConfig.intensity`; its
  arousal is `category arousal * intensity`. Speaking rate, pitch level, pitch range and volume
  are linear in that arousal (faster, higher, wider and louder when aroused), so prosody follows
  arousal continuously, also within a category. Each category adds its own style offsets (also
  scaled by the intensity), so that categories of the same arousal still sound clearly
  different: fearful speech is fast, high and narrow, angry speech low, wide and loud, sad speech
  slower, lower and flatter than calm speech. Each speaker has its own base pitch; a little
  per-utterance jitter keeps the prosody from being a lookup table.
* VALENCE is carried by the words. Sentences come from three pools (positive, negative and
  neutral, 15 each, 5-9 common English words); an emotion uses the pool of its valence sign, and
  a pool is shared by the high- and low-arousal emotions of that valence (happy and calm; angry,
  fearful and sad), so the text says nothing about arousal within a valence.

Categories (arousal, valence): neutral (0, 0), happy (0.6, 0.7), calm (-0.5, 0.5),
angry (0.8, -0.6), fearful (0.7, -0.7), sad (-0.6, -0.6).

Two views of the same audio
---------------------------
* categorical: one item per utterance, `label` = category, one segment spanning the file with
  the transcript and exact word timings (espeak-ng reports the sample where each word starts).
* continuous: each speaker's utterances are shuffled and joined with pauses (0.3-1.2 s) into
  sessions of about a minute. Per session there is a TRUE arousal/valence trace at 25 Hz
  (40 ms): each utterance's target (category x intensity) while it is spoken, linear
  interpolation through the pauses, a Gaussian smoothing, clipped to [-1, 1]. Simulated
  annotators rate it the way people do: annotator r perceives the true trace `lag_r` seconds late
  (lag uniform in 1-3 s, fixed per annotator), applies a scale and a bias of their own (per
  dimension) and adds smoothed noise; the rating is 0 before the lag and fades in over 1 s.
  `Trace.values` is the true trace, `Trace.ratings` the annotators' ratings.

Speakers are espeak-ng voice variants (4 male, 4 female); the partition is speaker-disjoint
(train 4, devel 2, test 2, genders balanced) and stored in `partition.csv`.

On-disk layout (all times in seconds, audio 16 kHz mono int16 WAV)
------------------------------------------------------------------
    README.txt                   this layout and how the corpus was made
    emotions.csv                 emotion, arousal, valence, pool, style offsets
    speakers.csv                 speaker, gender, voice, base_pitch
    partition.csv                speaker, portion
    utterances.csv               id, speaker, gender, emotion, arousal, valence, intensity,
                                 sentence_id, sentence, transcript, duration, rate, pitch,
                                 pitch_range, volume, path
    words.csv                    utterance, index, word, start, end (utterance time)
    utterances/<speaker>/<id>.wav
    sessions.csv                 session, speaker, gender, duration, frames, path, labels
    segments.csv                 session, index, utterance, start, end (session time)
    sessions/<id>.wav
    sessions/<id>.labels.csv     time, arousal, valence, arousal_<rater>..., valence_<rater>...
    raters.csv                   rater, lag, <dim>_scale, <dim>_bias, <dim>_noise
    manifest.json                written last: version, config, sha256 of every file

Reproducibility: all randomness comes from numpy Generators seeded from `DemoConfig.seed`, and
synthesis runs in a fresh process in a fixed order (espeak-ng keeps state between calls), so a
config and `GENERATOR_VERSION` always give the same bytes. Generation writes into a hidden
temporary sibling folder and renames it into place when complete; `manifest.json`, written last,
marks a complete corpus. The reader reads only the CSV files, so a damaged tree (a deleted WAV, a
truncated labels file) is reported downstream, item by item.

Command line: `python -m tfemo.corpora.demo --root DIR [--tiny]` generates into DIR.
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import wave
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tfemo.audio import FRAME_LENGTH, FRAME_SECONDS, SAMPLE_RATE
from tfemo.core.errors import InputError
from tfemo.corpora.base import CATEGORICAL, CONTINUOUS, PORTIONS, Item, Segment, Trace, WordTiming

GENERATOR_VERSION = 1
DIMENSIONS = ("arousal", "valence")
MANIFEST = "manifest.json"

# Prosody as a function of arousal a in [-1, 1]: value = base + slope * a (+ style, + jitter).
_RATE = (170.0, 55.0)  # words per minute
_PITCH_SLOPE = 20.0  # added to the speaker's base pitch (espeak-ng scale 0-100)
_RANGE = (50.0, 40.0)  # pitch range, 0 (monotone) - 100
_VOLUME = (92.0, 30.0)  # amplitude; espeak-ng starts clipping above ~130
_MAX_VOLUME = 120
_JITTER = {"rate": 5.0, "pitch": 2.0, "pitch_range": 4.0, "volume": 2.0}  # standard deviations
_PEAK = 32000  # loudest sample allowed after resampling (int16)
_NOISE_FLOOR = 4.0  # standard deviation of the background noise, int16 units (about -78 dBFS)
_RATING_FADE_SECONDS = 1.0
_RATER_NOISE_SMOOTHING_SECONDS = 0.5


@dataclass(frozen=True)
class Emotion:
    """An emotion category: its (arousal, valence) target, sentence pool and prosodic style."""

    name: str
    arousal: float
    valence: float
    pool: str
    rate: float = 0.0
    pitch: float = 0.0
    pitch_range: float = 0.0
    volume: float = 0.0


EMOTIONS = (
    Emotion("neutral", 0.0, 0.0, "neutral"),
    Emotion("happy", 0.6, 0.7, "positive", rate=5, pitch=6, pitch_range=15),
    Emotion("calm", -0.5, 0.5, "positive", pitch=2, pitch_range=5),
    Emotion("angry", 0.8, -0.6, "negative", pitch=-8, pitch_range=5, volume=8),
    Emotion("fearful", 0.7, -0.7, "negative", rate=20, pitch=12, pitch_range=-25, volume=-8),
    Emotion("sad", -0.6, -0.6, "negative", rate=-15, pitch=-4, pitch_range=-10, volume=-4),
)

SENTENCES: dict[str, tuple[str, ...]] = {
    "positive": (
        "We had a wonderful time together today.",
        "I love spending summer days with my friends.",
        "Your beautiful gift made me very happy.",
        "The children laughed and played all afternoon.",
        "She smiled when she heard the good news.",
        "This is the best meal I have ever had.",
        "Our team won the final game again.",
        "Thank you for being such a kind friend.",
        "The party was fun and everyone enjoyed it.",
        "He feels proud and grateful for his family.",
        "What a lovely and peaceful morning this is.",
        "We are so glad you could join us.",
        "The garden looks bright and beautiful this spring.",
        "They celebrated their success with warm hugs.",
        "My new job makes me feel great.",
    ),
    "negative": (
        "Nobody came to help us when we needed them.",
        "I hate how cruel and unfair this is.",
        "The accident left him badly hurt and alone.",
        "She cried because her dog had died.",
        "This terrible pain will never go away.",
        "They lost everything they owned last winter.",
        "He was angry and shouted at everyone.",
        "The news about the war was awful.",
        "I feel sick and tired of these lies.",
        "Our house was destroyed by the fire.",
        "Everything went wrong and nobody cares anymore.",
        "The poor man lost his job and home.",
        "She was afraid and lonely that night.",
        "This is the worst day of my life.",
        "His failure brought shame upon his family.",
    ),
    "neutral": (
        "Please put the blue folder on my desk.",
        "The meeting starts at ten tomorrow morning.",
        "The train leaves from platform number four.",
        "I need to buy some milk and bread.",
        "The report has twelve pages and two tables.",
        "He opened the window and closed the door.",
        "We usually walk to work on Mondays.",
        "The book is beside the old lamp.",
        "She wrote the address on a small card.",
        "The store closes at six every evening.",
        "Turn left after the bridge and keep going.",
        "The printer stands beside the kitchen door.",
        "My brother lives near the train station.",
        "The box contains paper and some pens.",
        "Water boils when it gets hot enough.",
    ),
}


@dataclass(frozen=True)
class SpeakerSpec:
    """A demo speaker: an espeak-ng voice variant, its base pitch (0-100) and its portion."""

    name: str
    voice: str
    gender: str
    base_pitch: int
    portion: str


DEFAULT_SPEAKERS = (
    SpeakerSpec("m1", "en+m1", "male", 46, "train"),
    SpeakerSpec("m2", "en+m2", "male", 54, "train"),
    SpeakerSpec("f1", "en+f1", "female", 52, "train"),
    SpeakerSpec("f2", "en+f2", "female", 44, "train"),
    SpeakerSpec("m3", "en+m3", "male", 42, "devel"),
    SpeakerSpec("f3", "en+f3", "female", 48, "devel"),
    SpeakerSpec("m4", "en+m4", "male", 50, "test"),
    SpeakerSpec("f4", "en+f4", "female", 56, "test"),
)


@dataclass(frozen=True)
class DemoConfig:
    """What to generate; every field enters the cache folder name and the manifest."""

    speakers: tuple[SpeakerSpec, ...] = DEFAULT_SPEAKERS
    sentences_per_emotion: int = 13
    seed: int = 20240611
    session_seconds: float = 60.0
    pause_seconds: tuple[float, float] = (0.3, 1.2)
    intensity: tuple[float, float] = (0.5, 1.0)
    raters: int = 5
    rater_lag_seconds: tuple[float, float] = (1.0, 3.0)
    trace_smoothing_seconds: float = 0.25
    emotions: tuple[str, ...] = field(default=tuple(e.name for e in EMOTIONS))

    def __post_init__(self) -> None:
        names = [s.name for s in self.speakers]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"speakers must be non-empty and unique, got {names}")
        for speaker in self.speakers:
            if speaker.portion not in PORTIONS:
                raise ValueError(f"speaker {speaker.name}: portion must be one of {PORTIONS}")
        known = {e.name for e in EMOTIONS}
        if not self.emotions or set(self.emotions) - known:
            raise ValueError(f"emotions must be a non-empty subset of {sorted(known)}")
        smallest = min(len(pool) for pool in SENTENCES.values())
        if not 1 <= self.sentences_per_emotion <= smallest:
            raise ValueError(f"sentences_per_emotion must be in 1..{smallest}")
        if self.raters < 1:
            raise ValueError("raters must be >= 1")
        for name in ("pause_seconds", "intensity", "rater_lag_seconds"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} must be (low, high) with 0 <= low <= high")

    def to_dict(self) -> dict:
        """The config as plain JSON types (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict) -> DemoConfig:
        """The config written by `to_dict` (used to hand a config to the generator process)."""
        data = dict(data)
        data["speakers"] = tuple(SpeakerSpec(**s) for s in data["speakers"])
        for name in ("pause_seconds", "intensity", "rater_lag_seconds", "emotions"):
            data[name] = tuple(data[name])
        return cls(**data)

    def digest(self) -> str:
        """A short hash of the config, naming the cache folder of a non-default config."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


DEFAULT_CONFIG = DemoConfig()
# One speaker per portion and two sentences per emotion: generates in about a second (tests).
TINY_CONFIG = DemoConfig(
    speakers=(DEFAULT_SPEAKERS[0], DEFAULT_SPEAKERS[5], DEFAULT_SPEAKERS[6]),
    sentences_per_emotion=2,
)


# ----------------------------------------------------------------------------- locations


def cache_dir() -> Path:
    """Where generated corpora live: $TFEMO_CACHE if set, else ~/.cache/tfemo."""
    configured = os.environ.get("TFEMO_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "tfemo"


def default_root(config: DemoConfig = DEFAULT_CONFIG) -> Path:
    """The cache folder of a config: demo-v<version>, plus a config hash if not the default."""
    name = f"demo-v{GENERATOR_VERSION}"
    if config != DEFAULT_CONFIG:
        name += f"-{config.digest()}"
    return cache_dir() / name


def _manifest_matches(root: Path, config: DemoConfig) -> bool:
    """True if root holds a complete corpus of this config; raises if it holds another one."""
    path = root / MANIFEST
    if not path.is_file():
        return False
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        version, stored = manifest["generator_version"], manifest["config"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(path, "bad manifest", str(error)) from error
    if version != GENERATOR_VERSION or stored != config.to_dict():
        raise InputError(path, "wrong demo corpus",
                         f"made by generator v{version} with another config; "
                         f"delete {root} or choose another folder")
    return True


def ensure_demo_corpus(config: DemoConfig = DEFAULT_CONFIG, root: Path | None = None) -> Path:
    """Return the corpus folder of `config`, generating it first (in a fresh process) if needed.

    `root` is the corpus folder itself (default: `default_root(config)`). Generation runs in a
    new Python process because espeak-ng's output depends on its earlier calls in a process.
    """
    root = Path(root) if root is not None else default_root(config)
    if _manifest_matches(root, config):
        return root
    package_parent = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "tfemo.corpora.demo", "--root", str(root),
               "--config", json.dumps(config.to_dict())]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"generating the demo corpus in {root} failed "
                           f"(exit {done.returncode}):\n{done.stderr.strip()}")
    if not _manifest_matches(root, config):
        raise RuntimeError(f"the demo corpus generator finished but {root} has no manifest")
    return root


# ----------------------------------------------------------------------------- reading


def _read_table(path: Path) -> list[dict[str, str]]:
    """The rows of a metadata CSV; a missing or unreadable file is an InputError naming it."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError as error:
        raise InputError(path, "missing metadata", "file not found") from error
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputError(path, "bad metadata", str(error)) from error


def _field(path: Path, row: dict[str, str], name: str) -> str:
    value = row.get(name)
    if value is None:
        raise InputError(path, "bad metadata", f"no column {name!r}")
    return value


def _number(path: Path, row: dict[str, str], name: str) -> float:
    text = _field(path, row, name)
    try:
        value = float(text)
    except ValueError as error:
        raise InputError(path, "bad metadata", f"{name}={text!r} is not a number") from error
    if not np.isfinite(value):
        raise InputError(path, "bad metadata", f"{name}={text!r} is not finite")
    return value


def read_session_labels(path: str | Path) -> Trace:
    """Read a session's labels CSV: the true trace in `values`, the annotators in `ratings`.

    Raises InputError(path, "bad labels", detail) on an unreadable file, missing columns,
    ragged or non-numeric rows, NaNs, or times that do not increase.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputError(path, "bad labels", str(error)) from error
    if not rows or not rows[0]:
        raise InputError(path, "bad labels", "empty file or header")
    header, body = rows[0], rows[1:]
    missing = [c for c in ("time", *DIMENSIONS) if c not in header]
    if missing:
        raise InputError(path, "bad labels", f"missing columns {missing}")
    prefix = f"{DIMENSIONS[0]}_"
    raters = tuple(c[len(prefix):] for c in header if c.startswith(prefix))
    rater_columns = [f"{d}_{r}" for d in DIMENSIONS for r in raters]
    missing = [c for c in rater_columns if c not in header]
    if missing:
        raise InputError(path, "bad labels", f"missing columns {missing}")
    if not body:
        raise InputError(path, "bad labels", "no rows")
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise InputError(path, "bad labels",
                             f"line {line} has {len(row)} fields, expected {len(header)}")
    try:
        table = np.array(body, dtype=np.float64)
    except ValueError as error:
        raise InputError(path, "bad labels", f"non-numeric value ({error})") from error
    bad = ~np.isfinite(table)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise InputError(path, "bad labels",
                         f"NaN or infinite {header[column]} at line {row + 2}")
    index = {name: k for k, name in enumerate(header)}
    times = table[:, index["time"]]
    steps = np.diff(times)
    if (steps <= 0).any():
        line = int(np.argmax(steps <= 0)) + 3
        raise InputError(path, "bad labels", f"time does not increase at line {line}")
    values = table[:, [index[d] for d in DIMENSIONS]].astype(np.float32)
    ratings = None
    if raters:
        columns = [[index[f"{d}_{r}"] for r in raters] for d in DIMENSIONS]
        ratings = table[:, columns].astype(np.float32)  # [T, dimensions, raters]
    return Trace(times=times, values=values, dimensions=DIMENSIONS, source=str(path),
                 ratings=ratings, raters=raters)


class DemoCorpus:
    """Reader of a generated demo corpus folder (see the module docstring for the layout)."""

    name = "demo"
    language = "eng"
    tasks = (CONTINUOUS, CATEGORICAL)
    default_task = CONTINUOUS

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _table(self, name: str) -> tuple[Path, list[dict[str, str]]]:
        path = self.root / name
        return path, _read_table(path)

    def _portions(self) -> dict[str, str]:
        path, rows = self._table("partition.csv")
        portions = {_field(path, r, "speaker"): _field(path, r, "portion") for r in rows}
        for speaker, portion in portions.items():
            if portion not in PORTIONS:
                raise InputError(path, "bad metadata", f"speaker {speaker}: portion {portion!r}")
        return portions

    def _portion(self, portions: dict[str, str], speaker: str) -> str:
        if speaker not in portions:
            raise InputError(self.root / "partition.csv", "bad metadata",
                             f"speaker {speaker} has no portion")
        return portions[speaker]

    def _words(self) -> dict[str, tuple[WordTiming, ...]]:
        path, rows = self._table("words.csv")
        words: dict[str, list[tuple[int, WordTiming]]] = {}
        for row in rows:
            timing = WordTiming(_field(path, row, "word"), _number(path, row, "start"),
                                _number(path, row, "end"))
            words.setdefault(_field(path, row, "utterance"), []).append(
                (int(_number(path, row, "index")), timing))
        return {key: tuple(t for _, t in sorted(value, key=lambda p: p[0]))
                for key, value in words.items()}

    def _utterances(self) -> tuple[Path, dict[str, dict[str, str]]]:
        path, rows = self._table("utterances.csv")
        return path, {_field(path, row, "id"): row for row in rows}

    def items(self, task: str = CONTINUOUS) -> list[Item]:
        """The items of a task, sorted by id: utterances (categorical) or sessions (continuous)."""
        if task == CATEGORICAL:
            return self._utterance_items()
        if task == CONTINUOUS:
            return self._session_items()
        raise ValueError(f"the demo corpus has tasks {self.tasks}, not {task!r}")

    def _utterance_items(self) -> list[Item]:
        portions = self._portions()
        words = self._words()
        path, utterances = self._utterances()
        items = []
        for key, row in utterances.items():
            speaker = _field(path, row, "speaker")
            segment = Segment(0.0, _number(path, row, "duration"),
                              _field(path, row, "transcript"), words.get(key))
            metadata = {name: _field(path, row, name) for name in
                        ("arousal", "valence", "intensity", "sentence_id", "sentence")}
            items.append(Item(
                id=key, speaker=speaker, corpus=self.name,
                portion=self._portion(portions, speaker),
                audio_path=self.root / _field(path, row, "path"), segments=(segment,),
                label=_field(path, row, "emotion"), language=self.language,
                gender=_field(path, row, "gender"), metadata=metadata))
        return sorted(items, key=lambda item: item.id)

    def _session_items(self) -> list[Item]:
        portions = self._portions()
        words = self._words()
        utterance_path, utterances = self._utterances()
        segment_path, segment_rows = self._table("segments.csv")
        segments: dict[str, list[tuple[int, Segment]]] = {}
        for row in segment_rows:
            key = _field(segment_path, row, "utterance")
            if key not in utterances:
                raise InputError(segment_path, "bad metadata", f"unknown utterance {key}")
            start = _number(segment_path, row, "start")
            shifted = None  # no rows in words.csv: no corpus timings (aligned instead)
            if key in words:
                shifted = tuple(WordTiming(w.word, round(start + w.start, 6),
                                           round(start + w.end, 6)) for w in words[key])
            segment = Segment(start, _number(segment_path, row, "end"),
                              _field(utterance_path, utterances[key], "transcript"), shifted)
            segments.setdefault(_field(segment_path, row, "session"), []).append(
                (int(_number(segment_path, row, "index")), segment))
        path, rows = self._table("sessions.csv")
        items = []
        for row in rows:
            key = _field(path, row, "session")
            speaker = _field(path, row, "speaker")
            labels = self.root / _field(path, row, "labels")
            items.append(Item(
                id=key, speaker=speaker, corpus=self.name,
                portion=self._portion(portions, speaker),
                audio_path=self.root / _field(path, row, "path"),
                segments=tuple(s for _, s in sorted(segments.get(key, []), key=lambda p: p[0])),
                load_trace=functools.partial(read_session_labels, labels), label_files=(labels,),
                language=self.language, gender=_field(path, row, "gender"),
                metadata={"duration": _field(path, row, "duration")}))
        return sorted(items, key=lambda item: item.id)

    def label_names(self, task: str = CONTINUOUS) -> tuple[str, ...]:
        """Category names (categorical, in emotions.csv order) or the trace dimensions."""
        if task == CONTINUOUS:
            return DIMENSIONS
        if task == CATEGORICAL:
            path, rows = self._table("emotions.csv")
            return tuple(_field(path, row, "emotion") for row in rows)
        raise ValueError(f"the demo corpus has tasks {self.tasks}, not {task!r}")

    @property
    def rater_names(self) -> tuple[str, ...]:
        """The simulated annotators, in the order of the ratings axis."""
        path, rows = self._table("raters.csv")
        return tuple(_field(path, row, "rater") for row in rows)


# ----------------------------------------------------------------------------- generation


def _rng(seed: int, *keys: str) -> np.random.Generator:
    """An independent stream per purpose, so that changing one part leaves the others alone."""
    return np.random.default_rng([seed, *(zlib.crc32(k.encode("utf-8")) for k in keys)])


@dataclass
class _Utterance:
    id: str
    speaker: SpeakerSpec
    emotion: Emotion
    intensity: float
    sentence_id: str
    sentence: str
    prosody: dict[str, int]
    audio: np.ndarray | None = None
    words: tuple[tuple[str, float, float], ...] = ()

    @property
    def arousal(self) -> float:
        return self.emotion.arousal * self.intensity

    @property
    def valence(self) -> float:
        return self.emotion.valence * self.intensity

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def _prosody(speaker: SpeakerSpec, emotion: Emotion, intensity: float,
             rng: np.random.Generator) -> dict[str, int]:
    """espeak-ng settings: linear in the utterance's arousal, plus the category's style."""
    arousal = emotion.arousal * intensity
    jitter = {name: rng.normal(0.0, sd) for name, sd in _JITTER.items()}
    rate = _RATE[0] + _RATE[1] * arousal + intensity * emotion.rate + jitter["rate"]
    pitch = speaker.base_pitch + _PITCH_SLOPE * arousal + intensity * emotion.pitch
    pitch_range = _RANGE[0] + _RANGE[1] * arousal + intensity * emotion.pitch_range
    volume = _VOLUME[0] + _VOLUME[1] * arousal + intensity * emotion.volume
    return {
        "rate": int(np.clip(round(rate), 80, 450)),
        "pitch": int(np.clip(round(pitch + jitter["pitch"]), 0, 100)),
        "pitch_range": int(np.clip(round(pitch_range + jitter["pitch_range"]), 0, 100)),
        "volume": int(np.clip(round(volume + jitter["volume"]), 10, _MAX_VOLUME)),
    }


def _plan_utterances(config: DemoConfig) -> list[_Utterance]:
    """Which sentence each speaker says in each emotion, how intensely, with what prosody."""
    emotions = [e for e in EMOTIONS if e.name in config.emotions]
    plan = []
    for speaker in config.speakers:
        for emotion in emotions:
            rng = _rng(config.seed, "utterances", speaker.name, emotion.name)
            pool = SENTENCES[emotion.pool]
            chosen = rng.choice(len(pool), size=config.sentences_per_emotion, replace=False)
            for k, index in enumerate(chosen):
                intensity = round(float(rng.uniform(*config.intensity)), 4)
                prosody = _prosody(speaker, emotion, intensity, rng)
                plan.append(_Utterance(
                    id=f"{speaker.name}_{emotion.name}_{k + 1:02d}", speaker=speaker,
                    emotion=emotion, intensity=intensity,
                    sentence_id=f"{emotion.pool[:3]}{int(index) + 1:02d}",
                    sentence=pool[int(index)], prosody=prosody))
    return plan


def _synthesize(utterance: _Utterance, rng: np.random.Generator) -> dict[str, int]:
    """Synthesise one utterance at 16 kHz with exact word times; returns limiter statistics."""
    from scipy.signal import resample_poly

    from tfemo.audio.espeak import synthesize

    result = synthesize(utterance.sentence, utterance.speaker.voice, **utterance.prosody)
    expected = utterance.sentence.rstrip(".!?").split()
    spoken = [w for w, _, _ in result.words]
    if spoken != expected:  # espeak-ng merges some word pairs ("on the"): keep such out of pools
        raise RuntimeError(f"espeak-ng reported words {spoken} for {utterance.sentence!r}")
    clipped = int(np.sum(np.abs(result.samples.astype(np.int32)) >= 32767))
    divisor = np.gcd(SAMPLE_RATE, result.sample_rate)
    audio = resample_poly(result.samples.astype(np.float64), SAMPLE_RATE // divisor,
                          result.sample_rate // divisor)
    audio += rng.normal(0.0, _NOISE_FLOOR, size=len(audio))
    peak = float(np.max(np.abs(audio)))
    limited = int(peak > _PEAK)
    if limited:
        audio *= _PEAK / peak
    utterance.audio = np.round(audio).astype(np.int16)
    duration = utterance.duration
    utterance.words = tuple(
        (word, round(start / result.sample_rate, 6),
         round(min(end / result.sample_rate, duration), 6))
        for word, start, end in result.words)
    return {"clipped_samples": clipped, "limited_utterances": limited}


@dataclass
class _Session:
    id: str
    speaker: SpeakerSpec
    audio: np.ndarray
    placed: list[tuple[_Utterance, int]]  # (utterance, start sample)
    values: np.ndarray | None = None  # [T, 2]
    ratings: np.ndarray | None = None  # [T, 2, R]

    @property
    def frames(self) -> int:
        return len(self.audio) // FRAME_LENGTH


def _build_sessions(config: DemoConfig, utterances: list[_Utterance]) -> list[_Session]:
    """Shuffle each speaker's utterances and join them with pauses into ~minute-long sessions."""
    sessions = []
    for speaker in config.speakers:
        own = [u for u in utterances if u.speaker.name == speaker.name]
        rng = _rng(config.seed, "sessions", speaker.name)
        order = [own[i] for i in rng.permutation(len(own))]
        pauses = rng.uniform(*config.pause_seconds, size=len(order) + 1)
        total = sum(u.duration for u in order) + float(pauses.sum())
        count = max(1, round(total / config.session_seconds))
        groups: list[list[tuple[_Utterance, float]]] = [[] for _ in range(count)]
        elapsed = 0.0
        for utterance, pause in zip(order, pauses[:-1], strict=True):
            middle = elapsed + pause + utterance.duration / 2
            groups[min(count - 1, int(middle / (total / count)))].append((utterance, pause))
            elapsed += pause + utterance.duration
        noise = _rng(config.seed, "silence", speaker.name)
        groups = [g for g in groups if g]
        for number, group in enumerate(groups, start=1):
            pieces, placed, position = [], [], 0
            # the leading pause of each group's first utterance opens the session
            for utterance, pause in group:
                gap = int(round(pause * SAMPLE_RATE))
                pieces += [_silence(gap, noise), utterance.audio]
                placed.append((utterance, position + gap))
                position += gap + len(utterance.audio)
            tail = int(round(pauses[-1] * SAMPLE_RATE))
            tail += -(position + tail) % FRAME_LENGTH  # whole frames
            pieces.append(_silence(tail, noise))
            sessions.append(_Session(f"{speaker.name}_session{number:02d}", speaker,
                                     np.concatenate(pieces), placed))
    return sessions


def _silence(samples: int, rng: np.random.Generator) -> np.ndarray:
    return np.round(rng.normal(0.0, _NOISE_FLOOR, size=samples)).astype(np.int16)


@dataclass(frozen=True)
class _Rater:
    name: str
    lag: float
    scale: tuple[float, float]
    bias: tuple[float, float]
    noise: tuple[float, float]


def _make_raters(config: DemoConfig) -> list[_Rater]:
    """Simulated annotators: a lag each, and a scale, bias and noise level per dimension."""
    rng = _rng(config.seed, "raters")
    raters = []
    for k in range(config.raters):
        lag = float(rng.uniform(*config.rater_lag_seconds))
        scale = tuple(round(float(x), 4) for x in rng.uniform(0.8, 1.2, size=2))
        bias = tuple(round(float(x), 4) for x in rng.normal(0.0, 0.06, size=2))
        noise = tuple(round(float(x), 4) for x in rng.uniform(0.04, 0.12, size=2))
        raters.append(_Rater(f"r{k + 1}", round(lag, 4), scale, bias, noise))
    return raters


def _label_session(config: DemoConfig, session: _Session, raters: list[_Rater]) -> None:
    """The true trace (targets, interpolated through pauses, smoothed) and each rating of it."""
    from scipy.ndimage import gaussian_filter1d

    times = np.arange(session.frames) * FRAME_SECONDS
    duration = len(session.audio) / SAMPLE_RATE
    knots_t, knots_v = [0.0], [[session.placed[0][0].arousal, session.placed[0][0].valence]]
    for utterance, start in session.placed:
        begin = start / SAMPLE_RATE
        target = [utterance.arousal, utterance.valence]
        knots_t += [begin, begin + utterance.duration]
        knots_v += [target, target]
    knots_t.append(duration)
    knots_v.append(knots_v[-1])
    knots = np.array(knots_v)
    steps = np.stack([np.interp(times, knots_t, knots[:, d]) for d in range(2)], axis=1)
    sigma = config.trace_smoothing_seconds / FRAME_SECONDS
    true = np.clip(gaussian_filter1d(steps, sigma, axis=0, mode="nearest"), -1.0, 1.0)
    rng = _rng(config.seed, "ratings", session.id)
    ratings = np.zeros((len(times), 2, len(raters)))
    for r, rater in enumerate(raters):
        fade = np.clip((times - rater.lag) / _RATING_FADE_SECONDS, 0.0, 1.0)
        for d in range(2):
            perceived = np.interp(times - rater.lag, times, true[:, d])
            noise = gaussian_filter1d(rng.normal(size=len(times)),
                                      _RATER_NOISE_SMOOTHING_SECONDS / FRAME_SECONDS,
                                      mode="nearest")
            noise *= rater.noise[d] / max(float(noise.std()), 1e-9)
            rating = rater.scale[d] * perceived + rater.bias[d] + noise
            ratings[:, d, r] = np.clip(fade * rating, -1.0, 1.0)
    session.values = true
    session.ratings = ratings


def _write_wav(path: Path, audio: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SAMPLE_RATE)
        handle.writeframes(audio.astype("<i2").tobytes())


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_README = """\
tfemo demo corpus (generator version {version})
==============================================

Synthetic emotional speech made with espeak-ng by tfemo.corpora.demo; regenerate it with
`python -m tfemo.corpora.demo --root DIR` (the same config gives the same bytes). Arousal is
carried by prosody (rate, pitch level, pitch range, volume: linear in the utterance's arousal,
plus a style per category); valence is carried by the words (positive, negative and neutral
sentence pools, shared by the emotions of a valence sign). See the module docstring.

Utterances: {utterances} ({speech_minutes:.1f} min of speech); speakers: {speakers};
categories: {emotions}; sessions: {sessions} ({session_minutes:.1f} min), each rated by
{raters} simulated annotators.

Files (times in seconds; audio 16 kHz mono 16-bit WAV)
  emotions.csv               emotion, arousal, valence, pool, style offsets of rate, pitch,
                             pitch_range, volume (at full intensity)
  speakers.csv               speaker, gender, voice (espeak-ng), base_pitch
  partition.csv              speaker, portion (train / devel / test; speaker-disjoint)
  utterances.csv             one row per utterance: id, speaker, gender, emotion, arousal,
                             valence (category target x intensity), intensity, sentence_id,
                             sentence, transcript, duration, rate, pitch, pitch_range, volume
                             (espeak-ng settings used), path
  words.csv                  utterance, index, word, start, end (exact, from espeak-ng)
  utterances/<speaker>/<id>.wav
  sessions.csv               session, speaker, gender, duration, frames, path, labels
  segments.csv               session, index, utterance, start, end (session time)
  sessions/<id>.wav          a speaker's shuffled utterances joined with pauses
  sessions/<id>.labels.csv   every 40 ms: time, arousal, valence (the true trace), then
                             arousal_<rater>... and valence_<rater>... (simulated annotators)
  raters.csv                 rater, lag (s), arousal_scale, arousal_bias, arousal_noise,
                             valence_scale, valence_bias, valence_noise
  manifest.json              generator version, config, counts, sha256 of every other file;
                             written last, it marks a complete corpus
"""


def _write_corpus(folder: Path, config: DemoConfig, utterances: list[_Utterance],
                  sessions: list[_Session], raters: list[_Rater], stats: dict) -> None:
    """Write every file of the corpus into `folder`, the manifest last."""
    style = ("rate", "pitch", "pitch_range", "volume")
    _write_csv(folder / "emotions.csv", ["emotion", "arousal", "valence", "pool", *style],
               [[e.name, e.arousal, e.valence, e.pool, *(getattr(e, s) for s in style)]
                for e in EMOTIONS if e.name in config.emotions])
    _write_csv(folder / "speakers.csv", ["speaker", "gender", "voice", "base_pitch"],
               [[s.name, s.gender, s.voice, s.base_pitch] for s in config.speakers])
    _write_csv(folder / "partition.csv", ["speaker", "portion"],
               [[s.name, s.portion] for s in config.speakers])
    rows, word_rows = [], []
    for u in utterances:
        relative = f"utterances/{u.speaker.name}/{u.id}.wav"
        _write_wav(folder / relative, u.audio)
        rows.append([u.id, u.speaker.name, u.speaker.gender, u.emotion.name,
                     f"{u.arousal:.4f}", f"{u.valence:.4f}", f"{u.intensity:.4f}", u.sentence_id,
                     u.sentence, " ".join(w for w, _, _ in u.words), f"{u.duration:.6f}",
                     *(u.prosody[s] for s in style), relative])
        word_rows += [[u.id, k, w, f"{s:.6f}", f"{e:.6f}"] for k, (w, s, e) in enumerate(u.words)]
    _write_csv(folder / "utterances.csv",
               ["id", "speaker", "gender", "emotion", "arousal", "valence", "intensity",
                "sentence_id", "sentence", "transcript", "duration", *style, "path"], rows)
    _write_csv(folder / "words.csv", ["utterance", "index", "word", "start", "end"], word_rows)
    names = [r.name for r in raters]
    label_header = ["time", *DIMENSIONS, *(f"{d}_{r}" for d in DIMENSIONS for r in names)]
    session_rows, segment_rows = [], []
    for s in sessions:
        audio, labels = f"sessions/{s.id}.wav", f"sessions/{s.id}.labels.csv"
        _write_wav(folder / audio, s.audio)
        table = np.concatenate([s.values, s.ratings.reshape(len(s.values), -1)], axis=1)
        _write_csv(folder / labels, label_header,
                   [[f"{k * FRAME_SECONDS:.2f}", *(f"{x:.4f}" for x in row)]
                    for k, row in enumerate(table)])
        session_rows.append([s.id, s.speaker.name, s.speaker.gender,
                             f"{len(s.audio) / SAMPLE_RATE:.6f}", s.frames, audio, labels])
        segment_rows += [[s.id, k, u.id, f"{start / SAMPLE_RATE:.6f}",
                          f"{(start + len(u.audio)) / SAMPLE_RATE:.6f}"]
                         for k, (u, start) in enumerate(s.placed)]
    _write_csv(folder / "sessions.csv",
               ["session", "speaker", "gender", "duration", "frames", "path", "labels"],
               session_rows)
    _write_csv(folder / "segments.csv", ["session", "index", "utterance", "start", "end"],
               segment_rows)
    _write_csv(folder / "raters.csv",
               ["rater", "lag", *(f"{d}_{p}" for d in DIMENSIONS
                                  for p in ("scale", "bias", "noise"))],
               [[r.name, r.lag, r.scale[0], r.bias[0], r.noise[0],
                 r.scale[1], r.bias[1], r.noise[1]] for r in raters])
    counts = {
        "utterances": len(utterances),
        "speakers": len(config.speakers),
        "emotions": len(config.emotions),
        "sessions": len(sessions),
        "raters": len(raters),
        "speech_minutes": round(sum(u.duration for u in utterances) / 60, 3),
        "session_minutes": round(sum(len(s.audio) for s in sessions) / SAMPLE_RATE / 60, 3),
        **stats,
    }
    (folder / "README.txt").write_text(_README.format(version=GENERATOR_VERSION, **counts),
                                       encoding="utf-8")
    files = {p.relative_to(folder).as_posix(): _sha256(p)
             for p in sorted(folder.rglob("*")) if p.is_file()}
    manifest = {"corpus": "demo", "generator_version": GENERATOR_VERSION,
                "config": config.to_dict(), "counts": counts, "files": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n",
                                   encoding="utf-8")


def _remove_stale_partials(root: Path) -> None:
    """Delete temporary folders left by generator processes that no longer run."""
    for partial in root.parent.glob(f".{root.name}.partial-*"):
        try:
            pid = int(partial.name.rsplit("-", 1)[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(partial, ignore_errors=True)
        except (ValueError, PermissionError, OSError):
            continue


def _generate(config: DemoConfig, root: Path) -> dict:
    """Generate the corpus into `root` atomically; call in a fresh process (see module doc)."""
    if _manifest_matches(root, config):
        return {"generated": False}
    if root.exists():
        if root.is_dir() and not any(root.iterdir()):
            root.rmdir()
        else:
            raise FileExistsError(f"{root} exists and is not a complete demo corpus; "
                                  "delete it or choose another folder")
    root.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(root)
    partial = root.parent / f".{root.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    started = time.monotonic()
    try:
        utterances = _plan_utterances(config)
        stats = {"clipped_samples": 0, "limited_utterances": 0}
        for utterance in utterances:  # fixed order: espeak-ng output depends on earlier calls
            found = _synthesize(utterance, _rng(config.seed, "noise", utterance.id))
            stats = {k: stats[k] + found[k] for k in stats}
        sessions = _build_sessions(config, utterances)
        raters = _make_raters(config)
        for session in sessions:
            _label_session(config, session, raters)
        partial.mkdir()
        _write_corpus(partial, config, utterances, sessions, raters, stats)
        try:
            partial.rename(root)
        except OSError:
            if not _manifest_matches(root, config):  # not a concurrent generator's corpus
                raise
            shutil.rmtree(partial, ignore_errors=True)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    return {"generated": True, "seconds": round(time.monotonic() - started, 2),
            **manifest["counts"]}


def main(argv: list[str] | None = None) -> int:
    """Command line: generate a demo corpus into --root (default config, --tiny, or --config)."""
    parser = argparse.ArgumentParser(prog="python -m tfemo.corpora.demo", description=__doc__
                                     .split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=None,
                        help="corpus folder to create (default: the cache folder of the config)")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--tiny", action="store_true",
                        help="3 speakers (one per portion), 2 sentences per emotion")
    choice.add_argument("--config", help="a DemoConfig as JSON (DemoConfig.to_dict)")
    args = parser.parse_args(argv)
    if args.config:
        config = DemoConfig.from_dict(json.loads(args.config))
    else:
        config = TINY_CONFIG if args.tiny else DEFAULT_CONFIG
    root = args.root if args.root is not None else default_root(config)
    summary = _generate(config, root)
    if summary["generated"]:
        print(f"demo corpus in {root}: {summary['utterances']} utterances "
              f"({summary['speech_minutes']:.1f} min), {summary['sessions']} sessions "
              f"({summary['session_minutes']:.1f} min), {summary['seconds']:.1f} s")
    else:
        print(f"demo corpus in {root} is complete already")
    return 0


if __name__ == "__main__":
    sys.exit(main())
