"""Calibrate without losing a speaker: the temperature from inner speaker folds of training.

A held-out devel speaker costs a leave-one-speaker-out fold one of its few training speakers,
and one speaker is too few to fit a temperature well. Here the training speakers are split
into `folds` groups by speaker; a model like the final one is fit on all groups but one and
predicts the held-out group, in turn, and the temperature (tfemo/scoring/calibration.py) is
fit on these out-of-fold predictions: every training speaker is scored by a model that never
saw them, and the final model still trains on all of them. The devel-portion path
(`tfemo.eval --portion devel --calibrate`) stays for users with a real devel set; it
overwrites the temperature of the same step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfemo.scoring.calibration import TEMPERATURE_RANGE, fit_temperature
from tfemo.training.temperature import save_temperature

INNER_PORTION = "train (inner speaker folds)"  # what temperature.json records as the portion


@dataclass(frozen=True)
class InnerTemperature:
    """A temperature fit on out-of-fold predictions, and what it was fit on."""

    temperature: float
    files: int
    speakers: int
    folds: int

    @property
    def warning(self) -> str | None:
        """What to do when the temperature sits at a bound of its search (None otherwise)."""
        return temperature_warning(self.temperature)


def temperature_warning(temperature: float) -> str | None:
    """A one-line warning when `temperature` is at (within 1 % of) a bound of
    TEMPERATURE_RANGE: the fit did not find a minimum, so the probabilities stay miscalibrated."""
    low, high = TEMPERATURE_RANGE
    if temperature >= high * 0.99:
        return (f"the calibration temperature hit its upper bound (T = {temperature:.2f}): the "
                "held-out predictions are near chance, so calibrated probabilities are almost "
                "uniform; check the labels and class balance of each speaker, train on more "
                "speakers, or calibrate on a real devel set (tfemo.eval --portion devel "
                "--calibrate)")
    if temperature <= low * 1.01:
        return (f"the calibration temperature hit its lower bound (T = {temperature:.2f}): the "
                "held-out predictions are under-confident beyond the search range; calibrate "
                "on more held-out speakers (more --calibration_folds, or a devel set)")
    return None


def speaker_groups(speakers: Sequence[str], folds: int, seed: int) -> list[np.ndarray]:
    """The distinct speakers shuffled with `seed` and dealt into min(folds, speakers) groups."""
    pool = sorted(set(np.asarray(speakers).tolist()))
    order = np.random.default_rng(seed).permutation(pool)
    return [order[k::min(folds, len(pool))] for k in range(min(folds, len(pool)))]


def out_of_fold(make: Callable[[], Any], vectors: np.ndarray, labels: np.ndarray,
                speakers: Sequence[str], folds: int, seed: int) -> np.ndarray:
    """Class probabilities [N, C] of every utterance from a model (`make()`: unfitted, with
    fit(vectors, labels, speakers) and probabilities(vectors, speakers)) that did not train
    on its speaker's group."""
    speakers = np.asarray(speakers)
    out: np.ndarray | None = None
    for group in speaker_groups(speakers, folds, seed):
        held = np.isin(speakers, group)
        model = make().fit(vectors[~held], labels[~held], speakers[~held])
        predicted = model.probabilities(vectors[held], speakers[held])
        if out is None:
            out = np.zeros((len(labels), predicted.shape[1]), np.float64)
        out[held] = predicted
    assert out is not None
    return out


def inner_temperature(make: Callable[[], Any], vectors: np.ndarray, labels: np.ndarray,
                      speakers: Sequence[str], folds: int, seed: int) -> InnerTemperature:
    """The temperature fit on `folds` inner speaker folds of the training utterances
    (ValueError with fewer than two training speakers: nothing would be held out)."""
    count = len(set(np.asarray(speakers).tolist()))
    if count < 2 or folds < 2:
        raise ValueError(f"inner-fold calibration needs 2 or more folds and training speakers "
                         f"(got {folds} folds, {count} speakers)")
    probabilities = out_of_fold(make, vectors, labels, speakers, folds, seed)
    return InnerTemperature(fit_temperature(probabilities, labels), len(labels), count,
                            min(folds, count))


def calibrate_on_train_speakers(train_dir: str | Path, step: int | str, make: Callable[[], Any],
                                vectors: np.ndarray, labels: np.ndarray,
                                speakers: Sequence[str], folds: int, seed: int) -> float | None:
    """Fit the inner-fold temperature of a model trained in `train_dir` and save it for
    `step` (what eval and predict apply); print what was done. None when `folds` is 0 or
    there are too few speakers (said in one line)."""
    if folds <= 0:
        return None
    try:
        fitted = inner_temperature(make, vectors, labels, speakers, folds, seed)
    except ValueError as error:
        print(f"warning: no calibration temperature: {error}")
        return None
    save_temperature(train_dir, step, fitted.temperature, INNER_PORTION, fitted.files)
    print(f"calibration temperature {fitted.temperature:.3f} from {fitted.folds} inner speaker "
          f"folds ({fitted.speakers} speakers, {fitted.files} files)")
    if fitted.warning:
        print(f"warning: {fitted.warning}")
    return fitted.temperature


__all__ = ["InnerTemperature", "calibrate_on_train_speakers", "inner_temperature",
           "out_of_fold", "speaker_groups", "temperature_warning"]
