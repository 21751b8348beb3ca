"""Latents of a trained β-VAE (restored by tfemo.training.restore): encode records, per-item terms.

`encode_records` runs the restored model on whole utterances of the records (the frames the
model was trained on, in the records' order) and returns, per item, the latent mean and
log-variance, the reconstruction error and the KL term (the model's own masked definitions).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfemo.core.errors import TfemoError


@dataclass
class Encoded:
    """Per-item outputs of the encoder, rows in the records' order."""

    ids: list[str]
    speakers: list[str]
    labels: np.ndarray  # int [N], -1 for none
    portions: list[str]
    mean: np.ndarray  # [N, D]
    log_var: np.ndarray  # [N, D]
    reconstruction: np.ndarray  # [N] squared error per real frame (standardised units)
    kl: np.ndarray  # [N]


def encode_records(model: Any, tfrecords: str | Path, portions: list[str],
                   batch_size: int = 16, speaker_normalise: bool = False) -> Encoded:
    """Encode every item of `portions` of the records in `tfrecords` (whole utterances)."""
    import tensorflow as tf

    from tfemo.models.beta_vae import vae_terms
    from tfemo.records.reader import make_dataset

    rows: dict[str, list] = {k: [] for k in ("ids", "speakers", "labels", "portions", "mean",
                                             "log_var", "reconstruction", "kl")}
    for portion in portions:
        data = make_dataset(tfrecords, portion, sequence_length=None, batch_size=batch_size,
                            shuffle=False, seed=0, features=("features",),
                            speaker_normalise=speaker_normalise)
        spec = {k: v for k, v in data.element_spec.items()
                if k in ("features", "mask", "label", "speaker")}

        @tf.function(input_signature=[spec])
        def forward(batch):
            out = model(batch, training=False)
            target, mask = model.standardise(batch)
            error, kl = vae_terms(target, out["reconstruction"], mask, out["mean"],
                                  out["log_var"])
            return out["mean"], out["log_var"], error, kl

        for batch in data:
            mean, log_var, error, kl = (t.numpy() for t in forward({k: batch[k] for k in spec}))
            rows["ids"] += [v.decode() for v in batch["id"].numpy()]
            rows["speakers"] += [v.decode() for v in batch["speaker"].numpy()]
            rows["labels"].append(batch["label"].numpy())
            rows["portions"] += [portion] * len(mean)
            for key, value in zip(("mean", "log_var", "reconstruction", "kl"),
                                  (mean, log_var, error, kl), strict=True):
                rows[key].append(value)
    if not rows["ids"]:
        raise TfemoError(f"{tfrecords}: portions {portions} hold no items")
    stacked = {k: np.concatenate(rows[k]) for k in ("labels", "mean", "log_var",
                                                    "reconstruction", "kl")}
    return Encoded(ids=rows["ids"], speakers=rows["speakers"], portions=rows["portions"],
                   **stacked)
