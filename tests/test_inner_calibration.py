"""Calibration from inner speaker folds of the training speakers
(tfemo/training/inner_calibration.py): no held-out utterance is predicted by a model that
trained on its speaker, the temperature is fit on those predictions and saved, and a
temperature at its bound says what to do."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfemo.scoring.calibration import TEMPERATURE_RANGE, apply_temperature
from tfemo.training.inner_calibration import (
    INNER_PORTION,
    calibrate_on_train_speakers,
    inner_temperature,
    out_of_fold,
    speaker_groups,
    temperature_warning,
)
from tfemo.training.temperature import read_temperature


class Softened:
    """A model that records the speakers it trained on and predicts the true class with
    probability 0.9 sharpened to temperature 1/3 (over-confident: the right T is 3)."""

    trained: list = []

    def fit(self, vectors, labels, speakers):
        Softened.trained.append(set(speakers.tolist()))
        self.speakers = set(speakers.tolist())
        return self

    def probabilities(self, vectors, speakers):
        assert not self.speakers & set(speakers.tolist())  # never its own training speakers
        labels = vectors[:, 0].astype(int)
        wrong = vectors[:, 1] > 0  # 10 % of rows: the model is wrong
        guess = np.where(wrong, (labels + 1) % 3, labels)
        honest = np.full((len(labels), 3), 0.05)
        honest[np.arange(len(labels)), guess] = 0.9
        return apply_temperature(honest, 1 / 3)


def _data(speakers: int = 6, per: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(3), speakers * per // 3 + 1)[:speakers * per]
    wrong = rng.random(len(labels)) < 0.1
    vectors = np.stack([labels, wrong], axis=1).astype(float)
    return vectors, labels, np.repeat([f"s{k}" for k in range(speakers)], per)


def test_groups_partition_the_speakers():
    speakers = np.repeat(["a", "b", "c", "d", "e"], 3)
    groups = speaker_groups(speakers, 3, seed=1)
    assert len(groups) == 3 and sorted(np.concatenate(groups).tolist()) == list("abcde")
    assert [len(g) for g in speaker_groups(speakers, 9, seed=1)] == [1] * 5  # at most one each
    assert [g.tolist() for g in speaker_groups(speakers, 3, 1)] == [
        g.tolist() for g in groups]  # deterministic


def test_every_utterance_is_predicted_by_a_model_blind_to_its_speaker():
    vectors, labels, speakers = _data()
    Softened.trained = []
    out = out_of_fold(Softened, vectors, labels, speakers, folds=3, seed=0)
    assert out.shape == (len(labels), 3) and np.allclose(out.sum(axis=1), 1.0)
    assert len(Softened.trained) == 3 and all(len(t) == 4 for t in Softened.trained)


def test_the_temperature_undoes_the_over_confidence():
    vectors, labels, speakers = _data()
    fitted = inner_temperature(Softened, vectors, labels, speakers, folds=3, seed=0)
    assert fitted.temperature == pytest.approx(3.0, rel=0.15)
    assert fitted.files == len(labels) and fitted.speakers == 6 and fitted.folds == 3
    assert fitted.warning is None
    with pytest.raises(ValueError, match="2 or more"):
        inner_temperature(Softened, vectors[:40], labels[:40], speakers[:40], 3, 0)


def test_a_temperature_at_a_bound_warns_with_what_to_do():
    low, high = TEMPERATURE_RANGE
    assert "devel" in temperature_warning(high) and "upper bound" in temperature_warning(high)
    assert "lower bound" in temperature_warning(low)
    assert temperature_warning(1.3) is None


def test_the_temperature_is_saved_for_the_step(tmp_path):
    vectors, labels, speakers = _data()
    assert calibrate_on_train_speakers(tmp_path, 7, Softened, vectors, labels, speakers,
                                       folds=0, seed=0) is None
    assert not (tmp_path / "temperature.json").exists()
    temperature = calibrate_on_train_speakers(tmp_path, 7, Softened, vectors, labels, speakers,
                                              folds=3, seed=0)
    assert read_temperature(tmp_path, 7) == pytest.approx(temperature)
    saved = json.loads((tmp_path / "temperature.json").read_text())["steps"]["7"]
    assert saved["portion"] == INNER_PORTION and saved["files"] == len(labels)
