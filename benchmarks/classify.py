#!/usr/bin/env python
"""EMO-DB leave-one-speaker-out with model selection on inner folds only, beside the baselines.

Protocol (the same for tfemo's utterance classifier and the svm / logreg baselines):
for every outer fold (one test speaker; the other 9 are its train + devel speakers), the 9
speakers are split by speaker into --inner_folds groups (shuffled with the first seed); every
setting of the model's GRID (declared below) is trained on all groups but one and scored on
the held-out group, in turn; the setting with the best inner UAR (pooled over the inner
folds; ties: the first, most regularised, in GRID order) is retrained on the 9 speakers with
each seed and scores the test speaker once. (Selection runs once per outer fold to keep the
benchmark within reach of 2 shared cores; the seeds vary the weights and data order of the
retrained model. The baselines are deterministic (the svm calibrates on fixed folds), so
`--selection per_seed` gives each seed its own inner split and selection: then the sd over
seeds says how much the choice of inner speakers moves the result.)
The test speakers never choose anything. A temperature is fit
on the chosen setting's inner (held-out speaker) predictions and applied to the test
predictions (NLL and ECE, 15 bins, before and after). Reported: pooled UAR / WA over the 535
utterances as mean ± sd over the seeds, and an ensemble row (the seeds' test probabilities
averaged), without and with per-speaker feature normalisation.

The records are made once by tools/make_tfrecords.py (LOSO folds, hand-crafted features);
every utterance is read once (from fold-01, all portions) and reused by every fold: the
feature statistics tfemo's model standardises with are recomputed from each training set's
own frames, and the per-speaker statistics need no labels. tfemo's model is the
`--model conv1d --variant utterance_rich` classifier (its own head layers, trained in-process
with the settings in TFEMO_TRAIN on the pooled vector it computes); the baselines are
`--model svm|logreg`'s estimators. The winning settings are printed per outer fold. The
family with the best mean inner UAR is the README's recipe (configs/emotion-default.toml).

    python benchmarks/classify.py [--data_dir ../shared/data/emodb] [--skip_records]
"""

from __future__ import annotations

import tfemo.core.quiet  # noqa: F401  (before TensorFlow loads)

import argparse
import json
import math
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

FEATURES = "zcr,rms,mfcc,chroma,mel_db,contrast,entropy,pitch"
NORMALISATIONS = {"train": "train-set statistics", "speaker": "per speaker"}
# The grids, most regularised first (ties go to the first).
GRID = {
    # the baseline: an RBF SVM on the standardised mean/std (basic) or rich statistics
    "svm": [{"statistics": s, "svm_c": c, "kernel": "rbf"} for s in ("basic", "rich")
            for c in (1.0, 10.0)],
    "logreg": [{"statistics": s, "logreg_c": c} for s in ("basic", "rich", "full")
               for c in (0.01, 0.1)],
    # not a baseline: the SVM on the full functionals too, to show what the features give
    "svm-full": [{"statistics": "full", "svm_c": c, "kernel": "rbf"} for c in (1.0, 10.0)],
    # rich statistics only: every baseline's inner validation prefers them (and 2 settings
    # keep the neural grid within the benchmark's time on 2 shared cores)
    "tfemo": [{"variant": "utterance_rich", "dropout": d} for d in (0.5, 0.3)],
}
# tfemo's conv1d training settings (those of the README's conv1d command)
TFEMO_TRAIN = {"batch_size": 16, "learning_rate": 1e-3, "weight_decay": 1e-4, "hidden": 128}


def run(command: list[str]) -> None:
    """Run a tfemo command line, failing loudly."""
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def load_utterances(records: Path, speaker_normalise: bool) -> dict:
    """Every utterance of the records (all portions): padded features [N, T, F], mask [N, T],
    labels, speakers and ids, read once."""
    from tfemo.records.description import DatasetDescription
    from tfemo.records.reader import make_dataset

    description = DatasetDescription.read(records)
    data = make_dataset(records, "+".join(description.portions), sequence_length=None,
                        batch_size=64, shuffle=False, seed=0, features=("features",),
                        speaker_normalise=speaker_normalise)
    rows = []
    for batch in data:
        for i, count in enumerate(batch["num_frames"].numpy()):
            rows.append((batch["features"][i, :count].numpy(), int(batch["label"][i]),
                         batch["speaker"][i].numpy().decode(), batch["id"][i].numpy().decode()))
    longest = max(len(r[0]) for r in rows)
    features = np.zeros((len(rows), longest, rows[0][0].shape[1]), np.float32)
    mask = np.zeros((len(rows), longest), bool)
    for n, (frames, *_rest) in enumerate(rows):
        features[n, :len(frames)] = frames
        mask[n, :len(frames)] = True
    return {"features": features, "mask": mask, "labels": np.array([r[1] for r in rows]),
            "speakers": np.array([r[2] for r in rows]), "ids": [r[3] for r in rows],
            "classes": tuple(description.label_names), "description": description}


class Candidates:
    """Fit-and-predict for one model family on index sets of the utterances."""

    def __init__(self, family: str, data: dict, speaker_normalise: bool) -> None:
        from tfemo.models.estimator import utterance_statistics

        self.family, self.data, self.speaker_normalise = family, data, speaker_normalise
        self.rich = utterance_statistics(data["features"], data["mask"], rich=True)
        self.feature_dim = data["features"].shape[2]
        self._full = None

    @property
    def full(self) -> np.ndarray:
        """The "full" functionals of every utterance, computed on first use."""
        if self._full is None:
            from tfemo.models.estimator import estimator_layout
            from tfemo.models.functionals import utterance_functionals

            layout = estimator_layout(self.data["description"])
            self._full = utterance_functionals(self.data["features"], self.data["mask"],
                                               layout["pitch_column"], layout["frame_seconds"])
        return self._full

    def fit_predict(self, setting: dict, train: np.ndarray, test: np.ndarray,
                    seed: int) -> np.ndarray:
        """Class probabilities [len(test), C] of `setting` trained on utterances `train`."""
        if self.family == "tfemo":
            return self._keras(setting, train, test, seed)
        from tfemo.models.registry import model_spec

        spec = model_spec(self.family.split("-")[0])  # svm-full is --model svm
        estimator = spec.build(self.data["description"], spec.config(**setting))
        estimator.set_seed(seed)
        if setting["statistics"] == "full":
            vectors = self.full
        else:
            vectors = self.rich[:, :(5 if setting["statistics"] == "rich" else 2)
                                * self.feature_dim]
        estimator.fit(vectors[train], self.data["labels"][train])
        return estimator.probabilities(vectors[test])

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
           inner_folds: int) -> tuple[int, float, float]:
    """The setting chosen on inner folds of the train + devel speakers of `test_speaker`'s
    outer fold (its index), its inner UAR and the temperature fit on its inner predictions."""
    from tfemo.scoring.calibration import fit_temperature

    data = candidates.data
    classes = len(data["classes"])
    speakers = data["speakers"]
    pool = sorted(set(speakers) - {test_speaker})
    order = np.random.default_rng(seed).permutation(pool)
    groups = [order[k::inner_folds] for k in range(inner_folds)]
    pool_index = np.flatnonzero(speakers != test_speaker)
    best, best_uar, best_oof = 0, -1.0, None
    for index, setting in enumerate(grid):
        oof = np.zeros((len(speakers), classes), np.float32)
        for group in groups:
            held = np.isin(speakers, group)
            inner_train = np.flatnonzero(~held & (speakers != test_speaker))
            inner_test = np.flatnonzero(held)
            oof[inner_test] = candidates.fit_predict(setting, inner_train, inner_test, seed)
        score = uar(data["labels"][pool_index], oof[pool_index], classes)
        if score > best_uar + 1e-9:
            best, best_uar, best_oof = index, score, oof[pool_index]
    return best, best_uar, fit_temperature(best_oof, data["labels"][pool_index])


def evaluate_family(family: str, data: dict, speaker_normalise: bool, seeds: list[int],
                    inner_folds: int, steps: int, per_seed: bool = False) -> dict:
    """Every seed's pooled test scores and the seeds' ensemble for one model family."""
    from tfemo.scoring.calibration import apply_temperature, ece, nll
    from tfemo.scoring.metrics import classification_scores

    candidates = Candidates(family, data, speaker_normalise)
    candidates.steps = steps
    labels, classes = data["labels"], len(data["classes"])
    test_speakers = sorted(set(data["speakers"]))
    raw = {s: np.zeros((len(labels), classes)) for s in seeds}
    calibrated = {s: np.zeros((len(labels), classes)) for s in seeds}
    chosen: Counter = Counter()
    for speaker in test_speakers:
        # selection once per outer fold (inner split of the first seed) and each seed retrains;
        # with per_seed, each seed also shuffles its own inner split and selects again
        rows = data["speakers"] == speaker
        train = np.flatnonzero(~rows)
        selected = {}
        for seed in seeds:
            if seed == seeds[0] or per_seed:
                selected[seed] = select(candidates, GRID[family], speaker, seed, inner_folds)
            best, inner, temperature = selected.get(seed, selected[seeds[0]])
            chosen[best] += seed == seeds[0] or per_seed
            p = candidates.fit_predict(GRID[family][best], train, np.flatnonzero(rows), seed)
            raw[seed][rows], calibrated[seed][rows] = p, apply_temperature(p, temperature)
        best, inner, temperature = selected[seeds[0]]
        print(f"  {family} test speaker {speaker}: chose {GRID[family][best]} (inner UAR "
              f"{inner:.3f}, T={temperature:.2f}); test UAR (seed {seeds[0]}) "
              f"{uar(labels[rows], raw[seeds[0]][rows], classes):.3f}", flush=True)
    def scores(p):
        s = classification_scores(labels, p.argmax(axis=1), classes)
        return {"uar": s["uar"], "wa": s["wa"], "nll": nll(p, labels), "ece": ece(p, labels)}
    per_seed = {s: {"raw": scores(raw[s]), "calibrated": scores(calibrated[s])} for s in seeds}
    ensemble = np.mean([raw[s] for s in seeds], axis=0)
    ensemble_cal = np.mean([calibrated[s] for s in seeds], axis=0)
    return {"per_seed": per_seed, "ensemble": {"raw": scores(ensemble),
                                               "calibrated": scores(ensemble_cal)},
            "chosen": {json.dumps(GRID[family][k]): n for k, n in chosen.most_common()}}


# --few_speakers: the shipped recipe against the baseline's most chosen setting, both fixed
RECIPE = Path(__file__).resolve().parents[1] / "configs" / "emotion-default.toml"
FEW_BASELINE = {"statistics": "rich", "svm_c": 10.0, "kernel": "rbf"}


def recipe_setting() -> tuple[str, dict]:
    """(model, the settings the estimator grid knows) of configs/emotion-default.toml."""
    import tomllib

    recipe = tomllib.loads(RECIPE.read_text())
    keys = {"statistics", "logreg_c", "svm_c", "kernel"}
    return recipe["model"], {k: v for k, v in recipe.items() if k in keys}


def few_speakers(data: dict, counts: list[int], draws: list[int],
                 speaker_normalise: bool) -> dict:
    """Pooled test UAR of the recipe and the baseline trained on only k random speakers of each
    outer fold's 9 (per k and draw): does the recipe hold with 3 to 9 training speakers?"""
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


def parse_args() -> argparse.Namespace:
    here = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", type=Path, default=here.parent / "shared/data/emodb")
    parser.add_argument("--tfrecords", type=Path, default=Path("tfrecords/emodb-loso"))
    parser.add_argument("--features", default=FEATURES, help="feature families in the records")
    parser.add_argument("--skip_records", action="store_true",
                        help="reuse the records already in --tfrecords")
    parser.add_argument("--models", default=",".join(GRID), help="subset of " + ",".join(GRID))
    parser.add_argument("--normalise", default=",".join(NORMALISATIONS),
                        help="subset of " + ",".join(NORMALISATIONS))
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (>= 3)")
    parser.add_argument("--inner_folds", type=int, default=3,
                        help="speaker groups of the inner validation")
    parser.add_argument("--steps", type=int, default=400, help="tfemo: training steps per fit")
    parser.add_argument("--selection", choices=("once", "per_seed"), default="once",
                        help="select once per outer fold (the first seed's inner split), or "
                             "per seed, each with its own inner split (3 x the search)")
    parser.add_argument("--few_speakers", default="",
                        help="also train the recipe and the baseline on only k random speakers "
                             "of each fold, e.g. 3,5 (3 draws each: the seeds); --models none "
                             "runs this alone")
    parser.add_argument("--output", type=Path, default=Path("reports/classify-emodb.json"),
                        help="where the results are written as JSON")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    if not args.skip_records:
        if not (args.data_dir / "wav").is_dir():
            sys.exit(f"{args.data_dir}: no EMO-DB here (expected wav/); pass --data_dir")
        run([sys.executable, "tools/make_tfrecords.py", "--corpus", "emodb", "--data_dir",
             str(args.data_dir), "--output_dir", str(args.tfrecords), "--partition", "loso",
             "--embeddings", "none", "--features", args.features, "--quiet"])
    records_minutes = (time.perf_counter() - started) / 60
    seeds = [int(s) for s in args.seeds.split(",")]
    results, minutes, few = {}, {}, {}
    for normalise in args.normalise.split(","):
        data = load_utterances(args.tfrecords / "fold-01", normalise == "speaker")
        if args.few_speakers:
            print(f"=== few training speakers, {NORMALISATIONS[normalise]}", flush=True)
            few[normalise] = few_speakers(data, [int(k) for k in args.few_speakers.split(",")],
                                          seeds, normalise == "speaker")
        for family in [f for f in args.models.split(",") if f != "none"]:
            begun = time.perf_counter()
            print(f"=== {family}, {NORMALISATIONS[normalise]}", flush=True)
            results[(family, normalise)] = evaluate_family(
                family, data, normalise == "speaker", seeds, args.inner_folds, args.steps,
                args.selection == "per_seed")
            minutes[(family, normalise)] = (time.perf_counter() - begun) / 60
    total = (time.perf_counter() - started) / 60
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(
        {**{f"{f}-{n}": {**r, "minutes": minutes[(f, n)]} for (f, n), r in results.items()},
         **{f"few-{n}": {f"{name}-{k}": v for (name, k), v in r.items()}
            for n, r in few.items()}},
        indent=1, default=str))
    if results:
        print_table(results, minutes, records_minutes, total, len(seeds))
    if few:
        print_few_speakers(few)


def print_table(results: dict, minutes: dict, records_minutes: float, total: float,
                seeds: int) -> None:
    """The README's markdown table: UAR / WA mean ± sd over seeds and the ensemble row."""
    normalisations = sorted({n for _, n in results}, key=list(NORMALISATIONS).index)
    header = "| model | " + " | ".join(
        f"UAR / WA, {NORMALISATIONS[n]} | ECE before -> after calibration, {NORMALISATIONS[n]}"
        for n in normalisations) + " | minutes |"
    lines = [header, "|---" * (2 + 2 * len(normalisations)) + "|"]
    for family in dict.fromkeys(f for f, _ in results):
        for row in ("seeds", "ensemble"):
            cells = []
            for n in normalisations:
                r = results.get((family, n))
                if r is None:
                    cells += ["-", "-"]
                    continue
                if row == "seeds":
                    def stat(key, kind="raw", r=r):
                        values = [s[kind][key] for s in r["per_seed"].values()]
                        return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"
                    cells += [f"{stat('uar')} / {stat('wa')}",
                              f"{stat('ece')} -> {stat('ece', 'calibrated')}"]
                else:
                    e = r["ensemble"]
                    cells += [f"{e['raw']['uar']:.3f} / {e['raw']['wa']:.3f}",
                              f"{e['raw']['ece']:.3f} -> {e['calibrated']['ece']:.3f}"]
            label = (f"{family} (mean ± sd, {seeds} seeds)" if row == "seeds"
                     else f"{family} ensemble of {seeds} seeds")
            spent = sum(minutes.get((family, n), 0.0) for n in normalisations)
            lines.append(f"| {label} | " + " | ".join(cells)
                         + f" | {spent:.1f} |" if row == "seeds" else f"| {label} | "
                         + " | ".join(cells) + " | |")
    print("\n".join(lines))
    for (family, n), r in results.items():
        print(f"{family}, {NORMALISATIONS[n]}: chosen settings (outer folds): "
              + "; ".join(f"{k} x{v}" for k, v in r["chosen"].items()))
    print(f"records: {records_minutes:.1f} min; whole benchmark: {total:.1f} min")


if __name__ == "__main__":
    main()
