"""Evaluating on another corpus's records (issue 22): label sets never mixed, results named after
the records they score, nothing written before the checks pass; per-corpus and per-fold scores.

Two tiny tone corpora of the same audio: an EMO-DB tree (anger, sadness, neutral) and a
manifest whose labels are angry, sad and calm, each made into leave-one-speaker-out records;
a `--model svm` (fast, deterministic) is trained on the EMO-DB folds.
"""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tfemo import eval as evaluate
from tfemo import predict, train
from tfemo.make_tfrecords import main as make_tfrecords_main
from tfemo.records.description import DatasetDescription
from tfemo.scoring.calibration import apply_temperature

SPEAKERS = ("03", "08", "09", "10")
TONES = {"W": (440.0, 0.5), "T": (150.0, 0.08), "N": (250.0, 0.2)}
OTHER = {"W": "angry", "T": "sad", "N": "calm"}
COMMON = ["--embeddings", "none", "--features", "rms,mfcc", "--workers", "1", "--quiet"]
RUN = ["--model", "svm", "--max_steps", "3", "--device", "-1", "--verbose", "0"]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Path]:
    """Records A (EMO-DB tree, loso), records B (manifest of other labels, loso), a train dir
    of svm folds on A, and a label map of B's classes onto A's."""
    root = tmp_path_factory.mktemp("cross")
    rng = np.random.default_rng(3)
    for speaker in SPEAKERS:
        for letter, (hertz, amplitude) in TONES.items():
            for text in ("a01", "a02", "a04"):
                t = np.arange(int(rng.uniform(0.5, 1.0) * 16000)) / 16000
                audio = amplitude * np.sin(2 * np.pi * hertz * t) + \
                    0.01 * rng.standard_normal(len(t))
                path = root / "emodb" / "wav" / f"{speaker}{text}{letter}a.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                soundfile.write(path, audio.astype(np.float32), 16000, subtype="PCM_16")
    rows = ["path,speaker,label"] + [
        f"{wav},{wav.name[:2]},{OTHER[wav.name[5]]}"
        for wav in sorted((root / "emodb" / "wav").glob("*.wav"))]
    (root / "other.csv").write_text("\n".join(rows) + "\n")
    assert make_tfrecords_main(["--corpus", "emodb", "--data_dir", str(root / "emodb"),
                                "--output_dir", str(root / "A"), "--partition", "loso",
                                *COMMON]) == 0
    assert make_tfrecords_main(["--corpus", "manifest", "--data_dir", str(root / "other.csv"),
                                "--output_dir", str(root / "B"), "--partition", "loso",
                                *COMMON]) == 0
    assert train.main([*RUN, "--tfrecords", str(root / "A"), "--train_dir",
                       str(root / "train")]) == 0
    (root / "map.toml").write_text('[other]\nangry = "anger"\nsad = "sadness"\n')
    return {"A": root / "A", "B": root / "B", "train": root / "train", "map": root / "map.toml",
            "root": root}


def _eval(train_dir: Path, records: Path, *extra: str) -> int:
    return evaluate.main(["--portion", "test", "--train_dir", str(train_dir), "--tfrecords",
                          str(records), "--device", "-1", *extra])


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_records_of_other_classes_are_refused_in_one_line_and_nothing_is_written(
        corpora, capsys):
    fold = corpora["train"] / "fold-01"
    assert _eval(fold, corpora["A"] / "fold-01") == 0
    before = _files(corpora["train"])
    capsys.readouterr()
    assert _eval(fold, corpora["B"] / "fold-01") == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0]
    assert "[angry, calm, sad]" in lines[0]
    assert "[anger, boredom, disgust, fear, happiness, sadness, neutral]" in lines[0]
    assert "--label_map" in lines[0]
    assert _eval(corpora["train"], corpora["B"]) == 2  # every fold: refused before any is scored
    assert _files(corpora["train"]) == before


def test_a_label_map_reconciles_the_classes_and_drops_the_unmapped_ones(corpora, capsys):
    fold = corpora["train"] / "fold-01"
    assert _eval(fold, corpora["A"] / "fold-01") == 0
    own = (fold / "eval-test-fitted.json").read_bytes()
    assert _eval(fold, corpora["B"] / "fold-01", "--label_map", str(corpora["map"])) == 0
    (result,) = fold.glob("eval-test-fitted-on-other-*.json")
    scores = json.loads(result.read_text())
    assert scores["dropped"] == {"calm": 3} and scores["files"] == 6
    assert scores["mapped"] == {"angry": "anger", "sad": "sadness"}
    assert scores["records_classes"] == ["angry", "calm", "sad"]
    assert scores["classes"][0] == "anger" and len(scores["classes"]) == 7
    assert np.array(scores["confusion"]).sum() == 6
    assert 0.0 <= scores["uar"] <= 1.0 and scores["records"] == result.stem.split("-on-")[1]
    rows = result.with_suffix(".csv").read_text().splitlines()[1:]
    assert len(rows) == 6 and {r.split(",")[3] for r in rows} == {"anger", "sadness"}
    assert (fold / "eval-test-fitted.json").read_bytes() == own  # the model's own result is kept
    assert f"records={scores['records']}" in (fold / "log_eval.txt").read_text()


def test_a_second_evaluation_never_overwrites_another_ones_result(corpora):
    fold = corpora["train"] / "fold-02"
    assert _eval(fold, corpora["A"] / "fold-02") == 0
    own = (fold / "eval-test-fitted.json").read_bytes()
    assert _eval(fold, corpora["A"] / "fold-03") == 0  # the same classes, other records
    (other,) = fold.glob("eval-test-fitted-on-emodb-*.json")
    assert json.loads(other.read_text())["tfrecords"] == str(corpora["A"] / "fold-03")
    assert (fold / "eval-test-fitted.json").read_bytes() == own
    assert json.loads(own)["tfrecords"] == str(corpora["A"] / "fold-02")


def test_folds_scored_on_another_corpus_with_a_label_map_keep_the_pooled_result(corpora):
    assert _eval(corpora["train"], corpora["A"]) == 0
    pooled = (corpora["train"] / "eval-test-fitted-pooled.json").read_bytes()
    assert _eval(corpora["train"], corpora["B"], "--label_map", str(corpora["map"])) == 0
    (result,) = corpora["train"].glob("eval-test-fitted-pooled-on-other-*.json")
    scores = json.loads(result.read_text())
    assert scores["files"] == 24 and scores["dropped"] == {"calm": 12}
    assert (corpora["train"] / "eval-test-fitted-pooled.json").read_bytes() == pooled
    for fold in ("fold-01", "fold-04"):
        assert len(list((corpora["train"] / fold).glob("eval-test-fitted-on-other-*.json"))) == 1


def test_a_label_map_onto_a_class_the_model_lacks_and_calibrating_on_foreign_records_are_refused(
        corpora, tmp_path, capsys):
    fold = corpora["train"] / "fold-03"
    bad = tmp_path / "bad.toml"
    bad.write_text('[other]\nangry = "furious"\n')
    before = _files(fold)
    capsys.readouterr()
    assert _eval(fold, corpora["B"] / "fold-03", "--label_map", str(bad)) == 2
    err = capsys.readouterr().err
    assert "furious" in err and "not a class of the model" in err
    assert _eval(fold, corpora["B"] / "fold-03", "--label_map", str(corpora["map"]),
                 "--calibrate") == 2
    assert "--calibrate" in capsys.readouterr().err
    assert _files(fold) == before


@pytest.fixture(scope="module")
def merged(corpora) -> dict[str, Path]:
    """Both corpora in one set of records on the classes they share (loso over 8 speakers), and
    svm folds trained on them."""
    root = corpora["root"]
    # speaker 09's a01 angry and sad files swap labels: its fold cannot score 1.0
    swap = {"angry": "sad", "sad": "angry"}
    rows = [(line.replace(f",{line.rsplit(',', 1)[1]}", f",{swap[line.rsplit(',', 1)[1]]}")
             if "/09a01" in line and line.rsplit(",", 1)[1] in swap else line)
            for line in (root / "other.csv").read_text().splitlines()]
    (root / "noisy.csv").write_text("\n".join(rows) + "\n")
    (root / "shared.toml").write_text('[emodb]\nanger = "angry"\nsadness = "sad"\n\n'
                                      '[other]\nangry = "angry"\nsad = "sad"\n')
    assert make_tfrecords_main([
        "--corpus", f"emodb={root / 'emodb'}", "--corpus", f"other={root / 'noisy.csv'}",
        "--label_map", str(root / "shared.toml"), "--output_dir", str(root / "merged"),
        "--partition", "loso", *COMMON]) == 0
    assert train.main([*RUN, "--tfrecords", str(root / "merged"), "--train_dir",
                       str(root / "merged-train")]) == 0
    return {"records": root / "merged", "train": root / "merged-train"}


def test_eval_reports_each_corpus_each_fold_and_mean_sd_over_folds(merged, capsys):
    assert _eval(merged["train"], merged["records"]) == 0
    pooled = json.loads((merged["train"] / "eval-test-fitted-pooled.json").read_text())
    folds = [json.loads(p.read_text())
             for p in sorted(merged["train"].glob("fold-*/eval-test-fitted.json"))]
    assert len(folds) == 8 and pooled["folds"] == 8 and pooled["files"] == 48
    assert min(f["uar"] for f in folds) < 1.0 == max(f["uar"] for f in folds)
    assert pooled["folds_sd"]["uar"] > 0
    for key in ("uar", "wa", "macro_f1"):
        values = [f[key] for f in folds]
        assert pooled["folds_mean"][key] == pytest.approx(np.mean(values))
        assert pooled["folds_sd"][key] == pytest.approx(np.std(values, ddof=1))
    assert sorted(pooled["corpora"]) == ["emodb", "other"]
    assert [pooled["corpora"][c]["files"] for c in ("emodb", "other")] == [24, 24]
    # each fold tests one speaker of one corpus: its corpus row is the fold's own score
    for fold in folds:
        (name,) = fold["corpora"]
        assert fold["corpora"][name]["uar"] == fold["uar"]
        assert fold["corpora"][name]["files"] == fold["files"]
    # the pooled per-corpus score is that corpus's folds pooled
    emodb = [f for f in folds if "emodb" in f["corpora"]]
    confusion = sum(np.array(f["confusion"]) for f in emodb)
    recalls = np.diag(confusion)[confusion.sum(1) > 0] / confusion.sum(1)[confusion.sum(1) > 0]
    assert pooled["corpora"]["emodb"]["uar"] == pytest.approx(recalls.mean())


def test_the_final_model_trains_on_every_speaker_and_calibrates_on_inner_folds(corpora, capsys):
    final = corpora["root"] / "final"
    assert train.main([*RUN, "--final", "--tfrecords", str(corpora["A"] / "fold-02"),
                       "--train_dir", str(final)]) == 0
    view = DatasetDescription.read(final / "records-all")
    assert sorted(view.portions) == ["train"]
    assert view.portions["train"]["examples"] == 36
    assert view.portions["train"]["speakers"] == list(SPEAKERS)
    entry = json.loads((final / "temperature.json").read_text())["steps"]["fitted"]
    assert entry["portion"].startswith("train (inner speaker folds)") and entry["files"] == 36
    assert (final / "model.joblib").is_file()
    run = tomllib.loads((final / "run.toml").read_text())
    assert run["train_portions"] == "train" and run["calibration_folds"] == 3
    # the final model scores every item of the records: its own, as one train portion
    assert _eval(final, final / "records-all", "--portion", "train") == 0
    assert json.loads((final / "eval-train-fitted.json").read_text())["files"] == 36


def _predict(model: Path, wavs: list[Path], output: Path) -> list[dict]:
    assert predict.main([*map(str, wavs), "--train_dir", str(model), "--output_dir",
                         str(output), "--no_speech_check"]) == 0
    with open(output / "predictions.csv") as rows:
        return list(csv.DictReader(rows))


def test_predict_averages_the_calibrated_probabilities_of_the_fold_models(corpora, tmp_path):
    wavs = sorted((corpora["root"] / "emodb" / "wav").glob("03a0*.wav"))[:4]
    # each fold calibrated on its devel speaker: the ensemble averages calibrated values
    assert _eval(corpora["train"], corpora["A"], "--portion", "devel", "--calibrate") == 0
    ensemble = _predict(corpora["train"], wavs, tmp_path / "ensemble")
    folds = [_predict(fold, wavs, tmp_path / fold.name)
             for fold in sorted(corpora["train"].glob("fold-*"))]
    assert len(folds) == 4 and len(ensemble) == 4
    names = [k for k in ensemble[0] if k.startswith("p_")]
    assert len(names) == 7
    for row, per_fold in zip(ensemble, zip(*folds, strict=True), strict=True):
        mean = np.mean([[float(r[n]) for n in names] for r in per_fold], axis=0)
        np.testing.assert_allclose([float(row[n]) for n in names], mean, atol=2e-6)
        assert row["top_class"] == names[int(np.argmax(mean))][2:]
    temperatures = [json.loads((f / "temperature.json").read_text())["steps"]["fitted"]
                    for f in sorted(corpora["train"].glob("fold-*"))]
    assert len({t["temperature"] for t in temperatures}) > 1  # each fold its own
    # emotion over time takes one model: a train dir of folds is refused in one line
    assert predict.main([str(wavs[0]), "--train_dir", str(corpora["train"]), "--output_dir",
                         str(tmp_path / "segments"), "--segments", "vad"]) == 2
    assert not (tmp_path / "segments").exists()


def test_the_documented_cross_corpus_path_one_command_per_step(corpora, tmp_path):
    """docs/cross-corpus.md: records of two corpora with a label map, a final model on every
    speaker of both, records of a third corpus, eval on them through its own label map."""
    root = corpora["root"]
    third = tmp_path / "third.csv"  # the same tones, labelled as a third corpus would
    names = {"W": "wut", "T": "trauer", "N": "ruhe"}
    third.write_text("path,speaker,label\n" + "".join(
        f"{wav},t{wav.name[:2]},{names[wav.name[5]]}\n"
        for wav in sorted((root / "emodb" / "wav").glob("*.wav"))))
    (tmp_path / "train-labels.toml").write_text(
        '[emodb]\nanger = "angry"\nsadness = "sad"\n\n[other]\nangry = "angry"\nsad = "sad"\n')
    (tmp_path / "test-labels.toml").write_text('[third]\nwut = "angry"\ntrauer = "sad"\n')
    assert make_tfrecords_main([
        "--corpus", f"emodb={root / 'emodb'}", "--corpus", f"other={root / 'other.csv'}",
        "--label_map", str(tmp_path / "train-labels.toml"), "--partition", "fixed-corpora",
        "--split", "train=emodb,other", "--output_dir", str(tmp_path / "two"), *COMMON]) == 0
    assert train.main([*RUN, "--final", "--tfrecords", str(tmp_path / "two"), "--train_dir",
                       str(tmp_path / "model")]) == 0
    assert make_tfrecords_main([
        "--corpus", f"third={third}", "--partition", "fixed-corpora", "--split", "test=third",
        "--output_dir", str(tmp_path / "third"), *COMMON]) == 0
    assert _eval(tmp_path / "model", tmp_path / "third") == 2  # other classes: refused
    assert _eval(tmp_path / "model", tmp_path / "third", "--label_map",
                 str(tmp_path / "test-labels.toml")) == 0
    (result,) = (tmp_path / "model").glob("eval-test-fitted-on-third-*.json")
    scores = json.loads(result.read_text())
    assert scores["files"] == 24 and scores["dropped"] == {"ruhe": 12}
    assert scores["classes"] == ["angry", "sad"] and scores["uar"] > 0.9


def test_fold_models_on_another_corpus_are_scored_each_and_as_an_ensemble(corpora, capsys):
    """The issue's command: a train dir of folds on one fold of another corpus's records."""
    train_dir, records = corpora["train"], corpora["B"] / "fold-01"
    assert _eval(train_dir, records) == 2  # other classes: refused, nothing written
    assert not list(train_dir.glob("eval-test-fitted-ensemble*"))
    assert _eval(train_dir, records, "--label_map", str(corpora["map"])) == 0
    (result,) = train_dir.glob("eval-test-fitted-ensemble-on-other-*.json")
    scores = json.loads(result.read_text())
    assert scores["ensemble"] and scores["folds"] == 4 and scores["files"] == 6
    assert scores["dropped"] == {"calm": 3}
    folds = [json.loads(p.read_text()) for p in sorted(
        train_dir.glob(f"fold-*/eval-test-fitted-on-{scores['records']}.json"))]
    assert len(folds) == 4 and all(f["files"] == 6 for f in folds)
    assert scores["folds_mean"]["uar"] == pytest.approx(np.mean([f["uar"] for f in folds]))
    # the ensemble's probabilities are the mean of the folds' calibrated ones, file by file
    rows = [np.loadtxt(result.with_suffix(".csv"), delimiter=",", skiprows=1,
                       usecols=range(5, 12))]
    for path in sorted(train_dir.glob(f"fold-*/eval-test-fitted-on-{scores['records']}.csv")):
        fold = path.parent
        probabilities = np.loadtxt(path, delimiter=",", skiprows=1, usecols=range(5, 12))
        temperature = fold / "temperature.json"
        if temperature.exists():
            t = json.loads(temperature.read_text())["steps"]["fitted"]["temperature"]
            probabilities = apply_temperature(probabilities, t)
        rows.append(probabilities)
    np.testing.assert_allclose(rows[0], np.mean(rows[1:], axis=0), atol=2e-6)


@pytest.mark.slow
def test_a_final_keras_classifier_takes_its_temperature_from_inner_speaker_models(corpora):
    final = corpora["root"] / "final-conv1d"
    assert train.main(["--model", "conv1d", "--batch_size", "4", "--filters", "8", "--hidden",
                       "8", "--blocks", "1", "--learning_rate", "3e-3", "--max_steps", "6",
                       "--save_interval_secs", "100", "--verbose", "0", "--device", "-1",
                       "--final", "--tfrecords", str(corpora["A"]),
                       "--train_dir", str(final)]) == 0
    entry = json.loads((final / "temperature.json").read_text())["steps"]["6"]
    assert entry["portion"].startswith("train (inner speaker folds)") and entry["files"] == 36
    inner = sorted((final / "inner").glob("fold-*"))
    assert len(inner) == 3  # 4 speakers dealt into 3 groups
    held = [DatasetDescription.read(f / "records").portions["test"]["speakers"] for f in inner]
    assert sorted(s for group in held for s in group) == list(SPEAKERS)
    assert all((f / "model.ckpt-6.index").is_file() for f in inner)
    assert DatasetDescription.read(final / "records-all").portions["train"]["examples"] == 36
