#!/usr/bin/env python
"""How much emotion and speaker the β-VAE's utterance latents hold, for β in {0.5, 1, 4, 10}.

Records with per-frame features (tools/make_tfrecords.py), one `tfemo.train --model beta_vae`
run per β (same seed and settings, fixed in advance), the latent means of every utterance
(tfemo.evaluation.latents, from the records' frames), then linear probes (StandardScaler fit
on the probe's train rows + LogisticRegression):
- emotion, speaker-independent: fit on the train+devel speakers, scored (UAR) on the test
  speakers;
- speaker, which must be seen: every speaker's utterances split alternately into fit and
  score halves (accuracy).
The same probes run on the raw utterance statistics (mean and std of every feature over the
real frames: the baseline row) and chance is 1 / classes (emotion UAR) and 1 / speakers.
Reconstruction error (squared error per real frame, summed over the standardised features)
and KL are the means over the test speakers' utterances.

Figures in --output: PCA and t-SNE projections of the latents coloured by emotion and by
speaker (one PNG per β), and latent traversals (a test utterance's latent mean with one
dimension swept over -3..3 prior std, decoded, drawn as feature images).

    python benchmarks/representations.py                      # demo corpus, ~5 min on 2 cores
    python benchmarks/representations.py --corpus emodb --data_dir ../shared/data/emodb \
        --partition fixed-speakers --split 'train=03,08,09,10,11,12;devel=13,14;test=15,16'
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
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.manifold import TSNE
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

BETAS = (0.5, 1.0, 4.0, 10.0)
# the fixed small config: the same for every β and every corpus
TRAIN_FLAGS = ["--batch_size", "16", "--learning_rate", "1e-3", "--latent_dim", "8",
               "--hidden", "32", "--blocks", "2", "--kernel_size", "5", "--seed", "1",
               "--verbose", "0"]


def run(command: list[str]) -> None:
    """Run a tfemo command line, failing loudly."""
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="demo")
    parser.add_argument("--data_dir", type=Path, default=None)
    parser.add_argument("--partition", default="official")
    parser.add_argument("--split", default="", help="fixed-speakers partition")
    parser.add_argument("--features", default="mel_db", help="feature families of the records")
    parser.add_argument("--output", type=Path, default=Path("runs/representations"))
    parser.add_argument("--steps", type=int, default=600, help="training steps per β")
    parser.add_argument("--betas", default=",".join(map(str, BETAS)))
    return parser.parse_args()


def make_records(args: argparse.Namespace, records: Path) -> None:
    """The corpus as categorical records with features (kept when already complete)."""
    if (records / "description.json").exists():
        return
    command = [sys.executable, "-m", "tfemo.make_tfrecords", "--corpus", args.corpus,
               "--task", "categorical", "--embeddings", "none", "--features", args.features,
               "--partition", args.partition, "--output_dir", str(records), "--quiet"]
    if args.data_dir:
        command += ["--data_dir", str(args.data_dir)]
    if args.split:
        command += ["--split", args.split]
    run(command)


def utterance_statistics(records: Path, portions: list[str]) -> np.ndarray:
    """Mean and std of every raw feature over each utterance's real frames, records' order."""
    from tfemo.records.reader import make_dataset

    rows = []
    for portion in portions:
        for batch in make_dataset(records, portion, sequence_length=None, batch_size=32,
                                  shuffle=False, seed=0, features=("features",)):
            features, mask = batch["features"].numpy(), batch["mask"].numpy()
            for row in range(len(features)):
                frames = features[row][mask[row]]
                rows.append(np.concatenate([frames.mean(0), frames.std(0)]))
    return np.asarray(rows)


def probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray) -> np.ndarray:
    """Predictions of a scaled logistic regression fit on the train rows only."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    return model.fit(train_x, train_y).predict(test_x)


def probes(x: np.ndarray, labels: np.ndarray, speakers: np.ndarray,
           test: np.ndarray) -> dict[str, float]:
    """Emotion UAR on unseen (test) speakers; speaker accuracy on a within-speaker split."""
    emotion = balanced_accuracy_score(labels[test], probe(x[~test], labels[~test], x[test]))
    half = np.zeros(len(x), bool)
    for speaker in np.unique(speakers):
        rows = np.flatnonzero(speakers == speaker)
        half[rows[1::2]] = True
    speaker = accuracy_score(speakers[half], probe(x[~half], speakers[~half], x[half]))
    return {"emotion_uar": float(emotion), "speaker_accuracy": float(speaker)}


def projection_figure(latents: np.ndarray, labels: list[str], speakers: list[str],
                      title: str) -> Figure:
    """PCA and t-SNE of the latents, coloured by emotion (left) and by speaker (right)."""
    figure = Figure(figsize=(11, 10))
    pca = PCA(n_components=2, random_state=0).fit_transform(latents)
    tsne = TSNE(n_components=2, random_state=0, init="pca",
                perplexity=min(30.0, (len(latents) - 1) / 3)).fit_transform(latents)
    for r, (name, points) in enumerate((("PCA", pca), ("t-SNE", tsne))):
        for c, (what, values) in enumerate((("emotion", labels), ("speaker", speakers))):
            axes = figure.add_subplot(2, 2, 2 * r + c + 1)
            for value in sorted(set(values)):
                rows = [i for i, v in enumerate(values) if v == value]
                axes.scatter(points[rows, 0], points[rows, 1], s=8, label=value)
            axes.set_title(f"{name}, coloured by {what}")
            axes.legend(fontsize=7, markerscale=1.5)
    figure.suptitle(title)
    return figure


def traversal_figure(model, mean: np.ndarray, condition, frames: int, title: str,
                     dims: int = 4, steps: tuple[float, ...] = (-3, -1.5, 0, 1.5, 3)) -> Figure:
    """Decoded feature images while latent dims 0..dims-1 sweep one at a time."""
    dims = min(dims, len(mean))
    figure = Figure(figsize=(2.2 * len(steps), 1.8 * dims))
    mask = np.ones((len(steps), frames), bool)
    for d in range(dims):
        z = np.repeat(mean[None, :], len(steps), axis=0).astype(np.float32)
        z[:, d] = steps
        cond = None if condition is None else np.full(len(steps), condition, np.int32)
        images = np.asarray(model.decode(z, mask, cond))
        low, high = np.percentile(images, [1, 99])
        for s in range(len(steps)):
            axes = figure.add_subplot(dims, len(steps), d * len(steps) + s + 1)
            axes.imshow(images[s].T, origin="lower", aspect="auto", vmin=low, vmax=high)
            axes.set_xticks([])
            axes.set_yticks([])
            if d == 0:
                axes.set_title(f"z = {steps[s]:+g}", fontsize=8)
            if s == 0:
                axes.set_ylabel(f"dim {d}", fontsize=8)
    figure.suptitle(title)
    return figure


def main() -> None:
    """Records, one VAE per β, probes, table and figures."""
    from tfemo.core.reports import write_figure
    from tfemo.evaluation.latents import encode_records
    from tfemo.records.description import DatasetDescription
    from tfemo.training.restore import restore_train_dir

    args = parse_args()
    started = time.perf_counter()
    args.output.mkdir(parents=True, exist_ok=True)
    records = args.output / "records"
    make_records(args, records)
    description = DatasetDescription.read(records)
    portions = sorted(description.portions)
    class_names = description.label_names
    rows, encoded_any = {}, None
    for beta in (float(b) for b in args.betas.split(",")):
        train_dir = args.output / f"beta_{beta:g}"
        run([sys.executable, "-m", "tfemo.train", "--model", "beta_vae", "--tfrecords",
             str(records), "--train_dir", str(train_dir), "--max_steps", str(args.steps),
             "--beta", str(beta), *TRAIN_FLAGS, "--train_portions", "train"])
        model = restore_train_dir(train_dir, wants="latents").model
        encoded = encode_records(model, records, portions)
        test = np.asarray(encoded.portions) == "test"
        rows[f"β = {beta:g}"] = {
            "reconstruction": float(encoded.reconstruction[test].mean()),
            "kl": float(encoded.kl[test].mean()),
            **probes(encoded.mean, encoded.labels, np.asarray(encoded.speakers), test)}
        names = [class_names[i] for i in encoded.labels]
        write_figure(projection_figure(encoded.mean, names, encoded.speakers,
                                       f"{args.corpus}: β-VAE latent means, β = {beta:g}"),
                     args.output / f"projections_beta_{beta:g}.png")
        first = int(np.flatnonzero(test)[0])
        write_figure(traversal_figure(model, encoded.mean[first], None, 60,
                                      f"{args.corpus}: traversals from {encoded.ids[first]} "
                                      f"({names[first]}), β = {beta:g}"),
                     args.output / f"traversals_beta_{beta:g}.png")
        encoded_any = encoded
    test = np.asarray(encoded_any.portions) == "test"
    speakers = np.asarray(encoded_any.speakers)
    stats = utterance_statistics(records, portions)
    rows["utterance statistics"] = {"reconstruction": float("nan"), "kl": float("nan"),
                                    **probes(stats, encoded_any.labels, speakers, test)}
    rows["chance"] = {"reconstruction": float("nan"), "kl": float("nan"),
                      "emotion_uar": 1 / len(class_names),
                      "speaker_accuracy": 1 / len(np.unique(speakers))}
    print(f"\n{args.corpus}: {len(speakers)} utterances, {len(np.unique(speakers))} speakers, "
          f"{int(test.sum())} test utterances; {args.steps} steps per β; "
          f"{(time.perf_counter() - started) / 60:.1f} min")
    print("| representation | reconstruction | KL | emotion UAR (unseen speakers) | "
          "speaker accuracy |")
    print("|---|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['reconstruction']:.3f} | {row['kl']:.3f} | "
              f"{row['emotion_uar']:.3f} | {row['speaker_accuracy']:.3f} |")
    (args.output / "representations.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
