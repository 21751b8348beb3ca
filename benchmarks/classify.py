#!/usr/bin/env python
"""Leave one speaker out on four corpora in four languages, with model selection on inner
speaker folds only, beside the baselines; the default recipe is chosen over all four.

Corpora (../shared/data; `--corpora`): EMO-DB (German, 10 speakers), EMOVO (Italian, 6),
CASIA (Mandarin, 4) and TurEV-DB (Turkish, 6). Every utterance's frame features (the records'
extraction, tfemo.records.example.frame_features) are computed once per corpus and kept in
`--cache` (features/classify/<corpus>-<group>.npz): the `base` families (FEATURES), the
Praat `voice` family (tfemo/audio/voice_quality.py) and the spectral-balance `tilt` family
(tfemo/audio/spectral_balance.py), printed with their x real time. The utterance vectors and
every fit's predictions are kept there too (<corpus>-<normalisation>-predictions.joblib); each
cache is made again when the code it comes from has changed.

Protocol, per corpus, the same for every model family: for every outer fold (one test
speaker), the other speakers are split by speaker into --inner_folds groups (shuffled with the
first seed); every setting of the family's GRID (declared below, fixed in advance) is trained
on all groups but one and scored on the held-out group, in turn; the setting with the best
inner UAR (pooled over the inner folds; ties: the first) is retrained on all the other
speakers with each seed and scores the test speaker once. A temperature is fit on the chosen
setting's out-of-fold predictions over the other speakers, each left out once
(`--calibration_folds`, the recipe's 10) and applied to the test predictions (NLL and ECE, 15
bins, before and after): the calibration of tfemo/training/inner_calibration.py, which costs no
training speaker. The test speaker never trains, scores or chooses anything. Frame features
are standardised with the training utterances' statistics (`train`) or with each speaker's own
(`speaker`, tfemo's --normalise speaker; no labels used); the estimators' own option
`utterance_norm speaker` z-scores each speaker's utterance vectors with that speaker's
statistics (the test speaker's from its own files).

The recipe: every setting of RECIPE_FAMILIES has an inner UAR in every outer fold of every
corpus and normalisation; the setting with the best mean inner UAR (the mean over corpora of
each corpus's mean over folds and normalisations) is the default recipe
(configs/emotion-default.toml), and its row scores it fixed, every outer fold retrained.
The estimators are deterministic (the svm calibrates on fixed folds), so their sd over
seeds is 0 (the tables were measured with SVC(probability=True), seeded).
`--loco` adds leave one corpus out on the classes all four share (angry, happy, neutral, sad;
EMO-DB's anger/happiness/sadness renamed, TurEV-DB's calm taken as neutral): train on three
corpora (corpus-qualified speakers), test on the fourth, the recipe against the svm baseline.

    python benchmarks/classify.py [--corpora emodb,emovo,casia,turevdb] [--loco]
"""

from __future__ import annotations

import tfemo.core.quiet  # noqa: F401  (before TensorFlow loads)

import argparse
import hashlib
import json
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np

FEATURES = "zcr,rms,mfcc,chroma,mel_db,contrast,entropy,pitch"
NORMALISATIONS = {"train": "train-set statistics", "speaker": "per speaker"}
# a setting's "features": the frame feature families its vectors are made of
FEATURE_SETS = {"base": tuple(FEATURES.split(",")), "voice": (*FEATURES.split(","), "voice"),
                # the prosodic, spectral-shape and voice-quality families (eGeMAPS's groups),
                # without the 52 chroma and mel band columns
                "compact": ("zcr", "rms", "mfcc", "contrast", "entropy", "pitch", "voice"),
                # with the loudness and spectral-balance family (tfemo/audio/spectral_balance.py)
                # that the gemaps functionals need, without and with voice
                "tilt": (*FEATURES.split(","), "tilt"),
                "tilt+voice": (*FEATURES.split(","), "tilt", "voice")}
# The grids, most regularised first (ties go to the first); "features" defaults to base.
GRID = {
    # the baseline: an RBF SVM on the standardised mean/std (basic) or rich statistics
    "svm": [{"statistics": s, "svm_c": c, "kernel": "rbf"} for s in ("basic", "rich")
            for c in (1.0, 10.0)],
    # the previous recipe's grid (train-set scaling of the utterance vectors)
    "logreg": [{"statistics": s, "logreg_c": c} for s in ("basic", "rich", "full")
               for c in (0.01, 0.1)],
    "svm-full": [{"statistics": "full", "svm_c": c, "kernel": "rbf"} for c in (1.0, 10.0)],
    # per-speaker standardised utterance vectors (--utterance_norm speaker): every statistics
    # set over every feature set (FEATURE_SETS), a linear and an RBF classifier
    "logreg-spk": [{"statistics": s, "utterance_norm": "speaker", "features": f,
                    "logreg_c": c} for f in ("base", "voice", "compact")
                   for s in ("full", "rich", "basic")
                   for c in (0.01, 0.1)]
    # stronger regularisation than the grid's strongest (0.01), on the full functionals
    + [{"statistics": "full", "utterance_norm": "speaker", "features": f, "logreg_c": c}
       for f in ("base", "voice", "compact") for c in (0.001, 0.003)]
    # the compact eGeMAPS-like functionals alone, and beside the full ones with their block
    # weighted (an L2 model penalises it gemaps_weight^2 times less)
    + [{"statistics": "gemaps", "utterance_norm": "speaker", "features": f, "logreg_c": c}
       for f in ("tilt", "tilt+voice") for c in (0.01, 0.1)]
    + [{"statistics": "full+gemaps", "utterance_norm": "speaker", "features": f,
        "gemaps_weight": w, "logreg_c": 0.01} for f in ("tilt", "tilt+voice")
       for w in (2.0, 4.0, 8.0)]
    # beside the basic or rich statistics (TurEV-DB's inner folds prefer basic statistics)
    + [{"statistics": f"{s}+gemaps", "utterance_norm": "speaker", "features": f,
        "gemaps_weight": w, "logreg_c": 0.01} for s in ("basic", "rich")
       for f in ("tilt", "tilt+voice") for w in (2.0, 4.0)]
    # the regularisation around C 0.01 for the best two of those (on their inner UAR)
    + [{"statistics": s, "utterance_norm": "speaker", "features": "tilt", "gemaps_weight": w,
        "logreg_c": c} for s, w in (("full+gemaps", 4.0), ("basic+gemaps", 2.0))
       for c in (0.003, 0.03)],
    "svm-spk": [{"statistics": s, "utterance_norm": "speaker", "features": f,
                 "svm_c": c, "kernel": "rbf"} for f in ("base", "voice", "compact")
                for s in ("full", "rich", "basic") for c in (1.0, 10.0)]
    # the compact eGeMAPS-like functionals (tfemo/models/gemaps_functionals.py)
    + [{"statistics": "gemaps", "utterance_norm": "speaker", "features": f, "svm_c": c,
        "kernel": "rbf"} for f in ("tilt", "tilt+voice") for c in (1.0, 10.0)],
    # rich statistics only: every baseline's inner validation prefers them (and 2 settings
    # keep the neural grid within the benchmark's time on 2 shared cores)
    "tfemo": [{"variant": "utterance_rich", "dropout": d} for d in (0.5, 0.3)],
}
# the ensembles average two fitted members' probabilities (no fit of their own): the shipped
# recipe beside the settings that other corpora's inner folds prefer (an RBF SVM on basic
# statistics, with voice or tilt, or on the gemaps functionals with voice; an SVM on the full
# functionals; logreg on basic statistics with voice), and those alone (ensemble_grid, made
# in main from configs/emotion-default.toml). `--models ensemble` prints their mean inner UAR
# beside the recipe's (not a recipe: tfemo.train fits one model).
ENSEMBLE_PARTNERS = [
    {"statistics": "basic", "utterance_norm": "speaker", "features": "voice", "svm_c": 1.0,
     "kernel": "rbf"},
    {"statistics": "basic", "utterance_norm": "speaker", "features": "tilt", "svm_c": 1.0,
     "kernel": "rbf"},
    {"statistics": "gemaps", "utterance_norm": "speaker", "features": "tilt+voice",
     "svm_c": 1.0, "kernel": "rbf"},
    {"statistics": "full", "utterance_norm": "speaker", "features": "base", "svm_c": 10.0,
     "kernel": "rbf"},
    {"statistics": "basic", "utterance_norm": "speaker", "features": "voice", "logreg_c": 0.01}]
GRID["ensemble"] = []
RECIPE_FAMILIES = ("logreg-spk", "svm-spk")  # what tfemo.train can run as one config
DEFAULT_MODELS = "svm,logreg-spk,svm-spk"
# the plain functional SVM of issue 22's table (train-set / per-speaker normalisation, UAR %)
PLAIN_SVM = {"emodb": (65.2, 79.2), "emovo": (34.4, 47.3), "casia": (37.0, 56.9),
             "turevdb": (49.5, 58.6)}
SHARED_CLASSES = ("angry", "happy", "neutral", "sad")
SHARED_NAMES = {"anger": "angry", "happiness": "happy", "sadness": "sad", "calm": "neutral"}
# tfemo's conv1d training settings (those of the README's conv1d command)
TFEMO_TRAIN = {"batch_size": 16, "learning_rate": 1e-3, "weight_decay": 1e-4, "hidden": 128}
STD_FLOOR = 1e-6  # the reader's per-speaker floor
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread() -> None:
    """One BLAS thread (25 x faster fits on busy shared cores): the variables only count before
    numpy loads its BLAS, so set them and start the same command again, once."""
    if all(os.environ.get(name) == "1" for name in THREAD_VARIABLES):
        return
    os.environ.update({name: "1" for name in THREAD_VARIABLES})
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


# The four development corpora (../shared/data): a reader folder or a manifest CSV each.
CORPORA = {"emodb": "emodb", "emovo": "emovo/manifest.csv", "casia": "casia/manifest.csv",
           "turevdb": "turevdb/manifest.csv"}
# cached separately: one file each
FEATURE_GROUPS = {"base": FEATURES, "voice": "voice", "tilt": "tilt"}
# The caches are made again when the code they come from changes: the frame extraction's for
# the frame features, the estimators' and calibration's for the predictions.
PROJECT = Path(__file__).resolve().parents[1]
FRAME_CODE = ("tfemo/audio", "tfemo/records/example.py")
MODEL_CODE = ("tfemo/models", "tfemo/scoring", "tfemo/training/inner_calibration.py")
CODE_KEY = "code version"


def corpus_items(path: Path) -> list[tuple[Path, str, str]]:
    """(audio path, speaker, label) of every utterance: EMO-DB's reader for a folder, else a
    `path,speaker,label` manifest (relative paths from the manifest's folder)."""
    import csv

    if path.is_dir():
        from tfemo.corpora import open_corpus

        return [(item.audio_path, item.speaker, item.label)
                for item in open_corpus("emodb", path).items("categorical")]
    with open(path, newline="") as handle:
        return [(path.parent / row["path"], row["speaker"], row["label"])
                for row in csv.DictReader(handle)]


def cached_frames(name: str, items: list, group: str, cache_dir: Path) -> list[np.ndarray]:
    """Every utterance's frame features [N_i, F] of feature group `group`, extracted once and
    kept in `cache_dir`/<corpus>-<group>.npz (the records' own extraction: frame_features),
    made again when the extraction code (FRAME_CODE) has changed since."""
    from tfemo.audio.io import frame_count, load_audio
    from tfemo.records.example import frame_features

    path = cache_dir / f"{name}-{group}.npz"
    ids = np.array([str(p) for p, _, _ in items])
    version = code_version(FRAME_CODE)
    if path.is_file():
        saved = np.load(path)
        if (np.array_equal(saved["ids"], ids) and "code" in saved.files
                and str(saved["code"]) == version):
            return np.split(saved["frames"], np.cumsum(saved["lengths"])[:-1])
    families = tuple(FEATURE_GROUPS[group].split(","))
    frames, seconds, started = [], 0.0, time.perf_counter()
    for audio_path, _, _ in items:
        audio = load_audio(audio_path)
        seconds += len(audio) / 16000
        frames.append(frame_features(audio, frame_count(len(audio)), families))
    spent = time.perf_counter() - started
    print(f"  {name} {group} features: {len(items)} files, {seconds / 60:.1f} min of audio in "
          f"{spent / 60:.1f} min ({seconds / spent:.0f} x real time, one process)", flush=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npz")
    np.savez(partial, ids=ids, lengths=[len(f) for f in frames], frames=np.concatenate(frames),
             seconds=seconds, spent=spent, code=version)
    partial.replace(path)
    return frames


def corpus_data(name: str, path: Path, cache_dir: Path, speaker_normalise: bool,
                label_names: dict[str, str] | None = None) -> dict:
    """One corpus's utterances: padded frames [N, T, F] (base, voice, then tilt columns), mask,
    labels, speakers, ids, classes and the layout the estimators need; frames standardised
    per speaker (all of that speaker's frames, no labels) with `speaker_normalise`.
    `label_names` renames labels and drops the ones it does not name."""
    items = corpus_items(path)
    groups = [cached_frames(name, items, group, cache_dir) for group in FEATURE_GROUPS]
    frames = [np.concatenate(parts, axis=1) for parts in zip(*groups, strict=True)]
    labels = [label for _, _, label in items]
    keep = np.ones(len(items), bool)
    if label_names is not None:
        keep = np.array([label in label_names for label in labels])
        labels = [label_names[label] for label in labels if label in label_names]
        frames = [f for f, k in zip(frames, keep, strict=True) if k]
    speakers = np.array([f"{name}/{s}" for (_, s, _), k in zip(items, keep, strict=True) if k])
    if speaker_normalise:
        for speaker in set(speakers):
            rows = np.flatnonzero(speakers == speaker)
            pooled = np.concatenate([frames[r] for r in rows])
            mean, std = pooled.mean(axis=0), np.maximum(pooled.std(axis=0), STD_FLOOR)
            for r in rows:
                frames[r] = (frames[r] - mean) / std
    classes = tuple(sorted(set(labels)))
    longest = max(len(f) for f in frames)
    features = np.zeros((len(frames), longest, frames[0].shape[1]), np.float32)
    mask = np.zeros((len(frames), longest), bool)
    for n, f in enumerate(frames):
        features[n, :len(f)], mask[n, :len(f)] = f, True
    from tfemo.audio.features import feature_dims

    dims = feature_dims(FEATURES.split(",") + ["voice", "tilt"])
    layout = SimpleNamespace(label_names=classes, feature_dim=features.shape[2], features=dims,
                             frame_seconds=0.04)
    return {"features": features, "mask": mask, "speakers": speakers, "layout": layout,
            "labels": np.array([classes.index(label) for label in labels]), "classes": classes,
            "base_dim": sum(dims[f] for f in FEATURES.split(",")), "cache": {}}


def code_version(paths: tuple[str, ...]) -> str:
    """A digest of the source files under `paths` (relative to the project): a cache made by
    other code is not reused."""
    digest = hashlib.sha1()
    for root in paths:
        for source in sorted((PROJECT / root).rglob("*.py")) or [PROJECT / root]:
            digest.update(str(source.relative_to(PROJECT)).encode() + source.read_bytes())
    return digest.hexdigest()


def cache_file(cache_dir: Path, corpus: str, normalise: str) -> Path:
    """Where one corpus's utterance vectors and fits' predictions are kept between runs (keyed
    by setting, index sets and seed, and dropped when the model code, MODEL_CODE, changes)."""
    return cache_dir / f"{corpus}-{normalise}-predictions.joblib"


def load_cache(data: dict, path: Path) -> None:
    """Fill `data`'s cache from `path`, if it exists and was made by the current model code."""
    import joblib

    if path.is_file():
        saved = joblib.load(path)
        if saved.pop(CODE_KEY, None) == code_version(MODEL_CODE):
            data["cache"].update(saved)


def save_cache(data: dict, path: Path) -> None:
    """Write `data`'s cache to `path` atomically, stamped with the model code's version."""
    import joblib

    partial = path.with_name(path.name + ".partial")
    joblib.dump({**data["cache"], CODE_KEY: code_version(MODEL_CODE)}, partial)
    partial.replace(path)


def merged(datasets: list[dict]) -> dict:
    """One data dict of several corpora's (same classes and columns), re-padded."""
    longest = max(d["features"].shape[1] for d in datasets)
    pad = [(0, 0), (0, 0)]
    return {**datasets[0], "cache": {},
            "features": np.concatenate([np.pad(d["features"], [pad[0], (0, longest - d[
                "features"].shape[1]), (0, 0)]) for d in datasets]),
            "mask": np.concatenate([np.pad(d["mask"], [pad[0], (0, longest - d["mask"].shape[1])])
                                    for d in datasets]),
            "labels": np.concatenate([d["labels"] for d in datasets]),
            "speakers": np.concatenate([d["speakers"] for d in datasets])}


def _key(*parts) -> str:
    """A short digest of settings and index arrays (the prediction cache's key)."""
    digest = hashlib.sha1()
    for part in parts:
        digest.update(part.tobytes() if isinstance(part, np.ndarray) else
                      json.dumps(part, sort_keys=True).encode())
    return digest.hexdigest()


class Candidates:
    """Fit-and-predict for one model family on index sets of the utterances; the utterance
    vectors and every fit's predictions are cached in the data dict (shared by families)."""

    def __init__(self, family: str, data: dict, speaker_normalise: bool) -> None:
        self.family, self.data, self.speaker_normalise = family, data, speaker_normalise
        self.feature_dim = data.get("base_dim", 0)
        if family == "tfemo":
            self.rich = self.vectors({"statistics": "rich"})

    def columns(self, features: str) -> tuple[list[int], SimpleNamespace]:
        """The frame columns of a feature set (FEATURE_SETS) and the layout an estimator built
        for vectors of those columns needs."""
        families = FEATURE_SETS[features]
        columns, kept, start = [], {}, 0
        for name, dim in self.data["layout"].features.items():
            if name in families:
                columns += range(start, start + dim)
                kept[name] = dim
            start += dim
        return columns, SimpleNamespace(label_names=self.data["classes"],
                                        feature_dim=len(columns), features=kept,
                                        frame_seconds=0.04)

    def vectors(self, setting: dict) -> np.ndarray:
        """The utterance vectors of a setting's statistics over its feature set, made once."""
        from tfemo.models.estimator import family_columns, utterance_vectors

        statistics, features = setting["statistics"], setting.get("features", "base")
        key = ("vectors", statistics, features)
        if key not in self.data["cache"]:
            columns, layout = self.columns(features)
            self.data["cache"][key] = utterance_vectors(
                statistics, self.data["features"][:, :, columns], self.data["mask"],
                family_columns(layout), 0.04)
        return self.data["cache"][key]

    def fit_predict(self, setting: dict, train: np.ndarray, test: np.ndarray,
                    seed: int) -> np.ndarray:
        """Class probabilities [len(test), C] of `setting` trained on utterances `train`."""
        if self.family == "tfemo":
            return self._keras(setting, train, test, seed)
        if "members" in setting:
            return np.mean([self.fit_predict(m, train, test, seed) for m in setting["members"]],
                           axis=0)
        stochastic = "svm_c" in setting  # seeded (SVC's probability folds before main's change)
        key = _key(setting, train, test, seed if stochastic else 0)
        cache = self.data["cache"]
        if key not in cache:
            from tfemo.models.registry import model_spec

            spec = model_spec("svm" if stochastic else "logreg")
            options = {k: v for k, v in setting.items() if k not in ("features", "alone")}
            vectors, speakers = self.vectors(setting), self.data["speakers"]
            _, layout = self.columns(setting.get("features", "base"))
            estimator = spec.build(layout, spec.config(**options))
            estimator.set_seed(seed)
            estimator.fit(vectors[train], self.data["labels"][train], speakers[train])
            # "alone": every test file scored by itself, as tfemo.predict does (no speaker
            # statistics: the training speakers' average ones)
            cache[key] = estimator.probabilities(
                vectors[test], None if setting.get("alone") else speakers[test])
        return cache[key]

    def _keras(self, setting: dict, train: np.ndarray, test: np.ndarray,
               seed: int) -> np.ndarray:
        """tfemo's utterance classifier: the pooled vector it computes (standardised with the
        training frames' statistics, then its masked statistics: the same numbers, from the
        raw statistics computed once) into its own head layers, trained like tfemo.train."""
        import keras
        import tensorflow as tf

        from tfemo.models.conv1d import MIN_STD, Conv1DClassifier

        keras.utils.set_random_seed(seed)
        labels, dim = self.data["labels"], self.feature_dim
        width = (5 if setting["variant"] == "utterance_rich" else 2) * dim
        vectors = self.rich[:, :width].copy()
        if not self.speaker_normalise:  # train-only statistics, from the training frames
            frames = self.data["features"][train][self.data["mask"][train]]
            mu, sigma = frames.mean(axis=0), np.maximum(frames.std(axis=0), MIN_STD)
            vectors[:, :dim] = (vectors[:, :dim] - mu) / sigma
            variance = np.maximum(vectors[:, dim:2 * dim] ** 2 - _EPSILON, 0.0)
            vectors[:, dim:2 * dim] = np.sqrt(variance / sigma ** 2 + _EPSILON)
            if width > 2 * dim:
                vectors[:, 2 * dim:4 * dim] = (vectors[:, 2 * dim:4 * dim]
                                               - np.tile(mu, 2)) / np.tile(sigma, 2)
                vectors[:, 4 * dim:] /= sigma
        model = Conv1DClassifier(feature_dim=dim, class_names=self.data["classes"],
                                 variant=setting["variant"], dropout=setting["dropout"],
                                 hidden=TFEMO_TRAIN["hidden"])
        head = _Head(model)
        counts = np.bincount(labels[train], minlength=len(self.data["classes"]))
        weights = np.where(counts > 0, len(train) / (np.count_nonzero(counts)
                                                       * np.maximum(counts, 1)), 0.0)
        head.compile(optimizer=keras.optimizers.AdamW(TFEMO_TRAIN["learning_rate"],
                                                      weight_decay=TFEMO_TRAIN["weight_decay"]),
                     loss=keras.losses.SparseCategoricalCrossentropy())
        batch = TFEMO_TRAIN["batch_size"]
        stream = (tf.data.Dataset.from_tensor_slices(
            (vectors[train].astype(np.float32), labels[train],
             weights[labels[train]].astype(np.float32)))
            .shuffle(len(train), seed=seed).repeat().batch(batch, drop_remainder=True))
        per_epoch = max(1, len(train) // batch)
        head.fit(stream, steps_per_epoch=per_epoch,
                 epochs=math.ceil(self.steps / per_epoch), verbose=0)
        return head.predict(vectors[test].astype(np.float32), batch_size=256, verbose=0)

    steps = 400


_EPSILON = 1e-6  # the variance epsilon of conv1d's masked std


def _head_class():
    import keras

    class Head(keras.Model):
        """The head layers of a Conv1DClassifier (pooled norm, dropout, dense, softmax)."""

        def __init__(self, model, **kwargs):
            super().__init__(**kwargs)
            self.inner = model

        def call(self, x, training=None):
            m = self.inner
            if m.use_pooled_norm:
                x = m.pooled_norm(x, training=training)
            x = m.dropout(x, training=training)
            return m.classifier(m.dropout(m.dense(x), training=training))

    return Head


def _Head(model):  # noqa: N802 - a class made on first use (keras imported lazily)
    return _head_class()(model)


def uar(labels: np.ndarray, probabilities: np.ndarray, classes: int) -> float:
    """Unweighted average recall over the classes present."""
    from tfemo.scoring.metrics import classification_scores

    return classification_scores(labels, probabilities.argmax(axis=1), classes)["uar"]


def select(candidates: Candidates, grid: list[dict], test_speaker: str, seed: int,
           inner_folds: int, calibration_folds: int = 0) -> tuple[int, list[float], list[float]]:
    """The setting chosen on inner folds of the other speakers of `test_speaker`'s outer fold
    (its index), and every setting's inner UAR and temperature fit on its inner predictions
    (with `calibration_folds`, the chosen setting's temperature is fit on out-of-fold
    predictions of that many speaker folds instead: more folds, inner models closer to the
    final one)."""
    from tfemo.scoring.calibration import fit_temperature
    from tfemo.training.inner_calibration import speaker_groups

    data = candidates.data
    classes = len(data["classes"])
    speakers = data["speakers"]
    pool_index = np.flatnonzero(speakers != test_speaker)
    groups = speaker_groups(speakers[pool_index], inner_folds, seed)
    scores, temperatures = [], []
    for setting in grid:
        oof = np.zeros((len(speakers), classes), np.float32)
        for group in groups:
            held = np.isin(speakers, group)
            inner_train = np.flatnonzero(~held & (speakers != test_speaker))
            inner_test = np.flatnonzero(held)
            oof[inner_test] = candidates.fit_predict(setting, inner_train, inner_test, seed)
        scores.append(uar(data["labels"][pool_index], oof[pool_index], classes))
        temperatures.append(fit_temperature(oof[pool_index], data["labels"][pool_index]))
    best = int(np.argmax(scores))  # ties: the first
    if calibration_folds and calibration_folds != inner_folds:
        oof = np.zeros((len(speakers), classes), np.float32)
        for group in speaker_groups(speakers[pool_index], calibration_folds, seed):
            held = np.isin(speakers, group)
            oof[held] = candidates.fit_predict(grid[best], np.flatnonzero(
                ~held & (speakers != test_speaker)), np.flatnonzero(held), seed)
        temperatures[best] = fit_temperature(oof[pool_index], data["labels"][pool_index])
    return best, scores, temperatures


def evaluate_family(family: str, data: dict, speaker_normalise: bool, seeds: list[int],
                    inner_folds: int, steps: int, per_seed: bool = False,
                    calibration_folds: int = 0) -> dict:
    """Every seed's pooled test scores, the seeds' ensemble and every setting's inner UAR per
    outer fold, for one model family."""
    from tfemo.scoring.calibration import apply_temperature, ece, fit_temperature, nll
    from tfemo.scoring.metrics import classification_scores
    from tfemo.training.inner_calibration import temperature_warning

    candidates = Candidates(family, data, speaker_normalise)
    candidates.steps = steps
    labels, classes = data["labels"], len(data["classes"])
    test_speakers = sorted(set(data["speakers"]))
    raw = {s: np.zeros((len(labels), classes)) for s in seeds}
    calibrated = {s: np.zeros((len(labels), classes)) for s in seeds}
    chosen: Counter = Counter()
    inner = {json.dumps(g, sort_keys=True): [] for g in GRID[family]}
    at_bound = 0
    for speaker in test_speakers:
        # selection once per outer fold (inner split of the first seed) and each seed retrains;
        # with per_seed, each seed also shuffles its own inner split and selects again
        rows = data["speakers"] == speaker
        train = np.flatnonzero(~rows)
        selected = {}
        for seed in seeds:
            if seed == seeds[0] or per_seed:
                selected[seed] = select(candidates, GRID[family], speaker, seed, inner_folds,
                                        calibration_folds)
            best, scores, temperatures = selected.get(seed, selected[seeds[0]])
            chosen[best] += seed == seeds[0] or per_seed
            p = candidates.fit_predict(GRID[family][best], train, np.flatnonzero(rows), seed)
            raw[seed][rows] = p
            calibrated[seed][rows] = apply_temperature(p, temperatures[best])
            at_bound += temperature_warning(temperatures[best]) is not None
        best, scores, temperatures = selected[seeds[0]]
        for setting, score in zip(GRID[family], scores, strict=True):
            inner[json.dumps(setting, sort_keys=True)].append(score)
        print(f"  {family} test speaker {speaker}: chose {GRID[family][best]} (inner UAR "
              f"{scores[best]:.3f}, T={temperatures[best]:.2f}); test UAR (seed {seeds[0]}) "
              f"{uar(labels[rows], raw[seeds[0]][rows], classes):.3f}", flush=True)

    def scored(p):
        s = classification_scores(labels, p.argmax(axis=1), classes)
        return {"uar": s["uar"], "wa": s["wa"], "nll": nll(p, labels), "ece": ece(p, labels)}
    per_seed_scores = {s: {"raw": scored(raw[s]), "calibrated": scored(calibrated[s])}
                       for s in seeds}
    ensemble = np.mean([raw[s] for s in seeds], axis=0)
    ensemble_cal = np.mean([calibrated[s] for s in seeds], axis=0)
    first = raw[seeds[0]]
    return {"per_seed": per_seed_scores, "ensemble": {"raw": scored(ensemble),
                                                      "calibrated": scored(ensemble_cal)},
            "chosen": {json.dumps(GRID[family][k]): n for k, n in chosen.most_common()},
            "inner": inner, "temperatures_at_bound": at_bound,
            # the spread over test speakers (the first seed): what the seeds cannot show
            "fold_uar": [uar(labels[data["speakers"] == s], first[data["speakers"] == s],
                             classes) for s in test_speakers],
            # never used to choose: the ECE at the temperature fit on these test predictions
            # themselves (no single temperature does better), and the ECE a perfectly
            # calibrated model with these confidences shows on this many files
            "ece_bound": ece(apply_temperature(first, fit_temperature(first, labels)), labels),
            "ece_floor": ece_floor(calibrated[seeds[0]])}


def ece_floor(probabilities: np.ndarray, draws: int = 100) -> float:
    """The mean ECE of `probabilities` against labels drawn from them (a perfectly calibrated
    model's ECE on this many files: the noise floor of the estimate)."""
    from tfemo.scoring.calibration import ece

    rng = np.random.default_rng(0)
    p = probabilities / probabilities.sum(axis=1, keepdims=True)
    cumulative = p.cumsum(axis=1)
    values = []
    for _ in range(draws):
        drawn = (rng.random((len(p), 1)) > cumulative).sum(axis=1).clip(max=p.shape[1] - 1)
        values.append(ece(p, drawn))
    return float(np.mean(values))


def files_alone(data: dict, setting: dict, seeds: list[int]) -> list[float]:
    """Pooled test UAR per seed of `setting` when every test file is scored alone (what
    tfemo.predict does with new files), each outer fold retrained on the other speakers."""
    candidates = Candidates("recipe", data, False)
    labels, speakers = data["labels"], data["speakers"]
    out = []
    for seed in seeds:
        predicted = np.zeros((len(labels), len(data["classes"])))
        for speaker in sorted(set(speakers)):
            rows = np.flatnonzero(speakers == speaker)
            predicted[rows] = candidates.fit_predict({**setting, "alone": True},
                                                     np.flatnonzero(speakers != speaker),
                                                     rows, seed)
        out.append(uar(labels, predicted, len(data["classes"])))
    return out


def choose_recipe(results: dict) -> tuple[dict, dict[str, float]]:
    """The RECIPE_FAMILIES setting with the best mean inner UAR over the corpora (each
    corpus: the mean over its outer folds and normalisations), and every setting's mean."""
    means = mean_inner_uar(results, RECIPE_FAMILIES)
    best = max(means, key=means.get)
    return json.loads(best), means


def mean_inner_uar(results: dict, families: tuple[str, ...]) -> dict[str, float]:
    """Each setting of `families`: the mean over corpora of its mean inner UAR over the
    corpus's outer folds and normalisations."""
    per_corpus: dict[str, dict[str, list[float]]] = {}
    for (corpus, family, _), result in results.items():
        if family in families:
            for setting, scores in result["inner"].items():
                per_corpus.setdefault(setting, {}).setdefault(corpus, []).extend(scores)
    return {setting: float(np.mean([np.mean(v) for v in corpora.values()]))
            for setting, corpora in per_corpus.items()}


# --few_speakers: the shipped recipe against the baseline's most chosen setting, both fixed
RECIPE = Path(__file__).resolve().parents[1] / "configs" / "emotion-default.toml"
# the records' features the recipe expects: FEATURES, and tilt for the gemaps functionals
RECIPE_FEATURES = {False: "base", True: "tilt"}
FEW_BASELINE = {"statistics": "rich", "svm_c": 10.0, "kernel": "rbf"}


def recipe_setting() -> tuple[str, dict]:
    """(model, the settings the estimator grid knows) of configs/emotion-default.toml."""
    import tomllib

    recipe = tomllib.loads(RECIPE.read_text())
    keys = {"statistics", "logreg_c", "svm_c", "kernel", "utterance_norm", "gemaps_weight"}
    return recipe["model"], {**{k: v for k, v in recipe.items() if k in keys},
                             "features": RECIPE_FEATURES["gemaps" in recipe["statistics"]]}


def ensemble_grid(recipe: dict) -> list[dict]:
    """The recipe, the recipe beside each of ENSEMBLE_PARTNERS, and the partners alone."""
    return ([recipe] + [{"members": [recipe, partner]} for partner in ENSEMBLE_PARTNERS]
            + ENSEMBLE_PARTNERS)


def few_speakers(data: dict, counts: list[int], draws: list[int],
                 speaker_normalise: bool) -> dict:
    """Pooled test UAR of the recipe and the baseline trained on only k random speakers of each
    outer fold's others (per k and draw): does the recipe hold with few training speakers?"""
    model, setting = recipe_setting()
    rows = {"recipe": (model, setting), "svm baseline": ("svm", FEW_BASELINE)}
    labels, classes = data["labels"], len(data["classes"])
    speakers = data["speakers"]
    out: dict = {}
    for name, (family, chosen) in rows.items():
        candidates = Candidates(family, data, speaker_normalise)
        for k in counts:
            scores = []
            for draw in draws:
                predicted = np.zeros((len(labels), classes))
                for test_speaker in sorted(set(speakers)):
                    pool = sorted(set(speakers) - {test_speaker})
                    chosen_speakers = np.random.default_rng([draw, k]).permutation(pool)[:k]
                    train = np.flatnonzero(np.isin(speakers, chosen_speakers))
                    rows_test = np.flatnonzero(speakers == test_speaker)
                    predicted[rows_test] = candidates.fit_predict(chosen, train, rows_test, draw)
                scores.append(uar(labels, predicted, classes))
            out[(name, k)] = scores
            print(f"  {name}, {k} training speakers: UAR {np.mean(scores):.3f} ± "
                  f"{np.std(scores, ddof=1):.3f}", flush=True)
    return out


def print_few_speakers(results: dict[str, dict]) -> None:
    """The table of --few_speakers: pooled UAR mean ± sd over the draws, per normalisation."""
    counts = sorted({k for r in results.values() for _, k in r})
    print("| model | normalisation | " + " | ".join(f"{k} speakers" for k in counts) + " |")
    print("|---|---|" + "---|" * len(counts))
    for normalise, result in results.items():
        for name in dict.fromkeys(n for n, _ in result):
            cells = [f"{np.mean(result[(name, k)]):.3f} ± {np.std(result[(name, k)], ddof=1):.3f}"
                     for k in counts]
            print(f"| {name} | {NORMALISATIONS[normalise]} | " + " | ".join(cells) + " |")


def leave_one_corpus_out(corpora: dict[str, Path], cache_dir: Path, recipe: dict,
                         seeds: list[int]) -> dict:
    """UAR / WA on each corpus (shared classes) of the recipe and the svm baseline trained on
    the other corpora, per normalisation: mean over the seeds (and their values)."""
    out: dict = {}
    names = {**SHARED_NAMES, **{c: c for c in SHARED_CLASSES}}
    for normalise in NORMALISATIONS:
        sets = {name: corpus_data(name, path, cache_dir, normalise == "speaker", names)
                for name, path in corpora.items()}
        data = merged(list(sets.values()))
        corpus_of = np.array([s.split("/")[0] for s in data["speakers"]])
        for model, setting in (("svm baseline", FEW_BASELINE), ("recipe", recipe)):
            candidates = Candidates(model, data, normalise == "speaker")
            for test in corpora:
                rows = np.flatnonzero(corpus_of == test)
                train = np.flatnonzero(corpus_of != test)
                scores = []
                for seed in seeds:
                    p = candidates.fit_predict(setting, train, rows, seed)
                    from tfemo.scoring.metrics import classification_scores

                    s = classification_scores(data["labels"][rows], p.argmax(axis=1),
                                              len(SHARED_CLASSES))
                    scores.append((s["uar"], s["wa"]))
                out[(model, normalise, test)] = scores
                print(f"  leave {test} out, {model}, {NORMALISATIONS[normalise]}: UAR "
                      f"{np.mean([u for u, _ in scores]):.3f}", flush=True)
    return out


def print_loco(results: dict, corpora: list[str]) -> None:
    """The leave-one-corpus-out table: UAR / WA (mean ± sd over seeds) per test corpus."""
    print("| model | normalisation | " + " | ".join(f"test {c}" for c in corpora) + " | mean |")
    print("|---|---|" + "---|" * (len(corpora) + 1))
    for model in ("svm baseline", "recipe"):
        for normalise in NORMALISATIONS:
            cells, means = [], []
            for corpus in corpora:
                u = [a for a, _ in results[(model, normalise, corpus)]]
                w = [b for _, b in results[(model, normalise, corpus)]]
                cells.append(f"{np.mean(u):.3f} ± {np.std(u, ddof=1):.3f} / {np.mean(w):.3f}")
                means.append(np.mean(u))
            print(f"| {model} | {NORMALISATIONS[normalise]} | " + " | ".join(cells)
                  + f" | {np.mean(means):.3f} |")


def parse_args() -> argparse.Namespace:
    here = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", type=Path, default=here.parent / "shared/data",
                        help="the folder holding the corpora (emodb/, emovo/, casia/, turevdb/)")
    parser.add_argument("--corpora", default=",".join(CORPORA),
                        help="comma-separated names of " + ",".join(CORPORA)
                             + ", or NAME=PATH (an EMO-DB folder or a path,speaker,label "
                               "manifest)")
    parser.add_argument("--cache", type=Path, default=Path("features/classify"),
                        help="where each corpus's frame features are kept (made once)")
    parser.add_argument("--models", default=DEFAULT_MODELS, help="subset of " + ",".join(GRID))
    parser.add_argument("--normalise", default=",".join(NORMALISATIONS),
                        help="subset of " + ",".join(NORMALISATIONS))
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (>= 3)")
    parser.add_argument("--inner_folds", type=int, default=3,
                        help="speaker groups of the inner validation")
    parser.add_argument("--calibration_folds", type=int, default=10,
                        help="speaker folds of the chosen setting's calibration temperature "
                             "(the recipe's calibration_folds: 10 leaves one training speaker "
                             "out per fold, up to 10; 0: the selection's inner folds)")
    parser.add_argument("--steps", type=int, default=400, help="tfemo: training steps per fit")
    parser.add_argument("--selection", choices=("once", "per_seed"), default="once",
                        help="select once per outer fold (the first seed's inner split), or "
                             "per seed, each with its own inner split (3 x the search)")
    parser.add_argument("--few_speakers", default="",
                        help="also train the shipped recipe and the baseline on only k random "
                             "speakers of each fold, e.g. 3,5 (3 draws each: the seeds)")
    parser.add_argument("--loco", action="store_true",
                        help="also leave one corpus out on the shared classes")
    parser.add_argument("--output", type=Path, default=Path("reports/classify.json"),
                        help="where the results are written as JSON")
    return parser.parse_args()


def corpus_paths(text: str, data_dir: Path) -> dict[str, Path]:
    """--corpora as name -> path (a known name's path under --data_dir, or NAME=PATH)."""
    out = {}
    for entry in (e.strip() for e in text.split(",") if e.strip()):
        name, _, path = entry.partition("=")
        if not path and name not in CORPORA:
            raise SystemExit(f"--corpora: unknown corpus {name!r}; known {', '.join(CORPORA)}"
                             " (or NAME=PATH)")
        out[name] = Path(path) if path else data_dir / CORPORA[name]
        if not out[name].exists():
            raise SystemExit(f"--corpora: {out[name]} does not exist")
    return out


def main() -> None:
    args = parse_args()
    one_blas_thread()
    started = time.perf_counter()
    corpora = corpus_paths(args.corpora, args.data_dir)
    seeds = [int(s) for s in args.seeds.split(",")]
    families = [f for f in args.models.split(",") if f and f != "none"]
    normalisations = args.normalise.split(",")
    if "ensemble" in families:
        GRID["ensemble"] = ensemble_grid(recipe_setting()[1])
    results, minutes, few, datasets = {}, {}, {}, {}
    for corpus, path in corpora.items():
        for normalise in normalisations:
            data = corpus_data(corpus, path, args.cache, normalise == "speaker")
            datasets[(corpus, normalise)] = data
            load_cache(data, cache_file(args.cache, corpus, normalise))
            if args.few_speakers:
                print(f"=== {corpus}: few training speakers, {NORMALISATIONS[normalise]}")
                few[(corpus, normalise)] = few_speakers(
                    data, [int(k) for k in args.few_speakers.split(",")], seeds,
                    normalise == "speaker")
            for family in families:
                begun = time.perf_counter()
                print(f"=== {corpus}: {family}, {NORMALISATIONS[normalise]}", flush=True)
                results[(corpus, family, normalise)] = evaluate_family(
                    family, data, normalise == "speaker", seeds, args.inner_folds, args.steps,
                    args.selection == "per_seed", args.calibration_folds)
                minutes[(corpus, family, normalise)] = (time.perf_counter() - begun) / 60
                save_cache(data, cache_file(args.cache, corpus, normalise))
    recipe, means, alone = None, {}, {}
    if any(f in RECIPE_FAMILIES for f in families):
        recipe, means = choose_recipe(results)
        print("=== mean inner UAR over the corpora (the recipe is the best):")
        for setting, value in sorted(means.items(), key=lambda kv: -kv[1]):
            print(f"  {value:.4f}  {setting}")
        GRID["recipe"] = [recipe]
        for (corpus, normalise), data in datasets.items():
            print(f"=== {corpus}: the recipe {recipe}, {NORMALISATIONS[normalise]}", flush=True)
            begun = time.perf_counter()
            results[(corpus, "recipe", normalise)] = evaluate_family(
                "recipe", data, normalise == "speaker", seeds, args.inner_folds, args.steps,
                calibration_folds=args.calibration_folds)
            if recipe.get("utterance_norm") == "speaker":
                alone[(corpus, normalise)] = files_alone(data, recipe, seeds)
            minutes[(corpus, "recipe", normalise)] = (time.perf_counter() - begun) / 60
            save_cache(data, cache_file(args.cache, corpus, normalise))
    if "ensemble" in families:
        print("=== ensembles, mean inner UAR over the corpora (not a recipe):")
        for setting, value in sorted(mean_inner_uar(results, ("ensemble",)).items(),
                                     key=lambda kv: -kv[1]):
            print(f"  {value:.4f}  {setting}")
    loco = {}
    if args.loco:
        print("=== leave one corpus out", flush=True)
        loco = leave_one_corpus_out(corpora, args.cache, recipe or recipe_setting()[1], seeds)
    total = (time.perf_counter() - started) / 60
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(
        {"recipe": recipe, "mean_inner_uar": means,
         **{f"{c}-{f}-{n}": {**r, "minutes": minutes[(c, f, n)]}
            for (c, f, n), r in results.items()},
         **{f"few-{c}-{n}": {f"{name}-{k}": v for (name, k), v in r.items()}
            for (c, n), r in few.items()},
         **{f"loco-{m}-{n}-{c}": v for (m, n, c), v in loco.items()},
         **{f"alone-{c}-{n}": v for (c, n), v in alone.items()}},
        indent=1, default=str))
    for corpus in corpora:
        rows = {(f, n): r for (c, f, n), r in results.items() if c == corpus}
        if rows:
            print(f"\n{corpus}:")
            print_table(rows, {(f, n): m for (c, f, n), m in minutes.items() if c == corpus},
                        len(seeds))
    if results:
        print_summary(results, list(corpora), alone)
    for (corpus, normalise), result in few.items():
        print(f"\n{corpus}, few training speakers:")
        print_few_speakers({normalise: result})
    if loco:
        print("\nleave one corpus out (shared classes angry, happy, neutral, sad): UAR / WA")
        print_loco(loco, list(corpora))
    print(f"whole benchmark: {total:.1f} min")


def _stat(r: dict, key: str, kind: str = "raw") -> str:
    values = [s[kind][key] for s in r["per_seed"].values()]
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def print_table(results: dict, minutes: dict, seeds: int) -> None:
    """One corpus's markdown table: UAR / WA mean ± sd over seeds, ECE before -> after
    calibration, and the ensemble of the seeds."""
    normalisations = sorted({n for _, n in results}, key=list(NORMALISATIONS).index)
    header = "| model | " + " | ".join(
        f"UAR / WA, {NORMALISATIONS[n]} | ECE before -> after, {NORMALISATIONS[n]}"
        for n in normalisations) + " | minutes |"
    lines = [header, "|---" * (2 + 2 * len(normalisations)) + "|"]
    for family in dict.fromkeys(f for f, _ in results):
        for row in ("seeds", "ensemble"):
            cells = []
            for n in normalisations:
                r = results.get((family, n))
                if r is None:
                    cells += ["-", "-"]
                elif row == "seeds":
                    cells += [f"{_stat(r, 'uar')} / {_stat(r, 'wa')}",
                              f"{_stat(r, 'ece')} -> {_stat(r, 'ece', 'calibrated')}"]
                else:
                    e = r["ensemble"]
                    cells += [f"{e['raw']['uar']:.3f} / {e['raw']['wa']:.3f}",
                              f"{e['raw']['ece']:.3f} -> {e['calibrated']['ece']:.3f}"]
            if row == "seeds":
                spent = sum(minutes.get((family, n), 0.0) for n in normalisations)
                lines.append(f"| {family} (mean ± sd, {seeds} seeds) | " + " | ".join(cells)
                             + f" | {spent:.1f} |")
            else:
                lines.append(f"| {family} ensemble of {seeds} seeds | " + " | ".join(cells)
                             + " | |")
    print("\n".join(lines))
    for (family, n), r in results.items():
        print(f"{family}, {NORMALISATIONS[n]}: chosen settings (outer folds): "
              + "; ".join(f"{k} x{v}" for k, v in r["chosen"].items())
              + f"; temperatures at a bound: {r['temperatures_at_bound']}")


def print_summary(results: dict, corpora: list[str], alone: dict) -> None:
    """The done-when table: UAR of the recipe, the svm baseline and the issue's plain
    functional SVM per corpus and normalisation, the recipe's ECE after calibration, and the
    recipe's UAR when each test file is scored alone (tfemo.predict without a speaker
    column); then the recipe's spread over test speakers and what bounds its ECE."""
    print("\n| corpus | normalisation | recipe UAR | svm baseline UAR | recipe - svm | plain "
          "functional SVM (issue 22) | recipe ECE after calibration | recipe UAR, files "
          "alone |")
    print("|---|---|---|---|---|---|---|---|")
    spread = []
    for corpus in corpora:
        for k, normalise in enumerate(NORMALISATIONS):
            recipe = results.get((corpus, "recipe", normalise))
            svm = results.get((corpus, "svm", normalise))
            if recipe is None or svm is None:
                continue
            gain = 100 * (np.mean([s["raw"]["uar"] for s in recipe["per_seed"].values()])
                          - np.mean([s["raw"]["uar"] for s in svm["per_seed"].values()]))
            plain = PLAIN_SVM.get(corpus, (math.nan, math.nan))[k]
            lone = alone.get((corpus, normalise))
            lone = f"{np.mean(lone):.3f}" if lone else "-"
            print(f"| {corpus} | {NORMALISATIONS[normalise]} | {_stat(recipe, 'uar')} | "
                  f"{_stat(svm, 'uar')} | {gain:+.1f} | {plain / 100:.3f} | "
                  f"{_stat(recipe, 'ece', 'calibrated')} | {lone} |")
            folds = recipe["fold_uar"]
            spread.append(f"| {corpus} | {NORMALISATIONS[normalise]} | {np.mean(folds):.3f} ± "
                          f"{np.std(folds, ddof=1):.3f} ({min(folds):.3f} to {max(folds):.3f})"
                          f" | {_stat(recipe, 'ece', 'calibrated')} | "
                          f"{recipe['ece_bound']:.3f} | {recipe['ece_floor']:.3f} |")
    if spread:
        print("\n| corpus | normalisation | recipe UAR per test speaker, mean ± sd (range) | "
              "ECE after calibration | ECE at the test predictions' own temperature (never "
              "used to choose) | ECE of a perfectly calibrated model, these files |")
        print("|---|---|---|---|---|---|")
        print("\n".join(spread))


if __name__ == "__main__":
    main()
