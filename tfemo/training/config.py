"""The training settings (everything but the model's own options), and the run.toml they
leave in the train dir.

`TrainConfig` declares each setting once; tfemo.train makes its flags from the fields. The
train dir's `run.toml` holds the model name, these settings and the model's options as flat
`key = value` lines: it is a valid `--config` for tfemo.train and reruns the same experiment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfemo.core import storage
from tfemo.core.options import (
    OptionError,
    Options,
    option,
    option_values,
    toml_lines,
    toml_value,
)
from tfemo.core.storage import write_atomic
from tfemo.training.run_dir import RUN_CONFIG
from tfemo.training.strategies import STRATEGIES

NORMALISATIONS = ("train", "speaker")
BALANCES = ("none", "weights", "sampling")


@dataclass(frozen=True)
class TrainConfig(Options):
    """Data, optimiser, schedule and checkpoint settings of one training run."""

    tfrecords: Path = option(Path("tfrecords"),
                             "records folder written by tools/make_tfrecords.py (local, or a "
                             "tf.io.gfile URL such as gs://bucket/records)")
    train_dir: Path = option(Path("checkpoints"),
                             "where checkpoints, summaries and log_train.txt go")
    batch_size: int = option(8, "sequences per batch: the global batch, split evenly among "
                             "the replicas of --strategy mirrored or multi_worker")
    strategy: str = option("default", "tf.distribute strategy: one device, every GPU of this "
                           "machine (mirrored), or the machines in TF_CONFIG (multi_worker; "
                           "run the same command on each, the chief writes the train dir)",
                           choices=STRATEGIES)
    sequence_length: int = option(150, "continuous tasks: frames per training sequence (40 ms "
                                  "each); categorical tasks train on whole utterances")
    learning_rate: float = option(3e-4, "Adam learning rate")
    weight_decay: float = option(0.0, "decoupled weight decay (AdamW) when > 0")
    max_steps: int = option(1000, "stop when the global step reaches this")
    save_interval_secs: float = option(120.0, "seconds between checkpoints (one is always "
                                       "saved at the end)")
    save_summaries_secs: float = option(60.0, "seconds between TensorBoard summaries")
    max_to_keep: int = option(5, "checkpoints kept (older ones are deleted)")
    cache: bool = option(True, "keep the parsed train records in memory (--no_cache: do not; "
                         "the cache takes about 4 KB per frame: 100 MB for the demo, 13 GB "
                         "for 40 h)")
    seed: int = option(1, "seed of weights and data order")
    normalise: str = option("train", "features: standardise with train-set statistics "
                            "(inside the model) or per speaker (each speaker's own frames, "
                            "no labels)", choices=NORMALISATIONS)
    balance: str = option("none", "categorical: class weights in the loss, or balanced "
                          "sampling", choices=BALANCES)
    train_portions: str = option("train", "portions to train on, joined with + (e.g. "
                                 "train+devel once the flags are fixed); normalisation "
                                 "statistics stay train-only")
    crop_frames: int = option(0, "categorical: train on a random window of this many frames "
                              "of each longer utterance, new each epoch (0: whole utterances)")
    # augmentation of the train stream only (tfemo.training.augment); every one off by default
    augment_seed: int = option(0, "seed of the augmentation draws (0: --seed)")
    freq_mask: int = option(0, "SpecAugment: mask up to this many consecutive feature "
                            "dimensions of each utterance's features (0: off)")
    time_mask: int = option(0, "SpecAugment: mask up to this many consecutive frames of each "
                            "utterance's features (0: off)")
    mask_count: int = option(1, "masks of each kind (freq_mask, time_mask) per utterance")
    noise_snr: tuple[int, ...] = option((), "raw-audio models: add white noise at an SNR "
                                        "drawn from LOW,HIGH dB per utterance (none: off)")
    gain_db: tuple[int, ...] = option((), "raw-audio models: scale each utterance by a gain "
                                      "drawn from LOW,HIGH dB (none: off)")
    speed: tuple[int, ...] = option((), "raw-audio models: speed perturbation, factors in "
                                    "percent drawn per utterance, e.g. 90,100,110 (none: off)")


    def __post_init__(self) -> None:
        """Check the values; the train dir must be local (checkpoints, summaries, logs)."""
        super().__post_init__()
        if storage.is_url(self.train_dir):
            raise OptionError(f"train_dir {self.train_dir}: the train dir is a local folder "
                              "(only --tfrecords may be a URL)")


def run_config_text(model: str, train: TrainConfig, model_config: Any) -> str:
    """The run.toml of a run: `model`, the training settings and the model's options."""
    values = option_values(train)
    values.update(tfrecords=storage.resolve(values["tfrecords"]),
                  train_dir=values["train_dir"].resolve())
    lines = [
        "# tfemo.train settings of this train dir. `python -m tfemo.train --config run.toml`",
        "# reruns the experiment (add --train_dir NEW for a fresh dir); flags override the file.",
        f"model = {toml_value(model)}",
        "",
        *toml_lines(values, "training"),
        "",
        *toml_lines(option_values(model_config), f"{model} options"),
    ]
    return "\n".join(lines) + "\n"


def write_run_config(train_dir: Path, model: str, train: TrainConfig, model_config: Any) -> Path:
    """Write (atomically) the run.toml of `train_dir`."""
    return write_atomic(Path(train_dir) / RUN_CONFIG, run_config_text(model, train, model_config))
