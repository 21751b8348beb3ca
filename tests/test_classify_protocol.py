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


def test_the_recipe_is_the_best_mean_inner_uar_over_corpora(classify, monkeypatch):
    monkeypatch.setattr(classify, "RECIPE_FAMILIES", ("a", "b"))
    # setting x wins a big corpus with many folds, y wins on average over the corpora
    results = {("big", "a", "train"): {"inner": {'{"k": "x"}': [0.9] * 10,
                                                 '{"k": "y"}': [0.8] * 10}},
               ("small", "a", "train"): {"inner": {'{"k": "x"}': [0.3] * 2,
                                                   '{"k": "y"}': [0.5] * 2}},
               ("big", "svm", "train"): {"inner": {'{"k": "z"}': [1.0] * 10}}}
    recipe, means = classify.choose_recipe(results)
    assert recipe == {"k": "y"} and set(means) == {'{"k": "x"}', '{"k": "y"}'}
    assert means['{"k": "y"}'] == pytest.approx(0.65)


def test_leave_one_corpus_out_never_trains_on_the_test_corpus(classify, monkeypatch):
    def fake_corpus(name, path, cache_dir, speaker_normalise, label_names=None):
        data = _data()
        return {**data, "speakers": np.array([f"{name}/{s}" for s in data["speakers"]])}

    Spy.calls = []
    monkeypatch.setattr(classify, "corpus_data", fake_corpus)
    monkeypatch.setattr(classify, "merged", lambda sets: {
        **sets[0], "speakers": np.concatenate([d["speakers"] for d in sets]),
        "labels": np.concatenate([d["labels"] for d in sets])})
    monkeypatch.setattr(classify, "Candidates", Spy)
    monkeypatch.setattr(classify, "SHARED_CLASSES", ("a", "b", "c"))
    monkeypatch.setattr(classify, "FEW_BASELINE", {"k": 0})
    corpora = {"one": Path("x"), "two": Path("y"), "three": Path("z")}
    out = classify.leave_one_corpus_out(corpora, Path("cache"), {"k": 0}, [1, 2])
    assert len(out) == 2 * 2 * 3 and len(Spy.calls) == 2 * 2 * 3 * 2
    for _, train, test in Spy.calls:
        speakers = np.concatenate([np.array([f"{c}/s{k}" for k in np.repeat(range(6), 6)])
                                   for c in corpora])
        tested = {speakers[i].split("/")[0] for i in test}
        trained = {speakers[i].split("/")[0] for i in train}
        assert len(tested) == 1 and not tested & trained and len(trained) == 2


def test_a_cache_from_other_model_code_is_not_reused(classify, monkeypatch, tmp_path):
    path = tmp_path / "c-train-predictions.joblib"
    data = {"cache": {("vectors", "basic", "base"): np.ones(3)}}
    classify.save_cache(data, path)
    again = {"cache": {}}
    classify.load_cache(again, path)
    assert list(again["cache"]) == [("vectors", "basic", "base")]
    monkeypatch.setattr(classify, "code_version", lambda paths: "edited")
    stale = {"cache": {}}
    classify.load_cache(stale, path)
    assert stale["cache"] == {}


def test_the_code_version_follows_the_sources(classify, monkeypatch, tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "one.py").write_text("y = 1\n")
    monkeypatch.setattr(classify, "PROJECT", tmp_path)
    before = classify.code_version(("pkg", "one.py"))
    assert classify.code_version(("pkg", "one.py")) == before
    (tmp_path / "pkg" / "a.py").write_text("x = 2\n")
    assert classify.code_version(("pkg", "one.py")) != before
    edited = classify.code_version(("pkg", "one.py"))
    (tmp_path / "one.py").write_text("y = 2\n")
    assert classify.code_version(("pkg", "one.py")) != edited


def test_the_ece_floor_shrinks_with_more_files(classify):
    rng = np.random.default_rng(0)
    few = classify.ece_floor(rng.dirichlet([1.0, 1.0, 1.0], size=60))
    many = classify.ece_floor(rng.dirichlet([1.0, 1.0, 1.0], size=6000))
    assert many < 0.02 < few < 0.3
