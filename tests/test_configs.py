"""Typed configs: flags made from dataclass fields, --config TOML files, run.toml, the registry
and the Task enum."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import pkgutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.records_factory import write_synthetic_records
from tfemo import train
from tfemo.core import options
from tfemo.core.options import OptionError, Options, option
from tfemo.core.tasks import Task
from tfemo.models import registry
from tfemo.models.conv1d import Conv1DConfig
from tfemo.models.semantic_fusion import SemanticFusionConfig
from tfemo.training.config import TrainConfig, run_config_text
from tfemo.training.run_dir import MODEL_FILE, RUN_CONFIG

KERAS_MODELS = [n for n, s in registry.MODELS.items() if not s.is_estimator]


@dataclass(frozen=True)
class Tiny(Options):
    """A config class made up for the tests."""

    width: int = option(3, "how wide")
    rate: float = option(0.5, "how fast")
    kind: str = option("a", "which kind", choices=("a", "b"))
    parts: tuple[str, ...] = option(("x",), "which parts", choices=("x", "y"))
    steps: tuple[int, ...] = option((), "steps, comma-separated")
    on: bool = option(True, "switched on")
    where: Path = option(Path("here"), "a folder")


def _parse(cls: type, argv: list[str]):
    parser = argparse.ArgumentParser()
    options.add_flags(parser, cls)
    return options.from_values(cls, vars(parser.parse_args(argv)))


def test_every_field_is_a_flag_of_its_type():
    assert _parse(Tiny, []) == Tiny()
    parsed = _parse(Tiny, ["--width", "5", "--rate", "1", "--kind", "b", "--parts", "y,x",
                           "--steps", "1,2", "--no_on", "--where", "there"])
    assert parsed == Tiny(5, 1.0, "b", ("y", "x"), (1, 2), False, Path("there"))
    assert _parse(Tiny, ["--no_on", "--on"]).on is True


def test_a_field_added_to_a_config_shows_up_as_a_flag():
    @dataclass(frozen=True)
    class Wider(Tiny):
        depth: int = option(2, "how deep")

    parser = argparse.ArgumentParser()
    options.add_flags(parser, Wider)
    assert "--depth DEPTH" in parser.format_help()
    assert "how deep (default: 2)" in parser.format_help()
    assert options.from_values(Wider, vars(parser.parse_args(["--depth", "7"]))).depth == 7


def test_a_field_added_to_a_registered_model_reaches_tfemo_train(monkeypatch):
    @dataclass(frozen=True)
    class Conv1DPlus(Conv1DConfig):
        knob: int = option(4, "a new option")

    spec = dataclasses.replace(registry.MODELS["conv1d"], config=Conv1DPlus)
    monkeypatch.setitem(registry.MODELS, "conv1d", spec)
    settings = train.parse_args(["--model", "conv1d", "--knob", "9", "--variant", "utterance"])
    assert settings.model_config == Conv1DPlus(variant="utterance", knob=9)


@pytest.mark.parametrize(("argv", "message"), [
    (["--kind", "c"], "argument --kind: kind must be one of a, b; got 'c'"),
    (["--parts", "x,z"], "parts must be one of x, y; got 'z'"),
    (["--width", "wide"], "width must be an int, got 'wide'"),
    (["--steps", "1,two"], "steps must be comma-separated ints, got '1,two'"),
])
def test_bad_flag_values_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        _parse(Tiny, argv)
    assert message in capsys.readouterr().err


def test_configs_check_their_values_when_made():
    with pytest.raises(OptionError, match="variant must be one of frames"):
        Conv1DConfig(variant="lstm")
    with pytest.raises(OptionError, match="modalities must be one of audio, text"):
        SemanticFusionConfig(modalities=("video",))
    assert SemanticFusionConfig(modalities=["text"]).modalities == ("text",)  # list -> tuple


def test_the_defaults_are_those_of_the_old_flags():
    settings = train.parse_args([])
    assert settings.model == "semantic_fusion"
    assert settings.train == TrainConfig(
        tfrecords=Path("tfrecords"), train_dir=Path("checkpoints"), batch_size=8,
        sequence_length=150, learning_rate=3e-4, weight_decay=0.0, max_steps=1000,
        save_interval_secs=120, save_summaries_secs=60, max_to_keep=5, cache=True, seed=1,
        normalise="train", balance="none", train_portions="train", crop_frames=0)
    assert (settings.command.device, settings.command.verbose) == (0, 1)
    assert dataclasses.asdict(settings.model_config) == {
        "modalities": ("audio", "text"), "hidden": 256, "lstm_layers": 1, "fusion_size": 128,
        "attention_units": 64, "audio_variant": "tzirakis", "dropout": 0.5}
    assert not train.parse_args(["--no_cache"]).train.cache


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_config_file_sets_flags_and_the_command_line_overrides_it(tmp_path):
    config = _write(tmp_path / "c.toml", 'model = "conv1d"\nbatch_size = 3\nhidden = 8\n'
                    'variant = "utterance"\ndilations = [1, 2, 4]\ndevice = -1\n')
    settings = train.parse_args(["--config", str(config), "--hidden", "16"])
    assert settings.model == "conv1d" and settings.train.batch_size == 3
    assert settings.model_config == Conv1DConfig(variant="utterance", hidden=16,
                                                 dilations=(1, 2, 4))
    assert settings.command.device == -1
    assert train.parse_args(["--batch_size", "5", "--config", str(config)]).train.batch_size == 5


def _one_line_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as raised:
        train.parse_args(argv)
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize(("text", "message"), [
    ("hiden = 8\n", "unknown key 'hiden'"),
    ('batch_size = "big"\n', "batch_size must be an int, got 'big'"),
    ('normalise = "corpus"\n', "normalise must be one of train, speaker"),
    ('variant = "utterance"\n', "key 'variant' is an option of model conv1d, not of model "
                                "semantic_fusion"),
    ('model = "lstm"\n', "model must be one of semantic_fusion, conv1d, gru_regressor"),
    ("[train]\nbatch_size = 2\n", "unknown key 'train'"),
    ("batch_size = \n", "not valid TOML"),
])
def test_a_bad_config_file_is_a_one_line_error_naming_file_and_key(text, message, tmp_path,
                                                                     capsys):
    config = _write(tmp_path / "bad.toml", text)
    err = _one_line_error(["--config", str(config)], capsys)
    assert f"{config}: " in err and message in err


@pytest.mark.parametrize(("argv", "message"), [
    (["--variant", "utterance"], "--variant is an option of --model conv1d, not of "
                                 "--model semantic_fusion"),
    (["--model", "gru_regressor", "--lstm_layers", "2"], "--lstm_layers is an option of "
                                                          "--model semantic_fusion"),
    (["--model", "gru_regressor", "--no_pooled_norm"], "--no_pooled_norm is an option of "
                                                        "--model conv1d"),
    (["--model", "conv1d", "--gru_layers=3"], "--gru_layers is an option of --model "
                                              "gru_regressor"),
])
def test_a_flag_of_another_model_is_a_one_line_error(argv, message, capsys):
    assert message in _one_line_error(argv, capsys)


def test_help_lists_every_models_flags(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--help"])
    out = capsys.readouterr().out
    for spec in registry.MODELS.values():
        assert f"{spec.name} options ({spec.task} task" in out
        for name in options.names(spec.config):
            assert f"--{name}" in out


@pytest.mark.parametrize("value", ['a "quoted" back\\slash', "tab\tnew\nline é", "", 0.1,
                                   1e-05, 3e-4, 120.0, float("inf"), -3, True, (), (1, 2),
                                   ("audio", "text"), Path("/a b/c")])
def test_toml_values_read_back_as_written(value):
    read = tomllib.loads(f"key = {options.toml_value(value)}")["key"]
    expected = list(value) if isinstance(value, tuple) else value
    assert read == (str(expected) if isinstance(value, Path) else expected)


@pytest.mark.parametrize("name", list(registry.MODELS))
def test_run_toml_round_trips_through_config(name, tmp_path):
    spec = registry.MODELS[name]
    overrides = ({"svm_c": 3.0, "kernel": "linear"} if name == "svm" else
                 {"logreg_c": 0.02, "statistics": "basic"} if name == "logreg" else
                 {"hidden": 12, "critic_steps": 3} if name == "wgan_gp" else
                 {"hidden": 12, "dropout": 0.25})
    model_config = spec.config(**overrides)
    train_config = TrainConfig(tfrecords=tmp_path / "records", train_dir=tmp_path / "run",
                               batch_size=3, learning_rate=1e-3, cache=False,
                               normalise="speaker", train_portions="train+devel")
    path = _write(tmp_path / RUN_CONFIG, run_config_text(name, train_config, model_config))
    settings = train.parse_args(["--config", str(path)])
    assert (settings.model, settings.model_config, settings.train) == \
        (name, model_config, train_config)


def test_the_registry_covers_every_model_module_with_its_task():
    import tfemo.models

    built_here = set()
    for info in pkgutil.iter_modules(tfemo.models.__path__):
        module = importlib.import_module(f"tfemo.models.{info.name}")
        if callable(getattr(module, "build", None)):
            built_here.add(module.build)
    assert {spec.build for spec in registry.MODELS.values()} == built_here
    assert {name: spec.task for name, spec in registry.MODELS.items()} == {
        "semantic_fusion": Task.CONTINUOUS, "conv1d": Task.CATEGORICAL,
        "gru_regressor": Task.CONTINUOUS, "beta_vae": Task.CATEGORICAL, "svm": Task.CATEGORICAL,
        "logreg": Task.CATEGORICAL, "multimodal": Task.CATEGORICAL, "wgan_gp": Task.CATEGORICAL}
    for spec in registry.MODELS.values():
        assert all(info.help for info in options.describe(spec.config)), spec.name
        options.ensure_distinct([TrainConfig, train.CommandOptions, spec.config])


def _description(task: Task) -> SimpleNamespace:
    labels = ["arousal", "valence"] if task == Task.CONTINUOUS else ["calm", "angry"]
    return SimpleNamespace(
        name="toy", task=task, frame_length=640, word_dim=6, label_names=labels,
        features={"mfcc": 3}, normalisation={"audio": {"std": 0.1},
                                             "features": {"mean": [0.0] * 3, "std": [2.0] * 3}})


@pytest.mark.parametrize("name", KERAS_MODELS)  # estimators: tests/test_baselines.py
def test_each_model_builds_for_its_task_only_and_reloads_from_its_keras_config(name):
    spec = registry.MODELS[name]
    small = spec.config(hidden=4)
    model = registry.build_model(name, _description(spec.task), small)
    assert isinstance(model, spec.model_class) and model.hidden == 4
    again = registry.model_from_config(name, model.get_config())
    assert again.get_config() == model.get_config()
    other = Task.CATEGORICAL if spec.task == Task.CONTINUOUS else Task.CONTINUOUS
    with pytest.raises(ValueError, match=f"model {name} learns the {spec.task} task"):
        registry.build_model(name, _description(other), small)


def test_the_task_enum_equals_the_old_strings():
    from tfemo.corpora.base import CATEGORICAL, CONTINUOUS, TASKS
    from tfemo.records.description import DatasetDescription

    assert Task.CATEGORICAL == "categorical" and Task.CONTINUOUS == "continuous"
    assert (CONTINUOUS, CATEGORICAL) == TASKS == ("continuous", "categorical")
    assert {"categorical": 1}[Task.CATEGORICAL] == 1 and f"{Task.CONTINUOUS}" == "continuous"
    assert repr(TASKS) == "('continuous', 'categorical')"  # messages read as before
    assert json.dumps({"task": Task.CATEGORICAL}) == '{"task": "categorical"}'
    old = DatasetDescription(name="old", task="categorical", sample_rate=16000,
                             frame_length=640, frame_seconds=0.04, label_names=["a", "b"])
    assert old.task is Task.CATEGORICAL and old.num_classes == 2
    with pytest.raises(ValueError, match="task must be one of"):
        DatasetDescription(name="bad", task="ordinal", sample_rate=16000, frame_length=640,
                           frame_seconds=0.04)


SMALL = ["--hidden", "8", "--fusion_size", "4", "--attention_units", "4", "--batch_size", "2",
         "--sequence_length", "20", "--verbose", "0", "--device", "-1", "--max_steps", "3",
         "--seed", "7", "--learning_rate", "1e-3"]


@pytest.mark.slow
def test_run_toml_reruns_the_same_experiment_in_a_new_dir(tmp_path, capsys):
    import tensorflow as tf

    records = tmp_path / "records"
    write_synthetic_records(records, {"train": [57, 80, 43], "devel": [37]})
    first, second = tmp_path / "first", tmp_path / "second"
    assert train.main(["--tfrecords", str(records), "--train_dir", str(first), *SMALL]) == 0
    assert train.main(["--config", str(first / RUN_CONFIG), "--train_dir", str(second),
                       "--device", "-1", "--verbose", "0"]) == 0
    assert (first / MODEL_FILE).read_text() == (second / MODEL_FILE).read_text()
    a = tf.train.load_checkpoint(str(first / "model.ckpt-3"))
    b = tf.train.load_checkpoint(str(second / "model.ckpt-3"))
    names = [n for n in a.get_variable_to_shape_map() if n.startswith("model_variables/")]
    assert names
    for name in names:
        np.testing.assert_array_equal(a.get_tensor(name), b.get_tensor(name))
    rerun = tomllib.loads((second / RUN_CONFIG).read_text())
    assert rerun == {**tomllib.loads((first / RUN_CONFIG).read_text()),
                     "train_dir": str(second.resolve())}
    # model.json still refuses to resume with other settings, from a file as from flags
    assert train.main(["--config", str(first / RUN_CONFIG), "--hidden", "9",
                       "--device", "-1"]) == 2
    assert "trained with other flags" in capsys.readouterr().err
    assert tomllib.loads((first / RUN_CONFIG).read_text())["hidden"] == 8  # kept as it was
