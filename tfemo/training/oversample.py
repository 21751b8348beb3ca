"""Extra training examples made offline from the train set: the baselines beside the generators.

Each function takes a train set's arrays only (its caller picks the train speakers) and
returns NEW examples, seeded; `copy_rows` picks `factor` x each class's count of rows:

- `smote`: SMOTE (imbalanced-learn) on utterance vectors: a new vector on the segment
  between a vector and one of its k nearest neighbours of the same class.
- `masked_copies`: SpecAugment frequency and time masks on copies of the frames (numpy, the
  semantics of tfemo.training.augment: a masked value becomes the train mean of its feature).
- `waveform_copies`: speed, gain and white noise on a copy of each waveform, whose frame
  features are then computed again with the records' own extraction (frame_features): the
  feature models cannot take waveform augmentation on the fly (tfemo.training.augment).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SMOTE_NEIGHBOURS = 5


def copies_per_class(labels: np.ndarray, factor: float) -> dict[int, int]:
    """New examples per class: round(factor x the class's count)."""
    classes, counts = np.unique(labels, return_counts=True)
    return {int(c): int(round(factor * n)) for c, n in zip(classes, counts, strict=True)}


def copy_rows(labels: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Row indices to copy: per class, round(factor x count) rows, each row at most
    ceil(factor) times, in a seeded order."""
    rows = []
    for label, count in copies_per_class(labels, factor).items():
        members = np.flatnonzero(labels == label)
        repeats = int(np.ceil(count / len(members))) if count else 0
        pool = np.concatenate([rng.permutation(members) for _ in range(repeats)] or
                              [np.zeros(0, int)])
        rows.append(pool[:count])
    return np.concatenate(rows) if rows else np.zeros(0, int)


def smote(vectors: np.ndarray, labels: np.ndarray, factor: float,
          seed: int) -> tuple[np.ndarray, np.ndarray]:
    """SMOTE's new vectors [M, D] and their labels [M], `factor` x each class's count (a
    class needs 2 vectors; its neighbours are capped at its size - 1)."""
    from imblearn.over_sampling import SMOTE

    labels = np.asarray(labels)
    counts = copies_per_class(labels, factor)
    wanted = {c: int(np.sum(labels == c)) + n for c, n in counts.items()
              if n and np.sum(labels == c) >= 2}
    if not wanted:
        return np.zeros((0, vectors.shape[1])), np.zeros(0, labels.dtype)
    smallest = min(int(np.sum(labels == c)) for c in wanted)
    sampler = SMOTE(sampling_strategy=wanted, random_state=seed,
                    k_neighbors=min(SMOTE_NEIGHBOURS, smallest - 1))
    keep = np.isin(labels, list(wanted))
    x, y = sampler.fit_resample(vectors[keep], labels[keep])
    new = slice(int(keep.sum()), None)  # imbalanced-learn appends the new rows
    return np.asarray(x[new]), np.asarray(y[new])


def masked_copies(features: np.ndarray, mask: np.ndarray, labels: np.ndarray, factor: float,
                  seed: int, freq_mask: int = 10, time_mask: int = 10, mask_count: int = 2,
                  fill: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masked copies (features [M, T, F], mask [M, T], and the rows [M] they copy: their
    labels and speakers are those rows') of `factor` x each class:
    `mask_count` masks of up to `freq_mask` consecutive features and of up to `time_mask`
    consecutive real frames each, set to `fill` [F] (default: the real frames' mean)."""
    rng = np.random.default_rng(seed)
    rows = copy_rows(np.asarray(labels), factor, rng)
    mask = np.asarray(mask, bool)
    if fill is None:
        fill = features[mask].mean(axis=0)
    out = features[rows].copy()
    width = features.shape[2]
    for k, row in enumerate(rows):
        length = int(mask[row].sum())
        for _ in range(mask_count):
            if freq_mask:
                size = int(rng.integers(0, min(freq_mask, width) + 1))
                start = int(rng.integers(0, width - size + 1))
                out[k, :length, start:start + size] = fill[start:start + size]
            if time_mask and length:
                size = int(rng.integers(0, min(time_mask, length) + 1))
                start = int(rng.integers(0, length - size + 1))
                out[k, start:start + size] = fill
    return out, mask[rows].copy(), rows


def perturb_waveform(samples: np.ndarray, rng: np.random.Generator,
                     speed: Sequence[int] = (90, 100, 110),
                     gain_db: Sequence[float] = (-6.0, 6.0),
                     noise_snr: Sequence[float] = (10.0, 30.0)) -> np.ndarray:
    """float samples in [-1, 1] played at a speed drawn from `speed` (percent), scaled by a
    gain drawn from `gain_db`, with white noise at an SNR drawn from `noise_snr` (dB)."""
    from scipy.signal import resample_poly

    from tfemo.audio.polyphase import ratio

    up, down = ratio(int(rng.choice(list(speed))))
    out = resample_poly(samples.astype(np.float64), up, down) if up != down else \
        samples.astype(np.float64)
    out = out * 10 ** (rng.uniform(*gain_db) / 20)
    power = np.mean(out ** 2)
    if power > 0:
        out = out + rng.standard_normal(len(out)) * np.sqrt(
            power / 10 ** (rng.uniform(*noise_snr) / 10))
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def waveform_copies(waveforms: Sequence[np.ndarray], ids: Sequence[str], seed: int,
                    families: tuple[str, ...]) -> list[np.ndarray]:
    """Per-frame features [N_i, F] of one perturbed copy of each waveform (float samples);
    a copy's draws depend on the seed and the item's id only, so a caller can keep each
    item's copy once and pick the train items' copies per fold (copy_rows)."""
    import zlib

    from tfemo.audio.frames import frame_features
    from tfemo.audio.io import frame_count

    frames = []
    for samples, item in zip(waveforms, ids, strict=True):
        rng = np.random.default_rng([seed, zlib.crc32(str(item).encode())])
        audio = perturb_waveform(samples, rng)
        frames.append(frame_features(audio, frame_count(len(audio)), families))
    return frames
