"""tfemo.experiment: experiment files checked up front, steps skipped when done and rerun when
unfinished or changed, `--config` for eval and make_tfrecords, and the shipped experiment files
run end to end (tests/test_experiment_runs.py)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from tfemo import eval as eval_command
from tfemo import experiment as experiment_command
from tfemo.core.errors import UserError
from tfemo.experiments import runner
from tfemo.experiments.layout import RunFolder
from tfemo.experiments.spec import EVERY_PORTION, experiment_text, load
from tfemo.experiments.steps import plan

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SHIPPED = sorted(p for p in CONFIGS.glob("*.toml") if "experiment" in tomllib.loads(p.read_text()))


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "recipe.toml").write_text('model = "logreg"\nlogreg_c = 0.5\n')
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return path


BASE = """
[experiment]
output_dir = "{out}"
[records]
corpus = "demo"
task = "categorical"
[models.recipe]
config = "recipe.toml"
max_steps = 7
[models.baseline]
model = "svm"
[calibration]
[eval]
batch_size = 2
[final]
model = "recipe"
"""


def test_the_shipped_experiment_files_load_and_reference_the_default_recipe(tmp_path):
    names = {p.name for p in SHIPPED}
    assert names == {"demo.toml", "emodb.toml", "demo-continuous.toml", "my-corpus.toml"}
    recipe = tomllib.loads((CONFIGS / "emotion-default.toml").read_text())
    for path in SHIPPED:
        experiment = load(path)
        models = {m.name: m for m in experiment.models}
        if path.name != "demo-continuous.toml":  # the classes: the recipe beside the baseline
            assert models["recipe"].model == recipe["model"]
            assert all(models["recipe"].values[k] == v for k, v in recipe.items())
            assert models["baseline"].model == "svm" and experiment.baseline == "baseline"
        assert experiment.final.values["train_portions"] == EVERY_PORTION
        # the experiment as run is itself a valid experiment file with the same models
        again = tmp_path / path.name
        again.write_text(experiment_text(experiment))
        assert [m.values for m in load(again).models] == [m.values for m in experiment.models]


def test_model_settings_are_the_referenced_file_then_train_then_their_own(tmp_path):
    path = _write(tmp_path, BASE.format(out=tmp_path) + "[train]\nlearning_rate = 0.01\n"
                  "max_steps = 3\n")
    experiment = load(path, ["models.baseline.svm_c=2.0"])
    recipe, baseline = experiment.models
    assert recipe.values == {"model": "logreg", "logreg_c": 0.5, "learning_rate": 0.01,
                             "max_steps": 7}
    assert baseline.values == {"model": "svm", "learning_rate": 0.01, "max_steps": 3,
                               "svm_c": 2.0}
    assert experiment.eval == {"portion": "test", "batch_size": 2}
    assert experiment.calibration == {"portion": "devel"}


@pytest.mark.parametrize("edit, words", [
    ("[bogus]\nx = 1\n", ["unknown section [bogus]"]),
    ("[models.recipe2]\nmodel = \"logreg\"\nsvm_c = 1.0\n",
     ["[models.recipe2]", "'svm_c'", "option of model svm"]),
    ("[train]\nstatistics = \"full\"\n", ["[train]", "'statistics'"]),
    ("[models.x]\nmodel = \"svm\"\ntrain_dir = \"elsewhere\"\n",
     ["[models.x]", "'train_dir'", "set by the experiment"]),
    ("[models.x]\nmodel = \"nope\"\n", ["model 'nope' is not a model"]),
    ("[models.x]\nmodel = \"svm\"\nmax_steps = \"many\"\n", ["[models.x]", "max_steps"]),
])
def test_a_bad_key_is_one_line_naming_the_file_section_and_key(tmp_path, edit, words):
    path = _write(tmp_path, BASE.format(out=tmp_path) + edit)
    with pytest.raises(UserError) as error:
        load(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    assert all(w in message for w in words), message


def test_reserved_command_keys_and_a_final_model_that_is_not_listed_are_refused(tmp_path):
    path = _write(tmp_path, BASE.format(out=tmp_path).replace('task = "categorical"',
                                                              'output_dir = "x"'))
    with pytest.raises(UserError, match=r"\[records\] key 'output_dir' is set by"):
        load(path)
    path = _write(tmp_path, BASE.format(out=tmp_path).replace('[final]\nmodel = "recipe"',
                                                              '[final]\nmodel = "other"'))
    with pytest.raises(UserError, match=r"\[final\] model 'other' is not a \[models\] entry"):
        load(path)
    assert experiment_command.main([str(path)]) == 2


def test_the_steps_are_the_commands_in_order_with_the_run_folders_paths(tmp_path):
    experiment = load(_write(tmp_path, BASE.format(out=tmp_path)))
    steps = plan(experiment)
    assert [s.name for s in steps] == [
        "records", "train-recipe", "calibrate-recipe", "eval-recipe", "train-baseline",
        "calibrate-baseline", "eval-baseline", "final-train"]
    run = experiment.run
    assert run.root == tmp_path / "exp"
    train = steps[1]
    assert train.argv(run)[:4] == ["-m", "tfemo.train", "--config",
                                   str(run.config("train-recipe"))]
    assert train.flags == ("--tfrecords", str(run.records), "--train_dir",
                           str(run.train_dir("recipe")), "--device", "-1", "--verbose", "2")
    assert tomllib.loads(steps[2].config_text()) == {"portion": "devel", "calibrate": True}
    assert tomllib.loads(steps[3].config_text()) == {"portion": "test", "batch_size": 2}
    # the final model trains on every portion: no speaker is left to calibrate it on
    held_out = load(_write(tmp_path, BASE.format(out=tmp_path)
                           + 'train_portions = "train"\n'))
    assert [s.name for s in plan(held_out)][-2:] == ["final-train", "final-calibrate"]


class Spy:
    """In place of the subprocess: records each command run and fails where told to."""

    def __init__(self, fail: str = "") -> None:
        self.ran: list[str] = []
        self.fail = fail

    def __call__(self, step, run, extra=()):
        if extra:
            assert extra == ("--check_config",)
            return 0
        self.ran.append(step.name)
        return 1 if step.name == self.fail else 0


def test_a_rerun_runs_only_the_unfinished_and_the_changed_steps(tmp_path, monkeypatch):
    path = _write(tmp_path, BASE.format(out=tmp_path))
    spy = Spy(fail="eval-baseline")
    monkeypatch.setattr(runner, "execute", spy)
    assert runner.run_experiment(load(path), say=lambda _: None) == 1
    everything = [s.name for s in plan(load(path))]
    assert spy.ran == everything[:everything.index("eval-baseline") + 1]
    run = load(path).run
    assert not run.marker("eval-baseline").exists() and run.marker("train-baseline").exists()
    marker = json.loads(run.marker("train-recipe").read_text())
    assert marker["command"].startswith("python -m tfemo.train --config ")
    assert set(marker["versions"]) >= {"tfemo", "tensorflow", "keras", "scikit-learn", "numpy"}

    # the report of a run without result files yet says so, and lists the finished steps
    experiment_command.main(["--report", str(run.root)])
    report = run.report_md.read_text()
    assert "No model has been scored yet." in report and marker["command"] in report

    spy = Spy()  # after the failure (or a kill): the failed step and those after it
    monkeypatch.setattr(runner, "execute", spy)
    assert runner.run_experiment(load(path), say=lambda _: None) == 0
    assert spy.ran == ["eval-baseline", "final-train"]

    spy = Spy()  # all done: nothing runs
    monkeypatch.setattr(runner, "execute", spy)
    assert runner.run_experiment(load(path), say=lambda _: None) == 0
    assert spy.ran == []

    # a changed eval setting reruns the eval steps only; changed records rerun what reads them
    assert runner.run_experiment(load(path, ["eval.batch_size=3"]), say=lambda _: None) == 0
    assert spy.ran == ["eval-recipe", "eval-baseline"]
    spy.ran.clear()
    assert runner.run_experiment(load(path, ["eval.batch_size=3", "records.seed=4"]),
                                 say=lambda _: None) == 0
    assert spy.ran == everything
    commands = run.commands_log.read_text().splitlines()
    assert sum(1 for line in commands if not line.startswith("#")) == (
        everything.index("eval-baseline") + 1) + 2 + 2 + len(everything)


def test_eval_and_make_tfrecords_take_a_config_file_checked_by_flag_name(tmp_path, capsys):
    config = tmp_path / "eval.toml"
    config.write_text('portion = "test"\nbatch_size = 2\ncalibrate = true\n'
                      'checkpoint = "somewhere"\n')
    args = eval_command.parse_args(["--config", str(config), "--batch_size", "5"])
    assert (args.portion, args.batch_size, args.calibrate) == ("test", 5, True)
    assert args.checkpoint == Path("somewhere")
    for text, words in [("bogus = 1\n", ["unknown key 'bogus'"]),
                        ("batch_size = \"x\"\n", ["batch_size"]),
                        ("calibrate = 1\n", ["calibrate must be true or false"])]:
        config.write_text(text)
        with pytest.raises(SystemExit) as stop:
            eval_command.parse_args(["--config", str(config)])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert str(config) in err and all(w in err for w in words), err
    config.write_text("batch_size = 3\n")
    with pytest.raises(SystemExit) as stop:
        eval_command.parse_args(["--config", str(config), "--check_config"])
    assert stop.value.code == 0


def test_make_tfrecords_reads_its_flags_from_a_config_file(tmp_path):
    from tfemo import make_tfrecords

    config = tmp_path / "records.toml"
    config.write_text('corpus = "emodb"\nfeatures = "mfcc"\npartition = "loso"\nstrict = true\n'
                      'embeddings = "none"\n')
    args = make_tfrecords.parse_args(["--config", str(config), "--partition", "official"])
    assert (args.corpus, args.features, args.partition, args.strict, args.embeddings) == (
        ["emodb"], "mfcc", "official", True, "none")
    args = make_tfrecords.parse_args(["--config", str(config), "--corpus", "ravdess"])
    assert args.corpus == ["ravdess"]
    config.write_text('corpus = ["emodb=a", "emovo=b"]\n')
    assert make_tfrecords.parse_args(["--config", str(config)]).corpus == ["emodb=a", "emovo=b"]
    config.write_text('corpus = "nope"\n')
    with pytest.raises(SystemExit) as stop:
        make_tfrecords.parse_args(["--config", str(config)])
    assert stop.value.code == 2


def _continuous_run(root: Path) -> RunFolder:
    """A run folder of two regressors over 2 folds, its result files written by tfemo's own
    result writer from made-up predictions (no model runs)."""
    from tfemo.core.reports import write_csv
    from tfemo.evaluation.portion import FilePrediction, continuous_scores
    from tfemo.evaluation.results import write_results
    from tfemo.experiments.traces import trace_table
    from tfemo.training.run_dir import eval_stem

    run = RunFolder(root)
    root.mkdir(parents=True)
    run.experiment_file.write_text('[experiment]\nname = "traces"\nbaseline = "b"\n'
                                   '[models.a]\nmodel = "gru_regressor"\n'
                                   '[models.b]\nmodel = "semantic_fusion"\n'
                                   '[eval]\nportion = "test"\n')
    names = ("arousal", "valence")
    rng = np.random.default_rng(0)
    for fold, speaker, other in (("fold-01", "s1", "s2"), ("fold-02", "s2", "s1")):
        (run.records / fold).mkdir(parents=True)
        (run.records / fold / "description.json").write_text(json.dumps({
            "corpus": "made-up", "task": "continuous", "label_names": list(names),
            "features": [], "portions": {
                "train": {"examples": 7, "speakers": ["s0", other], "seconds": 105.0},
                "test": {"examples": 3, "speakers": [speaker], "seconds": 45.0}}}))
    for model, noise in (("a", 0.3), ("b", 1.0)):
        pooled = []
        for fold, speaker in (("fold-01", "s1"), ("fold-02", "s2")):
            files = []
            for n in range(3):
                labels = rng.standard_normal((50 + n, 2))
                files.append(FilePrediction(f"{speaker}-{n}", speaker, 50 + n,
                                            labels + noise * rng.standard_normal(labels.shape),
                                            labels))
            for file in files:
                write_csv(trace_table(file, list(names), 0.04),
                          run.traces(model) / f"{file.id}.csv")
            scores = continuous_scores(files, names) | {"step": 5, "portion": "test"}
            write_results(eval_stem(run.train_dir(model) / fold, "test", 5), scores, files,
                          names)
            pooled += files
        scores = continuous_scores(pooled, names) | {"step": "5", "portion": "test", "folds": 2}
        write_results(eval_stem(run.train_dir(model), "test", "5", pooled=True), scores, pooled,
                      names)
    return run


def test_the_report_of_a_continuous_run_shows_ccc_pooled_per_fold_and_per_file(tmp_path):
    run = _continuous_run(tmp_path / "run")
    assert experiment_command.main(["--report", str(run.root)]) == 0
    report = run.report_md.read_text()
    for model in ("a", "b"):
        pooled = json.loads((run.train_dir(model) / "eval-test-5-pooled.json").read_text())
        folds = [json.loads((run.train_dir(model) / f / "eval-test-5.json").read_text())
                 for f in ("fold-01", "fold-02")]
        for name in ("arousal", "valence"):
            values = [f["dimensions"][name]["ccc"] for f in folds]
            row = (f"| {model} | {'gru_regressor' if model == 'a' else 'semantic_fusion'} | "
                   f"{name} | {pooled['dimensions'][name]['ccc']:.3f} | "
                   f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f} | "
                   f"{pooled['dimensions'][name]['mean_file_ccc']:.3f} |")
            assert row in report, row
    assert (run.figures / "file-ccc.png").is_file() and (run.figures / "traces.png").is_file()
    assert "| made-up | 3 | 10 | 2.5 |" in report  # speakers, items, minutes
    html = run.report_html.read_text()
    assert html.count("data:image/png;base64,") == 2 and "http" not in html
    with pytest.raises(UserError, match="not an experiment's run folder"):
        runner.ensure_run_folder(tmp_path)


@pytest.mark.slow
def test_a_bad_records_or_eval_key_stops_the_experiment_before_any_step_runs(tmp_path, capsys):
    for section, key in (("records", "featurs"), ("eval", "batch_sise")):
        path = _write(tmp_path, BASE.format(out=tmp_path).replace(
            f"[{section}]\n", f"[{section}]\n{key} = \"x\"\n"))
        assert experiment_command.main([str(path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {path}: [{section}] unknown key "
                                                   f"'{key}'"), err
        run = load(path).run
        assert not run.commands_log.exists() and not any(run.markers.glob("*.json"))
