"""Class-conditional generated training examples for one records folder (one fold), leak-proof.

`generate_for_fold` trains a class-conditional generator, the β-VAE (`--model beta_vae
--conditional class`, generator "vae") or the WGAN-GP (`--model wgan_gp`, generator "gan"),
by `train_one` on the folder's TRAIN portion only, then decodes, for every class, noise
drawn from N(0, I) (the VAE's prior; the GAN's utterance and frame noise) with that class as
the condition, at lengths drawn from that class's train utterances, and writes them (raw
feature units; silent audio: generated examples carry features only) as the folder's
`generated` portion (tfemo.records.generated) with the provenance: the generator, its train
dir and checkpoint, the fold, the portions it trained on and the ids of every item in them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tfemo.core.errors import TfemoError
from tfemo.core.options import option_values
from tfemo.records.description import DatasetDescription
from tfemo.records.generated import GENERATED, add_generated_portion
from tfemo.records.schema import ExampleArrays
from tfemo.training.config import TrainConfig

if TYPE_CHECKING:
    from tfemo.training.restore import RestoredModel

GENERATOR_PORTIONS = "train"  # the only portion a generator may learn from
GENERATORS = {"vae": "beta_vae", "gan": "wgan_gp"}  # --generator -> --model


def generator_config(model_name: str, config):
    """The generator's model options, class-conditional (the VAE's decoder is made so)."""
    return replace(config, conditional="class") if model_name == "beta_vae" else config


@dataclass(frozen=True)
class SeenItem:
    """One item a generator trained on."""

    id: str
    speaker: str
    label: int
    frames: int


def portion_items(tfrecords: Path, portions: str) -> list[SeenItem]:
    """Id, speaker, class and length of every item of `portions` (joined with +)."""
    from tfemo.records.reader import make_dataset

    data = make_dataset(tfrecords, portions, sequence_length=None, batch_size=64,
                        shuffle=False, seed=0, features=())
    return [SeenItem(i.decode(), s.decode(), int(c), int(n)) for batch in data
            for i, s, c, n in zip(batch["id"].numpy(), batch["speaker"].numpy(),
                                  batch["label"].numpy(), batch["num_frames"].numpy(),
                                  strict=True)]


def train_generator(tfrecords: Path, train_dir: Path, train: TrainConfig, config,
                    model_name: str = "beta_vae") -> RestoredModel:
    """Train (or resume) the class-conditional generator on the train portion; restore it."""
    from tfemo.training.loop import train_one
    from tfemo.training.restore import restore_train_dir

    train = replace(train, tfrecords=tfrecords, train_dir=train_dir,
                    train_portions=GENERATOR_PORTIONS, normalise="train", balance="none")
    train_one(train, model_name, generator_config(model_name, config), verbose=0)
    return restore_train_dir(train_dir, "latest", wants="any")


def per_class_counts(seen: list[SeenItem], classes: int, per_class: int,
                     factor: float) -> dict[int, int]:
    """Examples to generate per class: `per_class` each, or `factor` x the class's train count."""
    if factor > 0:
        return {c: round(factor * sum(i.label == c for i in seen)) for c in range(classes)}
    return {c: per_class for c in range(classes) if any(i.label == c for i in seen)}


def generate_examples(model, description: DatasetDescription, seen: list[SeenItem],
                      counts: dict[int, int], seed: int, prefix: str) -> list[ExampleArrays]:
    """Decoded examples, `counts[c]` of class c, from prior latents and train lengths."""
    rng = np.random.default_rng(seed)
    examples = []
    for label, count in sorted(counts.items()):
        lengths = [i.frames for i in seen if i.label == label]
        if not count or not lengths:
            continue
        frames = rng.choice(lengths, size=count)
        z = rng.standard_normal((count, model.latent_dim)).astype(np.float32)
        mask = np.arange(frames.max())[None, :] < frames[:, None]
        extra = {}
        if getattr(model, "frame_noise_dim", 0):  # the GAN's per-frame noise, seeded here too
            extra["frame_noise"] = rng.standard_normal(
                (count, int(frames.max()), model.frame_noise_dim)).astype(np.float32)
        decoded = np.asarray(model.destandardise(model.decode(
            z, mask, np.full(count, label + 1, np.int32), **extra)))
        name = description.label_names[label]
        for k in range(count):
            n = int(frames[k])
            examples.append(ExampleArrays(
                id=f"{prefix}-{name}-{k:04d}", speaker=GENERATED, corpus=description.corpus,
                portion=GENERATED, sample_rate=description.sample_rate,
                audio=np.zeros((n, description.frame_length), np.int16), label=label,
                features=decoded[k, :n].astype(np.float32)))
    return examples


def generate_for_fold(tfrecords: Path, train_dir: Path, train: TrainConfig, config, *,
                      per_class: int = 0, factor: float = 0.0, seed: int = 0,
                      model_name: str = "beta_vae") -> DatasetDescription:
    """Train the generator (`model_name`: beta_vae or wgan_gp) on `tfrecords`' train
    portion, write its `generated` portion."""
    tfrecords, train_dir = Path(tfrecords), Path(train_dir)
    if (per_class > 0) == (factor > 0):
        raise TfemoError("give exactly one of a positive per_class or factor")
    description = DatasetDescription.read(tfrecords)
    if model_name not in GENERATORS.values():
        raise TfemoError(f"{model_name}: not a generator (one of {sorted(GENERATORS.values())})")
    generator = train_generator(tfrecords, train_dir, train, config, model_name)
    model, trained_on = generator.model, generator.data["train_portions"]
    seen = portion_items(tfrecords, trained_on)
    counts = per_class_counts(seen, description.num_classes, per_class, factor)
    examples = generate_examples(model, description, seen, counts, seed,
                                 prefix=f"gen-{tfrecords.name}")
    provenance = {
        "generator": model_name, "conditional": "class", "train_dir": str(train_dir.resolve()),
        "checkpoint": generator.checkpoint,
        "options": option_values(generator_config(model_name, config)),
        "fold": tfrecords.name, "trained_on": trained_on,
        "train_ids": sorted(i.id for i in seen),
        "train_speakers": sorted({i.speaker for i in seen}),
        "per_class": {description.label_names[c]: n for c, n in counts.items()},
        "seed": seed, "audio": "silence (features only)"}
    return add_generated_portion(tfrecords, examples, provenance)
