"""Gold standards from annotators' ratings: mean, EWE or the recurrent generator, on 40 ms frames.

Every recording of a corpus with individual ratings is put on the 40 ms frame grid: the frames
of its audio when the audio file exists (as records are made: sample and hold at the frame
centres, tfemo.labels.traces), else the frames whose centres lie inside the span of its labels
(from the first label time to the last plus one label period; frame 0 when the labels start at
0 s). A gold standard (GS) [frames, dimensions] is built per recording by a `Variant`: a name
(its output folder), a method and its options:

- "mean", "ewe": tfemo.labels.fusion, with per-rater centring and lag compensation options;
- "generator": tfemo.labels.gold_generator, one generator trained on all the recordings that
  share the same raters (alpha < 2 needs the frame features, hence the audio);
- `smooth_secs` > 0 smooths any GS with a centred moving average (tfemo.labels.smoothing);
  variants that differ only in smoothing share one fusion or training run.

GS files: ``<output_dir>/<variant>/<recording id>.csv`` with columns ``time,<dimensions>``,
one row per frame, `time` the frame centre in seconds (0.02 + 0.04 i), so that sample and hold
at the frame centres gives the values back exactly. The summary compares each GS with every
rater (CCC), the raters with each other, and with the corpus's reference trace where it has one
(`REFERENCES`), averaged over recordings.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from tfemo.audio import FRAME_SECONDS, SAMPLE_RATE
from tfemo.core.errors import InputError, TfemoError
from tfemo.core.storage import write_atomic
from tfemo.corpora.base import CONTINUOUS, Corpus, Item, Trace
from tfemo.labels.fusion import agreement_table, fuse
from tfemo.labels.smoothing import smooth_gold_standard
from tfemo.labels.traces import frame_centres, label_period, load_item_trace, trace_on_frames
from tfemo.scoring.metrics import ccc

METHODS = ("mean", "ewe", "generator")
# corpus -> what its Trace.values hold, when that is a reference to compare a GS with
REFERENCES = {"demo": "true trace", "recola": "official gold standard",
              "manifest": "gold standard of the label files"}
SUMMARY_FILE = "summary.csv"
RUN_FILE = "gold_standard.json"
# progress(stage, done, total): what a long run is doing, for the command to print
Progress = Callable[[str, int, int], None]


def _silent(stage: str, done: int, total: int) -> None:
    """No progress report."""


@dataclass(frozen=True)
class GoldStandardOptions:
    """How a GS is made; fusion options apply to mean/ewe, generator options to the generator."""

    centre: bool = False
    lag_frames: int | None = None
    alpha: float = 1.8
    max_shift: int = 124
    epochs: int = 200
    steps: int | None = None
    learning_rate: float = 0.01
    chunk_frames: int = 1500
    batch_size: int = 32
    seed: int = 0
    smooth_secs: float = 0.0

    def settings(self, method: str) -> dict:
        """The options that `method` uses, as a plain dict (for the run record)."""
        fusion = ("centre", "lag_frames")
        return {name: value for name, value in asdict(self).items()
                if (name in fusion) == (method != "generator") or name == "smooth_secs"}

    def needs_features(self, method: str) -> bool:
        """Whether this method with these options needs frame features (audio)."""
        return method == "generator" and self.alpha < 2.0


@dataclass(frozen=True)
class Variant:
    """A GS to build: `name` (its output folder), `method` (METHODS) and its options."""

    name: str
    method: str
    options: GoldStandardOptions = GoldStandardOptions()

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; expected one of {METHODS}")
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"a variant name must be a plain folder name, got {self.name!r}")


@dataclass(frozen=True)
class Recording:
    """One recording on the 40 ms frame grid: frames `first_frame` .. first_frame + N - 1."""

    id: str
    first_frame: int
    ratings: np.ndarray  # [N, D, R]
    raters: tuple[str, ...]
    dimensions: tuple[str, ...]
    source: str
    reference: np.ndarray | None = None  # [N, D]
    features: np.ndarray | None = None  # [N, F]

    @property
    def times(self) -> np.ndarray:
        """Frame centres in seconds [N]."""
        return frame_centres(self.first_frame + len(self.ratings), FRAME_SECONDS)[
            self.first_frame:]


@dataclass
class Skip:
    """An item left out, and why."""

    item: str
    reason: str

    def __str__(self) -> str:
        return f"{self.item}: {self.reason}"


@dataclass
class GoldStandardRun:
    """What `make_gold_standards` did: GS per variant, written folders, summary, skips."""

    recordings: list[Recording]
    gold: dict[str, list[np.ndarray]]
    folders: dict[str, Path] = field(default_factory=dict)
    summary: pd.DataFrame | None = None
    skips: list[Skip] = field(default_factory=list)
    details: dict[str, dict] = field(default_factory=dict)


# ----------------------------------------------------------------------------- recordings


def label_frames(times: np.ndarray, frame_seconds: float = FRAME_SECONDS) -> tuple[int, int]:
    """(first frame, number of frames) whose centres lie in the span the labels cover."""
    period = float(np.median(np.diff(times))) if len(times) > 1 else frame_seconds
    start, end = float(times[0]), float(times[-1]) + period
    first = 0 if start <= frame_seconds / 2 + 1e-9 else math.ceil(
        (start - frame_seconds / 2) / frame_seconds - 1e-9)
    stop = math.floor((end - frame_seconds / 2) / frame_seconds - 1e-9) + 1
    return first, max(stop - first, 0)


def _hold(trace: Trace, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values and ratings in force at `centres` (sample and hold), float64."""
    index = np.clip(np.searchsorted(trace.times, centres + 1e-9, side="right") - 1, 0,
                    len(trace.times) - 1)
    return (np.asarray(trace.values, np.float64)[index],
            np.asarray(trace.ratings, np.float64)[index])


def load_recording(item: Item, features: Sequence[str] = (),
                   reference: bool = False) -> Recording:
    """An item's ratings (and reference, features) on the 40 ms frame grid; InputError if bad."""
    trace = load_item_trace(item)
    if trace.ratings is None:
        raise InputError(trace.source, "no ratings",
                         "the labels hold no individual annotators' ratings")
    label_period(trace)  # at least two label times
    feature_matrix = None
    if item.audio_path.is_file():
        from tfemo.audio.io import frame_count, load_audio

        audio = load_audio(item.audio_path)
        num_frames = frame_count(len(audio))
        values, ratings = trace_on_frames(trace, num_frames, FRAME_SECONDS,
                                          len(audio) / SAMPLE_RATE)
        values, ratings, first = np.asarray(values, np.float64), np.asarray(
            ratings, np.float64), 0
        if features:
            from tfemo.audio.features import extract_features

            parts = extract_features(audio, num_frames, features)
            feature_matrix = np.concatenate([parts[name] for name in features], axis=1)
    else:
        if features:
            raise InputError(item.audio_path, "missing audio",
                             "the generator with alpha < 2 needs frame features from the "
                             "audio (use --alpha 2 for the annotation-only generator, or "
                             "--audio_dir)")
        first, num_frames = label_frames(np.asarray(trace.times, np.float64))
        if num_frames < 2:
            raise InputError(trace.source, "bad labels", "the labels span fewer than 2 frames")
        values, ratings = _hold(trace, frame_centres(first + num_frames,
                                                     FRAME_SECONDS)[first:])
    if ratings.shape[2] < 2:
        raise InputError(trace.source, "no ratings", f"{ratings.shape[2]} rater; fusion needs 2")
    if len(ratings) < 2:
        raise InputError(trace.source, "bad labels", f"{len(ratings)} frame; fusion needs 2")
    bad = ~np.isfinite(ratings)
    if bad.any():
        frame, _, rater = np.argwhere(bad)[0]
        raise InputError(trace.source, "bad ratings",
                         f"{int(bad.sum())} NaN or infinite ratings, the first at "
                         f"{(first + frame + 0.5) * FRAME_SECONDS:.2f} s by rater "
                         f"{trace.raters[rater]}")
    return Recording(item.id, first, ratings, tuple(trace.raters), tuple(trace.dimensions),
                     trace.source, values if reference else None, feature_matrix)


def load_recordings(corpus: Corpus, features: Sequence[str] = (), progress: Progress = _silent,
                    ) -> tuple[list[Recording], list[Skip]]:
    """Every rated recording of a corpus on the frame grid; unreadable items become skips."""
    recordings, skips = [], []
    reference = corpus.name in REFERENCES
    items = corpus.items(CONTINUOUS)
    stage = "reading ratings" + (" and features" if features else "")
    for done, item in enumerate(items):
        progress(stage, done, len(items))
        try:
            recordings.append(load_recording(item, features, reference))
        except InputError as error:
            skips.append(Skip(item.id, str(error)))
    progress(stage, len(items), len(items))
    if not recordings:
        detail = f" ({skips[0]})" if skips else ""
        raise TfemoError(f"corpus {corpus.name}: no recording with readable ratings{detail}")
    dimensions = {r.dimensions for r in recordings}
    if len(dimensions) > 1:
        raise TfemoError(f"corpus {corpus.name}: recordings have different dimensions "
                         f"{sorted(dimensions)}")
    return recordings, skips


# ----------------------------------------------------------------------------- building


def _fusion(recordings: Sequence[Recording], method: str,
            options: GoldStandardOptions) -> tuple[list[np.ndarray], dict]:
    gold = []
    for recording in recordings:
        try:
            gold.append(fuse(recording.ratings, method, centre=options.centre,
                             lag_frames=options.lag_frames))
        except ValueError as error:
            raise InputError(recording.source, "bad ratings", str(error)) from error
    return gold, {}


def _generator(recordings: Sequence[Recording], options: GoldStandardOptions,
               progress: Progress = _silent) -> tuple[list[np.ndarray], dict]:
    """One generator per group of recordings with the same raters; their GS in order."""
    from tfemo.labels.gold_generator import generate_gold_standard

    groups: dict[tuple[str, ...], list[int]] = {}
    for k, recording in enumerate(recordings):
        groups.setdefault(recording.raters, []).append(k)
    gold: list[np.ndarray | None] = [None] * len(recordings)
    details = {}
    for raters, members in groups.items():
        features = None
        if options.needs_features("generator"):
            features = [recordings[k].features for k in members]
        result = generate_gold_standard(
            [recordings[k].ratings for k in members], features, alpha=options.alpha,
            max_shift=options.max_shift, epochs=options.epochs, steps=options.steps,
            learning_rate=options.learning_rate, chunk_frames=options.chunk_frames,
            batch_size=options.batch_size, seed=options.seed,
            on_epoch=lambda done, total, raters=raters: progress(
                f"generator epochs (raters {','.join(raters)})", done, total))
        for k, values in zip(members, result.gold, strict=True):
            gold[k] = values
        details[",".join(raters)] = {
            "recordings": len(members), "rater_weights": result.rater_weights.round(4).tolist(),
            "final": {name: values[-1] for name, values in result.history.items()}}
    return gold, details


def build_gold_standards(recordings: Sequence[Recording], variants: Iterable[Variant],
                         progress: Progress = _silent,
                         ) -> tuple[dict[str, list[np.ndarray]], dict[str, dict]]:
    """The GS [N, D] of every recording per variant name, and details (weights, losses)."""
    cache: dict[tuple[str, GoldStandardOptions], tuple[list[np.ndarray], dict]] = {}
    gold, details = {}, {}
    for variant in variants:
        if variant.name in gold:
            raise ValueError(f"two variants are named {variant.name!r}")
        options = variant.options
        key = (variant.method, replace(options, smooth_secs=0.0))
        if key not in cache:
            started = time.perf_counter()
            if variant.method == "generator":
                missing = [r.id for r in recordings if options.needs_features("generator")
                           and r.features is None]
                if missing:
                    raise TfemoError(f"the generator with alpha {options.alpha} needs frame "
                                     f"features; none for {missing[:3]}")
                cache[key] = _generator(recordings, options, progress)
            else:
                cache[key] = _fusion(recordings, variant.method, options)
            cache[key][1]["seconds"] = round(time.perf_counter() - started, 2)
        raw, detail = cache[key]
        gold[variant.name] = [smooth_gold_standard(g, options.smooth_secs) for g in raw] \
            if options.smooth_secs > 0 else raw
        details[variant.name] = {"method": variant.method, **options.settings(variant.method),
                                 **detail}
    return gold, details


# ----------------------------------------------------------------------------- output


def gold_standard_csv(recording: Recording, gold: np.ndarray) -> str:
    """The CSV text of a GS: ``time,<dimensions>``, time = frame centre in seconds."""
    lines = [",".join(["time", *recording.dimensions])]
    for centre, row in zip(recording.times, np.asarray(gold, np.float64), strict=True):
        lines.append(",".join([repr(round(float(centre), 6)), *(f"{v:.6f}" for v in row)]))
    return "\n".join(lines) + "\n"


def write_gold_standards(recordings: Sequence[Recording], gold: dict[str, list[np.ndarray]],
                         output_dir: str | Path) -> dict[str, Path]:
    """Write ``<output_dir>/<variant>/<id>.csv`` for every variant (atomically, per file)."""
    folders = {}
    for name, values in gold.items():
        folder = Path(output_dir) / name
        for recording, trace in zip(recordings, values, strict=True):
            write_atomic(folder / f"{recording.id}.csv", gold_standard_csv(recording, trace))
        folders[name] = folder
    return folders


def summarise(recordings: Sequence[Recording], gold: dict[str, list[np.ndarray]],
              ) -> pd.DataFrame:
    """Per variant and dimension: CCC of the GS with the raters, raters' agreement, reference.

    Columns: method (the variant name), dimension, recordings, gs_rater_ccc (mean over raters
    and recordings), inter_rater_ccc (mean pairwise CCC of the raters), reference_ccc (NaN
    without a reference) and rater_<id> (CCC of the GS with that rater, mean over the
    recordings it rated).
    """
    dimensions = recordings[0].dimensions
    rows = []
    for name, values in gold.items():
        per_rater: dict[str, list[np.ndarray]] = {}
        gs_rater, inter, reference = [], [], []
        for recording, trace in zip(recordings, values, strict=True):
            table = agreement_table(trace, recording.ratings)
            gs_rater.append(table["mean_rater_ccc"])
            inter.append(table["inter_rater_ccc"])
            for r, rater in enumerate(recording.raters):
                per_rater.setdefault(rater, []).append(table["rater_ccc"][:, r])
            if recording.reference is not None:
                reference.append(ccc(trace, recording.reference))
        for d, dimension in enumerate(dimensions):
            row = {"method": name, "dimension": dimension, "recordings": len(values),
                   "gs_rater_ccc": float(np.mean([x[d] for x in gs_rater])),
                   "inter_rater_ccc": float(np.mean([x[d] for x in inter])),
                   "reference_ccc": float(np.mean([x[d] for x in reference]))
                   if reference else float("nan")}
            row.update({f"rater_{rater}": float(np.mean([x[d] for x in found]))
                        for rater, found in per_rater.items()})
            rows.append(row)
    return pd.DataFrame(rows)


def make_gold_standards(corpus: Corpus, variants: Sequence[Variant], output_dir: str | Path,
                        features: Sequence[str] = ("mfb_mean",),
                        progress: Progress = _silent) -> GoldStandardRun:
    """Load, build every variant, write the GS folders, the summary CSV and a run record;
    `progress(stage, done, total)` hears what a long run is doing."""
    variants = list(variants)
    if not variants:
        raise ValueError("no gold standard to make: give at least one method")
    needs = any(v.options.needs_features(v.method) for v in variants)
    recordings, skips = load_recordings(corpus, tuple(features) if needs else (), progress)
    while True:  # a recording that fusion refuses is skipped, and the rest built again
        try:
            gold, details = build_gold_standards(recordings, variants, progress)
            break
        except InputError as error:
            bad = [r for r in recordings if r.source == error.path]
            if not bad or len(bad) == len(recordings):
                raise
            skips.append(Skip(bad[0].id, str(error)))
            recordings = [r for r in recordings if r is not bad[0]]
    output_dir = Path(output_dir)
    folders = write_gold_standards(recordings, gold, output_dir)
    summary = summarise(recordings, gold)
    write_atomic(output_dir / SUMMARY_FILE, summary.to_csv(index=False, float_format="%.6f"))
    record = {"corpus": corpus.name, "reference": REFERENCES.get(corpus.name),
              "features": list(features) if needs else [],
              "recordings": [r.id for r in recordings], "skipped": [str(s) for s in skips],
              "variants": details}
    write_atomic(output_dir / RUN_FILE, json.dumps(record, indent=1, default=str) + "\n")
    return GoldStandardRun(recordings, gold, folders, summary, skips, details)
