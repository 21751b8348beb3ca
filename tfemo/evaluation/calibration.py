"""Calibrating a scored portion: fit the temperature on it, or apply the saved one, and report
NLL and ECE (15 bins) before and after (the math is in tfemo/scoring/calibration.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfemo.scoring.calibration import calibration_scores, fit_temperature
from tfemo.training.inner_calibration import temperature_warning
from tfemo.training.temperature import read_temperature, save_temperature


def calibrate_portion(files: list, train_dir: Path, step: int | str, portion: str,
                      fit: bool) -> dict:
    """Calibration scores of a classifier's file predictions. With `fit`, the temperature is
    fit on these files (they must be held-out speakers, e.g. devel) and saved for `step`;
    otherwise the saved temperature (if any) is applied."""
    probabilities = np.stack([f.predictions for f in files])
    labels = np.array([int(f.labels) for f in files])
    if fit:
        temperature = fit_temperature(probabilities, labels)
        save_temperature(train_dir, step, temperature, portion, len(files))
        if temperature_warning(temperature):
            print(f"warning: {temperature_warning(temperature)}")
    else:
        temperature = read_temperature(train_dir, step)
    return calibration_scores(probabilities, labels, temperature)
