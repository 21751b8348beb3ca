"""The shipped experiment files run end to end at a small size, resume after a kill, and their
report opens in Debian's chromium with every image loaded (driven by Playwright, as
tests/test_serve_browser.py drives it).

The demo file runs on the tiny demo corpus (3 speakers, so 3 speaker folds); the EMO-DB file on
a fake EMO-DB tree in the authors' layout (4 speakers, every emotion twice each). Both keep the
shipped features, models, calibration and final model.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.report_browser import assert_every_image_loads, has_chromium, loaded_images
from tfemo import experiment as experiment_command
from tfemo.corpora.demo import TINY_CONFIG, ensure_demo_corpus
from tfemo.corpora.emodb import EMOTIONS
from tfemo.experiments.layout import RunFolder
from tfemo.experiments.spec import load
from tfemo.experiments.steps import plan, records_of

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
pytestmark = pytest.mark.slow


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _wait_for(path: Path, process: subprocess.Popen, seconds: float = 900) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, f"the experiment ended ({process.returncode}) early"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.5)


def _logged_commands(run: RunFolder) -> list[str]:
    return [line for line in run.commands_log.read_text().splitlines()
            if not line.startswith("#")]


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory) -> Path:
    """The tiny demo corpus: one speaker per portion, 12 utterances and a session each."""
    return ensure_demo_corpus(TINY_CONFIG, tmp_path_factory.mktemp("demo") / "tiny")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, tiny_demo) -> tuple[Path, list[str]]:
    """The demo experiment on the tiny demo corpus, SIGKILLed after its first model trained,
    then run again to the end."""
    base = tmp_path_factory.mktemp("demo-experiment")
    overrides = [f"records.data_dir={tiny_demo}", "records.folds=3", "records.workers=1",
                 f"experiment.output_dir={base / 'runs'}"]
    argv = [str(CONFIGS / "demo.toml"), *(a for o in overrides for a in ("--set", o))]
    run = load(CONFIGS / "demo.toml", overrides).run
    process = subprocess.Popen([sys.executable, "-m", "tfemo.experiment", *argv],
                               env=_environment(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        _wait_for(run.marker("train-recipe"), process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not run.report_html.exists()
    assert experiment_command.main(argv) == 0
    return run, overrides


def test_the_demo_experiment_resumes_after_a_kill_and_reports_its_result_files(demo_run):
    run, overrides = demo_run
    experiment = load(CONFIGS / "demo.toml", overrides)
    steps = plan(experiment, records_of(run))
    assert [s.name for s in steps][-1] == "final-train"
    assert all(run.marker(s.name).is_file() for s in steps)
    # each step ran to its end once: the kill cost the step it interrupted, nothing before it
    logged = _logged_commands(run)
    assert len(logged) == len(steps)
    assert all(line.endswith(re.search(r"# exit 0, [\d.]+ s$", line).group(0))
               for line in logged)
    assert sum(" tfemo.make_tfrecords " in line for line in logged) == 1
    assert (run.final / "model.json").is_file()
    report = run.report_md.read_text()
    for model in ("recipe", "baseline"):
        pooled = json.loads(next((run.train_dir(model)).glob("eval-test-*-pooled.json"))
                            .read_text())
        assert pooled["folds"] == 3 and pooled["files"] == 36
        assert f"| {model} | " in report and f"{pooled['uar']:.3f}" in report
        assert (run.train_dir(model) / "fold-01" / "temperature.json").is_file()
    for line in logged:
        assert line.split("  # exit")[0] in report
    assert "| f3 | 2 | 2 | 2 | 2 | 2 | 2 | 12 |" in report  # per speaker and class

    # a rerun does nothing; --report rebuilds the same report from the files alone
    html, markdown = run.report_html.read_bytes(), run.report_md.read_bytes()
    run.report_html.unlink()
    argv = [str(CONFIGS / "demo.toml"), *(a for o in overrides for a in ("--set", o))]
    assert experiment_command.main(argv) == 0
    assert _logged_commands(run) == logged
    assert run.report_html.read_bytes() == html
    for rebuild in (["--report", str(run.root)], [*argv, "--report_only"]):
        run.report_md.unlink()
        assert experiment_command.main(rebuild) == 0
        assert run.report_md.read_bytes() == markdown
    assert _logged_commands(run) == logged


@pytest.mark.skipif(not has_chromium(),
                    reason="Debian's chromium is not installed (tools/install.sh)")
def test_the_report_is_self_contained_and_every_image_loads_in_chromium(demo_run):
    run, _ = demo_run
    images = loaded_images(run.report_html)
    assert len(images) == 5  # 2 confusion matrices, 2 reliability diagrams, UAR per speaker
    assert all(complete and width > 0 and height > 0 for _, complete, width, height in images), \
        images


def _fake_emodb(root: Path, speakers=("03", "08", "09", "10"), texts=("a01", "a02")) -> Path:
    """wav/<speaker><text><emotion letter><version>.wav: every emotion of every text, as a
    voiced tone whose pitch and loudness depend on the emotion (so the classes differ)."""
    rate = 16000
    (root / "wav").mkdir(parents=True)
    for s, speaker in enumerate(speakers):
        for e, letter in enumerate(EMOTIONS):
            for t, text in enumerate(texts):
                rng = np.random.default_rng([s, e, t])
                seconds = 0.6 + 0.1 * t
                time_axis = np.arange(int(rate * seconds)) / rate
                pitch = (110 + 25 * e + 8 * s) * (1 + 0.05 * np.sin(2 * np.pi * 3 * time_axis))
                audio = (0.05 + 0.04 * e) * np.sin(2 * np.pi * np.cumsum(pitch) / rate)
                audio += 0.01 * rng.standard_normal(audio.shape)
                soundfile.write(root / "wav" / f"{speaker}{text}{letter}a.wav",
                                audio.astype(np.float32), rate, subtype="PCM_16")
    return root


def test_the_emodb_experiment_runs_on_a_fake_emodb_tree(tmp_path):
    corpus = _fake_emodb(tmp_path / "emodb")
    overrides = [f"records.data_dir={corpus}", "records.workers=1",
                 f"experiment.output_dir={tmp_path / 'runs'}"]
    argv = [str(CONFIGS / "emodb.toml"), *(a for o in overrides for a in ("--set", o))]
    assert experiment_command.main(argv) == 0
    run = load(CONFIGS / "emodb.toml", overrides).run
    assert sorted(p.name for p in run.records.glob("fold-*")) == [
        "fold-01", "fold-02", "fold-03", "fold-04"]
    report = run.report_md.read_text()
    for model in ("recipe", "baseline"):
        pooled = json.loads(next(run.train_dir(model).glob("eval-test-*-pooled.json"))
                            .read_text())
        assert pooled["files"] == 4 * 7 * 2 and pooled["folds"] == 4
        assert f"{pooled['uar']:.3f}" in report
    assert "| emodb | 4 | 56 |" in report
    assert (run.final / "model.json").is_file()
    assert len(re.findall(r"!\[", report)) == 5
    assert assert_every_image_loads(run.report_html) == 5


def test_the_continuous_demo_experiment_scores_and_draws_traces(tmp_path, tiny_demo):
    overrides = [f"records.data_dir={tiny_demo}", "records.workers=1", "train.max_steps=2",
                 "train.batch_size=2", "train.sequence_length=20", "models.fusion.hidden=8",
                 "models.audio.hidden=8", f"experiment.output_dir={tmp_path / 'runs'}"]
    argv = [str(CONFIGS / "demo-continuous.toml"),
            *(a for o in overrides for a in ("--set", o))]
    assert experiment_command.main(argv) == 0
    run = load(CONFIGS / "demo-continuous.toml", overrides).run
    assert [s.name for s in plan(load(CONFIGS / "demo-continuous.toml", overrides),
                                 records_of(run))] == [
        "records", "train-fusion", "eval-fusion", "train-audio", "eval-audio", "traces",
        "final-train"]
    report = run.report_md.read_text()
    for model in ("fusion", "audio"):
        scores = json.loads((run.train_dir(model) / "eval-test-2.json").read_text())
        files = (run.train_dir(model) / "eval-test-2.csv").read_text().splitlines()[1:]
        assert scores["files"] == len(files) == 1
        file_id, _, frames = files[0].split(",")[:3]
        trace = (run.traces(model) / f"{file_id}.csv").read_text().splitlines()
        assert trace[0] == ("time,arousal_gold,arousal_predicted,valence_gold,"
                            "valence_predicted")
        assert len(trace) - 1 == int(frames) == scores["frames"]
        assert f"{scores['dimensions']['arousal']['ccc']:.3f}" in report
    assert (run.figures / "traces.png").is_file() and (run.figures / "file-ccc.png").is_file()
    assert run.report_html.read_text().count("data:image/png;base64,") == 2
    assert assert_every_image_loads(run.report_html) == 2
    assert (run.final / "model.json").is_file()


ENGLISH = {"W": "angry", "F": "happy", "N": "neutral", "T": "sad", "A": "fear",
           "E": "disgust", "L": "surprise"}


def _fake_manifest(root: Path, speakers: tuple[str, ...]) -> Path:
    """A corpus as a manifest (path,speaker,label) of English labels over a fake tone tree."""
    tree = _fake_emodb(root, speakers=speakers)
    rows = ["path,speaker,label"] + [f"{wav},{wav.name[:2]},{ENGLISH[wav.name[5]]}"
                                     for wav in sorted((tree / "wav").glob("*.wav"))]
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


def test_the_cross_corpus_experiment_trains_on_two_corpora_and_tests_on_a_third(tmp_path):
    emodb = _fake_emodb(tmp_path / "emodb", speakers=("03", "08"))
    emovo = _fake_manifest(tmp_path / "emovo", ("21", "22"))
    casia = _fake_manifest(tmp_path / "casia", ("31", "32"))
    corpora = json.dumps([f"emodb={emodb}", f"emovo={emovo}", f"casia={casia}"])
    overrides = [f"records.corpus={corpora}", "records.workers=1",
                 f"experiment.output_dir={tmp_path / 'runs'}"]
    argv = [str(CONFIGS / "cross-corpus.toml"), *(a for o in overrides for a in ("--set", o))]
    assert experiment_command.main(argv) == 0
    run = load(CONFIGS / "cross-corpus.toml", overrides).run
    records = json.loads((run.records / "description.json").read_text())
    assert sorted(records["portions"]) == ["test", "train"]
    assert records["portions"]["test"]["speakers"] == ["casia/31", "casia/32"]
    assert records["extra"]["corpora"]["casia"]["dropped"] == {"disgust": 4, "fear": 4,
                                                               "surprise": 4}
    report = run.report_md.read_text()
    assert "| casia | 2 | 16 | - | 4 | 4 | 4 | 4 | disgust 4, fear 4, surprise 4 |" in report
    for model in ("recipe", "baseline"):
        (result,) = run.train_dir(model).glob("eval-test-*.json")
        scores = json.loads(result.read_text())
        assert scores["files"] == 2 * 4 * 2  # casia: 2 speakers x 4 shared classes x 2 texts
        assert sorted(scores["classes"]) == ["angry", "happy", "neutral", "sad"]
        assert f"{scores['uar']:.3f}" in report
        temperature = json.loads((run.train_dir(model) / "temperature.json").read_text())
        (entry,) = temperature["steps"].values()
        assert entry["portion"].startswith("train (inner speaker folds)")
        assert entry["files"] == 2 * 2 * 4 + 2 * 2 * 4  # emodb and emovo, shared classes
    assert assert_every_image_loads(run.report_html) >= 4  # confusions, reliabilities
