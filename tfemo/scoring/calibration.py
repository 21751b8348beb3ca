"""Temperature scaling of class probabilities, and the scores that say whether it worked.

A classifier's probabilities p are rescaled as softmax(log p / T); T > 1 softens
over-confident outputs, the ranking (so UAR and WA) never changes. T is fit on held-out
speakers (the devel portion) by minimising the negative log-likelihood; the train dir keeps
it (tfemo/training/temperature.py) so eval and predict apply the same T.
Scores: NLL (mean -log p of the true class) and ECE, the expected calibration error with
15 equal-width confidence bins (|accuracy - mean confidence| weighted by the bin's share).
"""

from __future__ import annotations

import numpy as np

ECE_BINS = 15
_FLOOR = 1e-12  # probabilities are clipped here before the log
TEMPERATURE_RANGE = (0.05, 20.0)


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) row by row: [N, C] (or [C]) probabilities at temperature T."""
    logits = np.log(np.clip(np.asarray(probabilities, np.float64), _FLOOR, 1.0)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=-1, keepdims=True)


def nll(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes."""
    p = np.asarray(probabilities, np.float64)[np.arange(len(labels)), np.asarray(labels, int)]
    return float(-np.mean(np.log(np.clip(p, _FLOOR, 1.0))))


def ece(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error over `bins` equal-width bins of the top-class confidence."""
    probabilities = np.asarray(probabilities, np.float64)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(labels, int)
    # bin b holds confidences in (b/bins, (b+1)/bins]; confidence 1/C > 0 never falls below
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        chosen = index == b
        if chosen.any():
            total += chosen.mean() * abs(correct[chosen].mean() - confidence[chosen].mean())
    return float(total)


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The T in TEMPERATURE_RANGE minimising the NLL of `labels` (bounded 1-D search on log T)."""
    from scipy.optimize import minimize_scalar

    if len(labels) == 0:
        raise ValueError("no predictions to fit a temperature on")
    low, high = np.log(TEMPERATURE_RANGE)
    result = minimize_scalar(lambda log_t: nll(apply_temperature(probabilities,
                                                                  np.exp(log_t)), labels),
                             bounds=(low, high), method="bounded",
                             options={"xatol": 1e-4})
    return float(np.exp(result.x))


def calibration_scores(probabilities: np.ndarray, labels: np.ndarray,
                       temperature: float | None) -> dict:
    """NLL and ECE before and (with a temperature) after calibration."""
    scores = {"nll": nll(probabilities, labels), "ece": ece(probabilities, labels)}
    if temperature is not None:
        calibrated = apply_temperature(probabilities, temperature)
        scores.update(temperature=temperature, nll_calibrated=nll(calibrated, labels),
                      ece_calibrated=ece(calibrated, labels))
    return scores


