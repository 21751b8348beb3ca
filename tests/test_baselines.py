"""`--model svm` and `--model logreg` through tfemo.train / eval / predict on the tonal fake
EMO-DB tree of test_classifier_pipeline: folds, pooled scores, step files and run.toml."""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from tests.test_classifier_pipeline import fold_records, tonal_emodb, tone  # noqa: F401
from tfemo import eval as evaluate
from tfemo import predict, train
from tfemo.models.estimator import UtteranceEstimator, utterance_statistics
from tfemo.models.registry import model_spec
from tfemo.training.checkpoints import available_steps

RUN = ["--max_steps", "7", "--device", "-1", "--verbose", "0"]
slow = pytest.mark.slow  # these fit models on the fake tree's 4 folds (about 5 to 30 s each)


STATISTICS = {"svm": "rich", "logreg": "rich", "logreg-full": "full"}


@pytest.fixture(scope="module", params=list(STATISTICS))
def fitted(request, fold_records, tmp_path_factory) -> tuple[str, Path]:  # noqa: F811
    """(variant, train dir): svm and logreg with their default statistics, and logreg on the
    full functionals (the default recipe's)."""
    train_dir = tmp_path_factory.mktemp(request.param)
    name = request.param.split("-")[0]
    assert train.main(["--model", name, "--statistics", STATISTICS[request.param],
                       "--tfrecords", str(fold_records), "--train_dir", str(train_dir),
                       *RUN]) == 0
    return request.param, train_dir


def test_statistics_ignore_padded_frames():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((1, 9, 4)).astype(np.float32)
    padded = np.concatenate([features, np.full((1, 5, 4), 1e6, np.float32)], axis=1)
    mask = np.r_[np.ones(9, bool), np.zeros(5, bool)][None]
    alone = utterance_statistics(features, np.ones((1, 9), bool))
    np.testing.assert_allclose(utterance_statistics(padded, mask), alone, rtol=1e-5)
    np.testing.assert_allclose(alone[0, :4], features[0].mean(0), rtol=1e-5)
    assert alone.shape == (1, 20)  # mean, std, p10, p90, mean |delta| of 4 features


@slow
def test_train_eval_pool_and_files(fitted, fold_records):  # noqa: F811
    variant, train_dir = fitted
    name = variant.split("-")[0]
    assert model_spec(name).is_estimator
    for fold in ("fold-01", "fold-04"):
        # fitted once, not stepped: one model.joblib and no step anywhere (--max_steps 7)
        assert available_steps(train_dir / fold) == []
        assert sorted(p.name for p in (train_dir / fold).glob("*.joblib")) == ["model.joblib"]
        spec = json.loads((train_dir / fold / "model.json").read_text())
        assert spec["model"] == name and spec["config"]["statistics"] == STATISTICS[variant]
    run = tomllib.loads((train_dir / "run.toml").read_text())
    assert run["model"] == name and run["class_weight"] == "balanced"
    assert evaluate.main(["--portion", "test", "--train_dir", str(train_dir),
                          "--tfrecords", str(fold_records), "--device", "-1"]) == 0
    pooled = json.loads((train_dir / "eval-test-fitted-pooled.json").read_text())
    assert pooled["files"] == 24 and pooled["folds"] == 4 and pooled["uar"] >= 0.9
    assert pooled["step"] == "fitted"
    assert np.array(pooled["confusion"]).sum() == 24
    assert (train_dir / "eval-test-fitted-pooled-confusion.png").stat().st_size > 1000
    assert not list(train_dir.rglob("*-7*")), "a fake step in a file name"
    assert "step=fitted " in (train_dir / "fold-01" / "log_eval.txt").read_text()
    assert evaluate.main(["--portion", "test", "--steps", "3", "--train_dir",
                          str(train_dir / "fold-01"), "--tfrecords",
                          str(fold_records / "fold-01"), "--device", "-1"]) == 2


@slow
def test_the_scaler_is_fit_on_the_train_portion_only(fitted, fold_records):  # noqa: F811
    name, train_dir = fitted
    from tfemo.training.estimator import portion_vectors

    estimator = UtteranceEstimator.load(train_dir / "fold-01" / "model.joblib")
    vectors, *_ = portion_vectors(estimator, fold_records / "fold-01", "train", False)
    scaler = estimator.pipeline.steps[0][1]
    np.testing.assert_allclose(scaler.mean_, vectors.mean(axis=0), rtol=1e-6, atol=1e-8)
    assert scaler.n_samples_seen_ == len(vectors) == 12


@slow
def test_refit_is_a_no_op_and_other_flags_are_refused(fitted, fold_records,  # noqa: F811
                                                      capsys):
    variant, train_dir = fitted
    name, same = variant.split("-")[0], ["--statistics", STATISTICS[variant]]
    fold = train_dir / "fold-02"
    before = (fold / "model.joblib").stat().st_mtime_ns
    assert train.main(["--model", name, "--tfrecords", str(fold_records / "fold-02"),
                       "--train_dir", str(fold), *same, *RUN,
                       "--max_steps", "99"]) == 0  # an estimator has no steps to add
    assert (fold / "model.joblib").stat().st_mtime_ns == before
    assert train.main(["--model", name, "--tfrecords", str(fold_records / "fold-02"),
                       "--train_dir", str(fold), *same, "--class_weight", "none", *RUN]) == 2
    assert "other flags" in capsys.readouterr().err


@slow
def test_predict_uses_the_estimator(fitted, tmp_path):
    name, train_dir = fitted
    rng = np.random.default_rng(3)
    tone(tmp_path / "in" / "loud.wav", 440.0, 0.5, rng)
    tone(tmp_path / "in" / "quiet.wav", 150.0, 0.08, rng)
    output = tmp_path / "out"
    assert predict.main([str(tmp_path / "in"), "--train_dir", str(train_dir / "fold-01"),
                         "--output_dir", str(output), "--no_speech_check"]) == 0
    rows = {Path(r["path"]).name: r for r in csv.DictReader((output / "predictions.csv").open())}
    assert rows["loud.wav"]["top_class"] == "anger"
    assert rows["quiet.wav"]["top_class"] == "sadness"
    for row in rows.values():
        total = sum(float(v) for k, v in row.items() if k.startswith("p_"))
        assert total == pytest.approx(1.0, abs=1e-5)


@slow
def test_folds_calibrate_on_devel_and_pool_the_calibrated_scores(fitted, fold_records):  # noqa: F811
    name, train_dir = fitted
    common = ["--train_dir", str(train_dir), "--tfrecords", str(fold_records), "--device", "-1"]
    assert evaluate.main(["--portion", "devel", "--calibrate", *common]) == 0
    assert all((train_dir / f"fold-0{k}" / "temperature.json").is_file() for k in range(1, 5))
    assert evaluate.main(["--portion", "test", *common]) == 0
    pooled = json.loads((train_dir / "eval-test-fitted-pooled.json").read_text())["calibration"]
    assert {"nll", "ece", "nll_calibrated", "ece_calibrated"} <= set(pooled)
    assert 0.0 <= pooled["ece_calibrated"] <= 1.0


def test_the_shipped_recipe_is_a_valid_config():
    recipe = Path(__file__).resolve().parents[1] / "configs" / "emotion-default.toml"
    settings = train.parse_args(["--config", str(recipe)])
    assert settings.model == "logreg" and settings.model_config.statistics == "full+gemaps"
    assert settings.model_config.gemaps_weight == 4.0
    assert settings.model_config.utterance_norm == "speaker"
    assert settings.model_config.calibration_folds == 10
    assert settings.model_config.logreg_c == 0.003
    assert settings.train.train_portions == "train+devel"


@pytest.fixture(scope="module")
def per_speaker(fold_records, tmp_path_factory) -> Path:  # noqa: F811
    """logreg on full functionals z-scored per speaker, on every non-test speaker of each fold,
    calibrated on 3 inner speaker folds (the shape of the default recipe)."""
    train_dir = tmp_path_factory.mktemp("per-speaker")
    assert train.main(["--model", "logreg", "--statistics", "full", "--utterance_norm",
                       "speaker", "--calibration_folds", "3", "--train_portions", "train+devel",
                       "--tfrecords", str(fold_records), "--train_dir", str(train_dir),
                       *RUN]) == 0
    return train_dir


@slow
def test_per_speaker_vectors_train_on_every_other_speaker_and_calibrate_inside(
        per_speaker, fold_records):  # noqa: F811
    from tfemo.evaluation.portion import predict_portion
    from tfemo.training.estimator import portion_vectors
    from tfemo.training.inner_calibration import INNER_PORTION

    for k in range(1, 5):
        fold = per_speaker / f"fold-0{k}"
        saved = json.loads((fold / "temperature.json").read_text())["steps"]["fitted"]
        assert saved["portion"] == INNER_PORTION and saved["files"] == 18  # 3 speakers x 6
    estimator = UtteranceEstimator.load(per_speaker / "fold-01" / "model.joblib")
    assert estimator.per_speaker and estimator.get_config()["utterance_norm"] == "speaker"
    # eval scores the test speaker with that speaker's own statistics, not file by file
    vectors, _, ids, speakers = portion_vectors(estimator, fold_records / "fold-01", "test",
                                                False)
    files = predict_portion(estimator, fold_records / "fold-01", "test")
    assert [f.id for f in files] == ids
    np.testing.assert_allclose(np.stack([f.predictions for f in files]),
                               estimator.probabilities(vectors, speakers), rtol=1e-6)
    assert not np.allclose(estimator.probabilities(vectors, speakers),
                           estimator.probabilities(vectors))  # alone: the fallback
    assert evaluate.main(["--portion", "test", "--train_dir", str(per_speaker),
                          "--tfrecords", str(fold_records), "--device", "-1"]) == 0
    pooled = json.loads((per_speaker / "eval-test-fitted-pooled.json").read_text())
    assert pooled["files"] == 24 and pooled["uar"] >= 0.9
    assert "ece_calibrated" in pooled["calibration"]


@slow
def test_an_older_train_dir_with_a_step_in_its_file_name_still_reads(
        fitted, fold_records, tonal_emodb, tmp_path):  # noqa: F811
    import shutil

    _, train_dir = fitted
    old = tmp_path / "old"
    shutil.copytree(train_dir / "fold-03", old)
    (old / "model.joblib").rename(old / "model.ckpt-1000.joblib")  # as tfemo wrote it before
    assert available_steps(old) == [1000]
    assert evaluate.main(["--portion", "test", "--steps", "1000", "--train_dir", str(old),
                          "--tfrecords", str(fold_records / "fold-03"), "--device", "-1"]) == 0
    assert json.loads((old / "eval-test-1000.json").read_text())["step"] == 1000
    assert predict.main([str(next(tonal_emodb.rglob("*.wav"))), "--train_dir", str(old),
                         "--output_dir", str(tmp_path / "p"), "--no_speech_check"]) == 0


def _probabilities(folder: Path) -> dict[str, np.ndarray]:
    """path -> the p_* columns of a predictions.csv."""
    with open(folder / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = [k for k in rows[0] if k.startswith("p_")]
    return {Path(r["path"]).name: np.array([float(r[n]) for n in names]) for r in rows}


@slow
def test_predict_standardises_each_speakers_files_with_that_speakers_statistics(
        per_speaker, tonal_emodb, tmp_path):  # noqa: F811
    from tfemo.inference.predictor import Predictor

    wavs = sorted((tonal_emodb / "wav").glob("*.wav"))
    first, second = sorted({w.name[:2] for w in wavs})[:2]
    group = [w for w in wavs if w.name.startswith(first)]
    lone = next(w for w in wavs if w.name.startswith(second))
    unnamed = [w for w in wavs if w.name.startswith(second)][1]
    broken = tmp_path / "broken.wav"  # reported and skipped; A's statistics come without it
    broken.write_bytes(b"RIFF not really a wav")
    listed = tmp_path / "list.csv"
    with open(listed, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "speaker"])
        writer.writerows([[str(w), "A"] for w in group] + [[str(broken), "A"], [str(lone), "B"],
                                                            [str(unnamed), ""]])
    model = per_speaker / "fold-01"
    flags = ["--train_dir", str(model), "--no_speech_check"]
    assert predict.main([*flags, "--output_dir", str(tmp_path / "together"), str(listed)]) == 0
    assert predict.main([*flags, "--output_dir", str(tmp_path / "alone"),
                         *map(str, [*group, lone, unnamed])]) == 0
    together, alone = _probabilities(tmp_path / "together"), _probabilities(tmp_path / "alone")
    assert broken.name not in together and len(together) == len(group) + 2
    assert predict.main([*flags, "--strict", "--output_dir", str(tmp_path / "strict"),
                         str(listed)]) != 0
    assert not (tmp_path / "strict" / "predictions.csv").exists()
    # speaker A: standardised with the statistics of A's own files, as eval scores a speaker
    predictor = Predictor(model, speech_check=False)
    estimator = predictor.model
    vectors = np.concatenate([estimator.statistics_of(
        {"features": predictor.inputs(w)["features"][None]}) for w in group])
    expected = predictor.calibrated(estimator.probabilities(vectors, ["A"] * len(group)))
    got = np.stack([together[w.name] for w in group])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # the fake tree's tones are told apart at p ~ 1: the log-probabilities show the change
    apart = np.log(np.clip(got, 1e-300, None)) - np.log(np.clip(
        np.stack([alone[w.name] for w in group]), 1e-300, None))
    assert np.abs(apart).max() > 0.1
    # one file of B, and a file with no speaker: the training speakers' statistics, as alone
    for w in (lone, unnamed):
        np.testing.assert_allclose(together[w.name], alone[w.name], atol=1e-6)
    # a train dir of folds: every fold model standardises A's files with A's statistics
    folds = tmp_path / "folds"
    assert predict.main(["--train_dir", str(per_speaker), "--no_speech_check", "--output_dir",
                         str(folds), str(listed)]) == 0
    members = [Predictor(f, speech_check=False) for f in sorted(per_speaker.glob("fold-*"))]
    mean = np.mean([m.calibrated(m.model.probabilities(vectors, ["A"] * len(group)))
                    for m in members], axis=0)
    np.testing.assert_allclose(np.stack([_probabilities(folds)[w.name] for w in group]), mean,
                               atol=1e-5)


def test_a_speaker_column_is_not_used_by_a_model_that_standardises_files_alone(tmp_path):
    from types import SimpleNamespace

    from tfemo.inference.requests import Request
    from tfemo.predict import speakers_of

    printed = []
    console = SimpleNamespace(print=printed.append)
    keras_model = SimpleNamespace(model=object())  # not an estimator
    requests = [Request(tmp_path / "a.wav", speaker="A"), Request(tmp_path / "b.wav")]
    assert speakers_of(keras_model, requests, None, False, console) == {}
    assert len(printed) == 1  # one warning line
    assert speakers_of(keras_model, [Request(tmp_path / "a.wav")], None, False, console) == {}
    assert len(printed) == 1  # no speaker column: nothing to say
