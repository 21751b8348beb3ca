#!/usr/bin/env python
"""Does augmentation help? Leave one speaker out, UAR pooled over the test speakers, with
extra training examples from the VAE, the GAN, SMOTE, waveform copies or masked copies.

Every setting is fixed here in advance, before any result (no tuning on test speakers):

- Records: `tfemo.make_tfrecords --partition loso` with the default recipe's frame features
  (FEATURES). Per fold, the classifier trains on the TRAIN portion (the fold's devel speaker
  is left out, so every condition sees the same real examples) plus the condition's extra
  examples, all made from that train portion only; it is scored on the test speaker.
- Conditions, `factor` x each class's train count of extra examples (0.5 and 1):
  none; vae (tfemo.training.generate with the class-conditional β-VAE, GENERATORS["vae"]);
  gan (the same with the conditional WGAN-GP: the seed recipe's configuration, GAN samples
  added to train only); smote (SMOTE on the per-speaker-standardised utterance functionals);
  waveform (speed 90/100/110 %, gain -6..6 dB, white noise 10..30 dB SNR on the train
  waveforms, features extracted again; benchmarks/augment.py's settings); masks (2 frequency
  masks of up to 10 features and 2 time masks of up to 10 frames; the same).
- Classifiers: `recipe`, the default recipe when the table was measured (RECIPE: logreg on
  the full functionals, per-speaker standardised, C 0.01, balanced; the shipped recipe has
  since added the gemaps block, configs/emotion-default.toml); `conv1d` (utterance variant,
  CONV1D). Generated and SMOTE examples form their own "speaker" for the per-speaker
  standardisation; waveform and masked copies keep their speaker.
- Seeds 1, 2, 3: each seeds the generator's training and sampling, SMOTE, the copies' draws
  and conv1d's training (the recipe's solver is deterministic).

Resumable: every (corpus, classifier, condition, factor, seed, fold) cell's test
predictions are kept in <output>/cells/ and generators in <output>/generators/ (a killed run
picks up where it stopped); the table is printed from whatever cells exist.

    nice -n 10 python benchmarks/generated.py --corpora emodb,emovo --classifiers recipe
"""

from __future__ import annotations

import tfemo.core.quiet  # noqa: F401  (before TensorFlow loads)

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

FEATURES = "zcr,rms,mfcc,chroma,mel_db,contrast,entropy,pitch"
CORPORA = {"emodb": "emodb", "emovo": "emovo/manifest.csv", "casia": "casia/manifest.csv",
           "turevdb": "turevdb/manifest.csv"}
CONDITIONS = ("none", "vae", "gan", "smote", "waveform", "masks")
FACTORS = (0.5, 1.0)
SEEDS = (1, 2, 3)
GENERATOR_STEPS = 300  # the slow shared machine: about 5 min per GAN fold
GENERATOR_TRAIN = {"batch_size": 16}
GENERATORS = {  # --generator: (model, learning rate, options)
    "vae": ("beta_vae", 1e-3, {"latent_dim": 8, "hidden": 32, "blocks": 2, "beta": 1.0}),
    "gan": ("wgan_gp", 1e-4, {"latent_dim": 16, "hidden": 32, "blocks": 2,
                              "frame_noise_dim": 4, "critic_steps": 3}),
}
QUALITY_FOLDS = ("fold-01", "fold-02", "fold-03")  # sample quality (slow here): these folds
RECIPE = {"statistics": "full", "utterance_norm": "speaker", "logreg_c": 0.01,
          "class_weight": "balanced", "max_iter": 2000}
CONV1D = {"variant": "utterance", "steps": 600, "batch_size": 16, "learning_rate": 1e-3,
          "weight_decay": 1e-4}


def make_records(corpus: str, data: Path, output: Path) -> Path:
    """LOSO records of one corpus (made once)."""
    records = output / "records" / corpus
    if not any(records.glob("fold-*/description.json")):
        source = data / CORPORA[corpus]
        reader = ["--corpus", "emodb"] if corpus == "emodb" else ["--corpus", "manifest"]
        subprocess.run([sys.executable, "-m", "tfemo.make_tfrecords", *reader, "--data_dir",
                        str(source), "--output_dir", str(records), "--partition", "loso",
                        "--embeddings", "none", "--features", FEATURES, "--workers", "1",
                        "--quiet"], check=True)
    return records


def padded(frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Frames [N_i, F] as features [N, T, F] and mask [N, T]."""
    longest = max(len(f) for f in frames)
    features = np.zeros((len(frames), longest, frames[0].shape[1]), np.float32)
    mask = np.zeros((len(frames), longest), bool)
    for n, f in enumerate(frames):
        features[n, :len(f)], mask[n, :len(f)] = f, True
    return features, mask


def generated_examples(fold: Path, output: Path, kind: str, factor: float,
                       seed: int) -> tuple[dict[str, np.ndarray], Path]:
    """The generator's examples for one fold (trained once per seed, resumable) and its
    train dir."""
    from tfemo.models.registry import model_spec
    from tfemo.records.description import DatasetDescription
    from tfemo.training.config import TrainConfig
    from tfemo.training.generate import (
        generate_examples,
        per_class_counts,
        portion_items,
        train_generator,
    )

    model_name, rate, options = GENERATORS[kind]
    train_dir = output / "generators" / fold.parent.name / kind / f"seed-{seed}" / fold.name
    train = TrainConfig(max_steps=GENERATOR_STEPS, learning_rate=rate, seed=seed,
                        save_interval_secs=120, **GENERATOR_TRAIN)
    generator = train_generator(fold, train_dir, train, model_spec(model_name).config(**options),
                                model_name)
    description = DatasetDescription.read(fold)
    seen = portion_items(fold, "train")
    counts = per_class_counts(seen, description.num_classes, 0, factor)
    examples = generate_examples(generator.model, description, seen, counts, seed,
                                 prefix=f"gen-{fold.name}")
    features, mask = padded([e.features for e in examples])
    return {"features": features, "mask": mask, "label": np.array([e.label for e in examples]),
            "speaker": np.array(["generated"] * len(examples))}, train_dir


def waveform_cache(records: Path, output: Path, seed: int) -> dict[str, np.ndarray]:
    """One perturbed copy of every item of the corpus (seed and id fix it), frames kept in
    <output>/waveform/<corpus>-seed-<seed>.npz: id -> frames [N, F]."""
    from tfemo.training.oversample import waveform_copies

    path = output / "waveform" / f"{records.name}-seed-{seed}.npz"
    if path.is_file():
        saved = np.load(path)
        return dict(zip(saved["ids"].tolist(), np.split(saved["frames"],
                                                         np.cumsum(saved["lengths"])[:-1]),
                        strict=True))
    fold = sorted(records.glob("fold-*"))[0]
    ids, waves = [], []
    from tfemo.records.description import DatasetDescription

    for portion in DatasetDescription.read(fold).portions:
        for batch in _batches(fold, portion, ("audio",)):
            for i, frames, n in zip(batch["id"].numpy(), batch["audio"].numpy(),
                                    batch["num_frames"].numpy(), strict=True):
                ids.append(i.decode())
                waves.append(frames[:n].reshape(-1).astype(np.float32) / 32768.0)
    frames = waveform_copies(waves, ids, seed, tuple(FEATURES.split(",")))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npz")
    np.savez(partial, ids=np.array(ids), lengths=[len(f) for f in frames],
             frames=np.concatenate(frames))
    partial.replace(path)
    return dict(zip(ids, frames, strict=True))


def _batches(fold: Path, portion: str, keys: tuple[str, ...]):
    from tfemo.records.reader import make_dataset

    return make_dataset(fold, portion, sequence_length=None, batch_size=64, shuffle=False,
                        seed=0, features=keys)


def extra_examples(condition: str, factor: float, seed: int, fold: Path, output: Path,
                   train: dict) -> tuple[dict[str, np.ndarray] | None, Path | None]:
    """The condition's extra training examples as frames (None for none and smote), and the
    generator's train dir (None for the others)."""
    from tfemo.training.oversample import copy_rows, masked_copies

    if condition in GENERATORS:
        return generated_examples(fold, output, condition, factor, seed)
    if condition == "masks":
        features, mask, rows = masked_copies(train["features"], train["mask"], train["label"],
                                             factor, seed)
        return {"features": features, "mask": mask, "label": train["label"][rows],
                "speaker": train["speaker"][rows]}, None
    if condition == "waveform":
        copies = waveform_cache(fold.parent, output, seed)
        rows = copy_rows(train["label"], factor, np.random.default_rng(seed))
        features, mask = padded([copies[train["id"][r]] for r in rows])
        return {"features": features, "mask": mask, "label": train["label"][rows],
                "speaker": train["speaker"][rows]}, None
    return None, None


def read_items(fold: Path, portion: str) -> dict[str, np.ndarray]:
    """label, speaker and id of one portion's items (no features)."""
    batches = list(_batches(fold, portion, ()))
    return {"label": np.concatenate([b["label"].numpy() for b in batches]),
            "speaker": np.concatenate([b["speaker"].numpy().astype(str) for b in batches]),
            "id": np.concatenate([b["id"].numpy().astype(str) for b in batches])}


def read_portion(fold: Path, portion: str) -> dict[str, np.ndarray]:
    """features [B, T, F] (raw), mask, label, speaker and id of one portion."""
    out: dict[str, list] = {"features": [], "mask": [], "label": [], "speaker": [], "id": []}
    batches = list(_batches(fold, portion, ("features",)))
    longest = max(int(b["features"].shape[1]) for b in batches)
    for b in batches:
        extra = longest - int(b["features"].shape[1])
        out["features"].append(np.pad(b["features"].numpy(), ((0, 0), (0, extra), (0, 0))))
        out["mask"].append(np.pad(b["mask"].numpy(), ((0, 0), (0, extra))))
        out["label"].append(b["label"].numpy())
        out["speaker"].append(b["speaker"].numpy().astype(str))
        out["id"].append(b["id"].numpy().astype(str))
    return {k: np.concatenate(v) for k, v in out.items()}


def joined(a: dict, b: dict | None) -> dict:
    """Two example sets in one, padded to the longer."""
    if b is None:
        return a
    longest = max(a["features"].shape[1], b["features"].shape[1])

    def pad(d, key):
        x = d[key]
        widths = [(0, 0), (0, longest - x.shape[1])] + [(0, 0)] * (x.ndim - 2)
        return np.pad(x, widths)
    return {"features": np.concatenate([pad(a, "features"), pad(b, "features")]),
            "mask": np.concatenate([pad(a, "mask"), pad(b, "mask")]),
            "label": np.concatenate([a["label"], b["label"]]),
            "speaker": np.concatenate([a["speaker"], b["speaker"]])}


def recipe_model(description, seed: int):
    """The default recipe's estimator (RECIPE), seeded."""
    from tfemo.models.logreg import LogRegConfig
    from tfemo.models.registry import build_model

    model = build_model("logreg", description, LogRegConfig(**RECIPE))
    model.set_seed(seed)
    return model


def real_vectors(records: Path, output: Path) -> dict[str, np.ndarray]:
    """The recipe's utterance vectors of every item of the corpus (id -> vector), computed
    once and kept in <output>/vectors/<corpus>.npz: every fold's real examples share them."""
    from tfemo.records.description import DatasetDescription

    path = output / "vectors" / f"{records.name}.npz"
    if path.is_file():
        saved = np.load(path)
        return dict(zip(saved["ids"].tolist(), saved["vectors"], strict=True))
    fold = sorted(records.glob("fold-*"))[0]
    description = DatasetDescription.read(fold)
    model = recipe_model(description, 0)
    ids, vectors = [], []
    for portion in description.portions:
        for batch in _batches(fold, portion, ("features",)):
            ids += batch["id"].numpy().astype(str).tolist()
            vectors.append(model.statistics_of({"features": batch["features"].numpy(),
                                                "mask": batch["mask"].numpy()}))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npz")
    np.savez(partial, ids=np.array(ids), vectors=np.concatenate(vectors))
    partial.replace(path)
    return dict(zip(ids, np.concatenate(vectors), strict=True))


def recipe_predictions(description, vectors: dict[str, np.ndarray], train: dict, test: dict,
                       extra: dict | None, smote_factor: float, seed: int) -> np.ndarray:
    """The default recipe fitted on the train items (plus the extra examples' vectors, or
    SMOTE vectors), class indices of the test items."""
    from tfemo.models.functionals import speaker_fallback, standardise_by_speaker
    from tfemo.training.oversample import smote

    model = recipe_model(description, seed)
    x = np.stack([vectors[i] for i in train["id"]])
    labels, speakers = train["label"], train["speaker"]
    if extra is not None:
        x = np.concatenate([x, model.statistics_of(extra)])
        labels = np.concatenate([labels, extra["label"]])
        speakers = np.concatenate([speakers, extra["speaker"]])
    if smote_factor:
        standard = standardise_by_speaker(x, speakers, speaker_fallback(x, speakers))
        new, new_labels = smote(standard, labels, smote_factor, seed)
        x = np.concatenate([x, new])
        labels = np.concatenate([labels, new_labels])
        speakers = np.concatenate([speakers, ["smote"] * len(new)])
    model.fit(x, labels, speakers)
    test_x = np.stack([vectors[i] for i in test["id"]])
    return model.probabilities(test_x, test["speaker"]).argmax(axis=1)


def conv1d_predictions(description, train: dict, test: dict, seed: int) -> np.ndarray:
    """conv1d (CONV1D settings) fitted on `train`, class indices on `test`."""
    import keras
    import tensorflow as tf

    from tfemo.models.conv1d import Conv1DConfig
    from tfemo.models.registry import build_model

    keras.utils.set_random_seed(seed)
    model = build_model("conv1d", description, Conv1DConfig(variant=CONV1D["variant"]))
    model.compile(optimizer=keras.optimizers.AdamW(CONV1D["learning_rate"],
                                                   weight_decay=CONV1D["weight_decay"]),
                  loss=keras.losses.SparseCategoricalCrossentropy())
    inputs = {"features": train["features"], "mask": train["mask"]}
    data = tf.data.Dataset.from_tensor_slices((inputs, train["label"])).shuffle(
        len(train["label"]), seed=seed).repeat().batch(CONV1D["batch_size"], drop_remainder=True)
    model.fit(data, steps_per_epoch=CONV1D["steps"], epochs=1, verbose=0)
    probabilities = model.predict({"features": test["features"], "mask": test["mask"]},
                                  batch_size=64, verbose=0)
    return np.asarray(probabilities).argmax(axis=1)


def run_cell(path: Path, records: Path, fold: Path, classifier: str, condition: str,
             factor: float, seed: int, output: Path) -> dict:
    """One fold's test predictions for one setting, kept in `path` (computed once)."""
    from tfemo.evaluation.sample_quality import sample_quality
    from tfemo.models.estimator import pitch_column
    from tfemo.records.description import DatasetDescription

    if path.is_file():
        return json.loads(path.read_text())
    description = DatasetDescription.read(fold)
    started = time.perf_counter()
    frames = classifier != "recipe" or condition not in ("none", "smote")
    train, test = (read_portion(fold, p) if frames else read_items(fold, p)
                   for p in ("train", "test"))
    extra, generator_dir = extra_examples(condition, factor, seed, fold, output, train)
    cell = {"test_labels": test["label"].tolist(), "extra": 0 if extra is None else
            len(extra["label"])}
    if extra is not None and condition in GENERATORS and factor == 1.0 and \
            fold.name in QUALITY_FOLDS:
        quality = sample_quality(train, extra, list(description.label_names),
                                 dict(description.features), pitch_column(description),
                                 description.frame_seconds, seed)
        cell["quality"] = quality.as_dict()
    if classifier == "recipe":
        smote_factor = factor if condition == "smote" else 0.0
        predicted = recipe_predictions(description, real_vectors(records, output), train,
                                       test, extra, smote_factor, seed)
    else:
        if condition == "smote":
            raise ValueError("smote works on utterance vectors: the recipe only")
        predicted = conv1d_predictions(description, joined(train, extra), test, seed)
    cell["predicted"] = predicted.tolist()
    cell["seconds"] = round(time.perf_counter() - started, 1)
    cell["generator"] = str(generator_dir) if generator_dir else None
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(cell))
    partial.replace(path)
    return cell


def cell_path(output: Path, corpus: str, classifier: str, condition: str, factor: float,
              seed: int, fold: str) -> Path:
    """Where one cell's predictions are kept."""
    return (output / "cells" / corpus / classifier /
            f"{condition}-x{factor:g}-seed{seed}-{fold}.json")


def settings(conditions, factors, seeds):
    """(condition, factor, seed) of every cell: `none` once per seed, at factor 0."""
    for condition in conditions:
        for factor in ((0.0,) if condition == "none" else factors):
            for seed in seeds:
                yield condition, factor, seed


def fold_uars(output: Path, corpus: str, classifier: str, condition: str, factor: float,
              seed: int, folds: list[str]) -> tuple[float, list[float]] | None:
    """UAR pooled over `folds` and each fold's own UAR, or None while a cell is missing."""
    from tfemo.scoring.metrics import classification_scores

    cells = [cell_path(output, corpus, classifier, condition, factor, seed, f) for f in folds]
    if not folds or not all(c.is_file() for c in cells):
        return None
    loaded = [json.loads(c.read_text()) for c in cells]
    classes = 1 + max(max(c["test_labels"] + c["predicted"]) for c in loaded)
    per_fold = [float(classification_scores(np.array(c["test_labels"]), np.array(c["predicted"]),
                                            classes)["uar"]) for c in loaded]
    truth = np.concatenate([c["test_labels"] for c in loaded])
    guess = np.concatenate([c["predicted"] for c in loaded])
    return float(classification_scores(truth, guess, classes)["uar"]), per_fold


def table(output: Path, corpora, classifiers, conditions, factors, seeds,
          first_folds: int = 0) -> list[str]:
    """Markdown rows: UAR pooled over the folds (the first `first_folds`, 0: all) per seed,
    mean ± sd over the seeds that have every one of those folds; and, against `none` of the
    same seeds, the per-fold (per test speaker) UAR change: mean ± sd over the folds, and in
    how many folds it is above / below."""
    rows = ["| corpus | classifier | extra examples | x train | UAR mean ± sd (seeds) | seeds "
            "| ΔUAR pooled | ΔUAR per test speaker, mean ± sd | speakers up / down |",
            "|---|---|---|---|---|---|---|---|---|"]
    for corpus in corpora:
        folds = sorted(p.name for p in (output / "records" / corpus).glob("fold-*"))
        folds = folds[:first_folds or None]
        for classifier in classifiers:
            none = {seed: fold_uars(output, corpus, classifier, "none", 0.0, seed, folds)
                    for seed in seeds}
            for condition in conditions:
                for factor in ((0.0,) if condition == "none" else factors):
                    found = {seed: fold_uars(output, corpus, classifier, condition, factor,
                                             seed, folds) for seed in seeds}
                    found = {k: v for k, v in found.items() if v is not None}
                    if not found:
                        continue
                    uars = [v[0] for v in found.values()]
                    sd = float(np.std(uars, ddof=1)) if len(uars) > 1 else 0.0
                    text = f"{np.mean(uars):.3f} ± {sd:.3f}"
                    paired = [k for k in found if none.get(k) is not None]
                    delta = per_fold = updown = ""
                    if condition != "none" and paired:
                        delta = f"{np.mean([found[k][0] - none[k][0] for k in paired]):+.3f}"
                        change = np.mean([np.subtract(found[k][1], none[k][1])
                                          for k in paired], axis=0)
                        per_fold = f"{change.mean():+.3f} ± {change.std(ddof=1):.3f}" \
                            if len(change) > 1 else f"{change.mean():+.3f}"
                        updown = f"{int((change > 0).sum())} / {int((change < 0).sum())}"
                    rows.append(f"| {corpus} | {classifier} | {condition} | {factor:g} | "
                                f"{text} | {len(uars)} | {delta} | {per_fold} | {updown} |")
    return rows


def quality_rows(output: Path, corpora) -> list[str]:
    """Mean sample-quality measures of the generators (factor 1, every fold and seed)."""
    rows = ["| corpus | generator | two-sample AUC | 1-NN acc | copy ratio | TGTR UAR | "
            "spread per family | folds x seeds |", "|---|---|---|---|---|---|---|---|"]
    for corpus in corpora:
        for kind in GENERATORS:
            found = [json.loads(p.read_text()).get("quality") for p in
                     (output / "cells" / corpus / "recipe").glob(f"{kind}-x1-seed*-fold-*.json")]
            found = [q for q in found if q]
            if not found:
                continue
            mean = {k: float(np.mean([q[k] for q in found]))
                    for k in ("c2st_auc", "nn_accuracy", "copy_ratio", "tgtr_uar")}
            families = {k: float(np.mean([q["spread"][k] for q in found]))
                        for k in found[0]["spread"]}
            spread = ", ".join(f"{k} {v:.2f}" for k, v in families.items())
            rows.append(f"| {corpus} | {kind} | {mean['c2st_auc']:.3f} | "
                        f"{mean['nn_accuracy']:.3f} | {mean['copy_ratio']:.2f} | "
                        f"{mean['tgtr_uar']:.3f} | {spread} | {len(found)} |")
    return rows


def main(argv: list[str] | None = None) -> None:
    """Records, every cell not yet computed, the tables."""
    here = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=here.parent / "shared/data")
    parser.add_argument("--output", type=Path, default=Path("runs/generated"))
    parser.add_argument("--corpora", default="emodb,emovo,casia,turevdb")
    parser.add_argument("--classifiers", default="recipe,conv1d")
    parser.add_argument("--conditions", default=",".join(CONDITIONS))
    parser.add_argument("--factors", default=",".join(f"{f:g}" for f in FACTORS))
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--folds", type=int, default=0,
                        help="only the first N folds of each corpus, in the cells and the "
                             "table (0: all; a partial run, said so in the table)")
    parser.add_argument("--table_only", action="store_true",
                        help="print the tables from the cells kept, compute nothing")
    args = parser.parse_args(argv)
    corpora = args.corpora.split(",")
    classifiers = args.classifiers.split(",")
    conditions = args.conditions.split(",")
    factors = tuple(float(f) for f in args.factors.split(","))
    seeds = tuple(int(s) for s in args.seeds.split(","))
    if unknown := set(corpora) - set(CORPORA):
        sys.exit(f"unknown corpora {sorted(unknown)}; known: {', '.join(CORPORA)}")
    started = time.perf_counter()
    if not args.table_only:
        for corpus in corpora:
            if not (args.data / CORPORA[corpus]).exists():
                sys.exit(f"{args.data / CORPORA[corpus]}: missing; pass --data")
            records = make_records(corpus, args.data, args.output)
            for classifier in classifiers:
                for condition, factor, seed in settings(conditions, factors, seeds):
                    if classifier != "recipe" and condition == "smote":
                        continue
                    for fold in sorted(records.glob("fold-*"))[:args.folds or None]:
                        path = cell_path(args.output, corpus, classifier, condition, factor,
                                         seed, fold.name)
                        if not path.is_file():
                            cell = run_cell(path, records, fold, classifier, condition, factor,
                                            seed, args.output)
                            print(f"{corpus} {classifier} {condition} x{factor:g} seed {seed} "
                                  f"{fold.name}: {cell['seconds']} s", flush=True)
    print(f"\nleave one speaker out, UAR pooled over the test speakers; classifiers train on "
          f"each fold's train portion (+ the extra examples). "
          f"{(time.perf_counter() - started) / 60:.1f} min")
    print(f"command: python benchmarks/generated.py --corpora {args.corpora} --classifiers "
          f"{args.classifiers} --conditions {args.conditions} --factors {args.factors} "
          f"--seeds {args.seeds}" + (f" --folds {args.folds}" if args.folds else "") + "\n")
    print("\n".join(table(args.output, corpora, classifiers, conditions, factors, seeds,
                         args.folds)))
    print()
    print("\n".join(quality_rows(args.output, corpora)))


if __name__ == "__main__":
    main()
