"""benchmarks/classify.py's protocol: the test speaker never trains, scores or chooses anything
during selection; the retrained model sees exactly the other speakers; --few_speakers trains on
k of the others only. The models are replaced by a spy that records what it was given."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "classify.py"


@pytest.fixture(scope="module")
def classify():
    spec = importlib.util.spec_from_file_location("classify_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _data() -> dict:
    """6 speakers x 6 utterances, 3 classes (two of each per speaker); no features needed."""
    speakers = np.repeat([f"s{k}" for k in range(6)], 6)
    labels = np.tile([0, 0, 1, 1, 2, 2], 6)
    return {"speakers": speakers, "labels": labels, "classes": ("a", "b", "c"),
            "features": None, "mask": None, "description": None}


class Spy:
    """Candidates stand-in: records (setting, train rows, test rows); setting 1 would be perfect
    on speaker s0 only, setting 0 is right on two thirds of every speaker's utterances."""

    calls: list = []

    def __init__(self, family, data, speaker_normalise) -> None:
        self.data = data

    def fit_predict(self, setting, train, test, seed):
        Spy.calls.append((setting["k"], set(train.tolist()), set(test.tolist())))
        labels, speakers = self.data["labels"][test], self.data["speakers"][test]
        if setting["k"] == 1:
            guess = np.where(speakers == "s0", labels, (labels + 1) % 3)
        else:
            guess = np.where(np.arange(len(test)) % 3 == 2, (labels + 1) % 3, labels)
        return np.eye(3)[guess] * 0.7 + 0.1


@pytest.mark.parametrize("per_seed", [False, True])
def test_selection_never_sees_the_test_speaker(classify, monkeypatch, per_seed):
    data = _data()
    Spy.calls = []
    monkeypatch.setattr(classify, "Candidates", Spy)
    monkeypatch.setitem(classify.GRID, "spy", [{"k": 0}, {"k": 1}])
    result = classify.evaluate_family("spy", data, False, [1, 2, 3], 3, 0, per_seed=per_seed)
    speakers = data["speakers"]
    everyone = set(range(len(speakers)))
    pending, fits = [], {}
    for _, train, test in Spy.calls:  # in order: an outer fold's selection, then its fits
        tested = {speakers[i] for i in test}
        trained = {speakers[i] for i in train}
        assert not tested & trained  # speaker-independent at every level
        if len(tested) == 1 and train == everyone - test:  # a retrained model of one fold
            (outer,) = tested
            fits[outer] = fits.get(outer, 0) + 1
            # every selection fit before it left this fold's test speaker out entirely
            assert all(outer not in used and len(used) == 5 for used in pending)
            pending = []
        else:
            pending.append(tested | trained)
    assert not pending and fits == {f"s{k}": 3 for k in range(6)}
    # setting 1 is perfect on s0 only: it could win only by scoring on the outer test speaker
    assert all(choice == '{"k": 0}' for choice in result["chosen"])
    assert sum(result["chosen"].values()) == (18 if per_seed else 6)


def test_few_speakers_train_on_k_others_only(classify, monkeypatch):
    data = _data()
    Spy.calls = []
    monkeypatch.setattr(classify, "Candidates", Spy)
    monkeypatch.setattr(classify, "recipe_setting", lambda: ("spy", {"k": 0}))
    monkeypatch.setattr(classify, "FEW_BASELINE", {"k": 0})
    out = classify.few_speakers(data, [2, 3], [1, 2], speaker_normalise=False)
    assert set(out) == {("recipe", 2), ("recipe", 3), ("svm baseline", 2), ("svm baseline", 3)}
    assert len(Spy.calls) == 2 * 2 * 2 * 6  # models x counts x draws x outer folds
    for _, train, test in Spy.calls:
        tested = {data["speakers"][i] for i in test}
        trained = {data["speakers"][i] for i in train}
        assert len(tested) == 1 and not tested & trained and len(trained) in (2, 3)
