"""python -m tfemo.train / tfemo.eval on tiny synthetic records: checkpoints, resume, coverage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.records_factory import write_synthetic_records
from tfemo import eval as evaluate
from tfemo import train
from tfemo.training.checkpoints import available_steps

LENGTHS = {"train": [57, 80, 43, 66], "devel": [37, 52, 61], "test": [45]}
SMALL = ["--hidden", "8", "--batch_size", "2", "--sequence_length", "20", "--verbose", "0",
         "--device", "-1"]


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("records")
    write_synthetic_records(folder, LENGTHS)
    return folder


def _train(records: Path, train_dir: Path, *extra: str) -> int:
    return train.main(["--tfrecords", str(records), "--train_dir", str(train_dir), *SMALL,
                       *extra])


def test_train_then_eval_scores_every_frame_once(records, tmp_path, capsys):
    assert _train(records, tmp_path, "--max_steps", "6", "--save_interval_secs", "0") == 0
    assert available_steps(tmp_path)[-1] == 6
    assert (tmp_path / "log_train.txt").read_text().count("=== run started") == 1
    assert list((tmp_path / "train").glob("events.out.tfevents.*"))
    assert evaluate.main(["--portion", "devel", "--steps", "6", "--train_dir", str(tmp_path),
                          "--tfrecords", str(records), "--device", "-1"]) == 0
    scores = json.loads((tmp_path / "eval-devel-6.json").read_text())
    assert scores["files"] == 3 and scores["frames"] == sum(LENGTHS["devel"])
    rows = (tmp_path / "eval-devel-6.csv").read_text().splitlines()
    assert [int(r.split(",")[2]) for r in rows[1:]] == LENGTHS["devel"]
    assert "step=6 portion=devel" in (tmp_path / "log_eval.txt").read_text()


def test_a_missing_step_lists_the_steps_that_exist(records, tmp_path, capsys):
    _train(records, tmp_path, "--max_steps", "3", "--save_interval_secs", "0")
    code = evaluate.main(["--steps", "8188", "--train_dir", str(tmp_path),
                          "--tfrecords", str(records), "--device", "-1"])
    assert code == 2
    assert "no checkpoint at step 8188; steps that exist: 1, 2, 3" in capsys.readouterr().err


def test_train_one_returns_what_it_did_and_prints_nothing(records, tmp_path, capsys):
    """The library returns a TrainResult and writes log_train.txt; printing is tfemo.train's."""
    from tfemo.core.errors import TfemoError
    from tfemo.training.loop import train_one
    from tfemo.training.restore import restore_train_dir

    settings = train.parse_args(["--tfrecords", str(records), "--train_dir", str(tmp_path),
                                 *SMALL, "--max_steps", "2", "--save_interval_secs", "0"])
    heard: list[str] = []
    first = train_one(settings.train, settings.model, settings.model_config, verbose=0,
                      notify=heard.append, command="tfemo-train --max_steps 2")
    assert (first.start_step, first.step, first.trained) == (0, 2, True)
    assert first.checkpoint == str(tmp_path / "model.ckpt-2") and not heard
    again = train_one(settings.train, settings.model, settings.model_config, verbose=0,
                      notify=heard.append)
    assert (again.start_step, again.step, again.trained) == (2, 2, False)
    assert len(heard) == 1 and heard[0].endswith("(step 2)")
    assert capsys.readouterr().out == ""
    log = (tmp_path / "log_train.txt").read_text()
    assert log.count("=== run started") == 2 and log.count("command: tfemo-train") == 1
    restored = restore_train_dir(tmp_path)
    assert (restored.name, restored.step, restored.checkpoint) == (
        settings.model, 2, first.checkpoint)
    assert list(restored.description.label_names) == ["arousal", "valence"]
    assert not restored.speaker_normalise and restored.spec.predicts_labels
    with pytest.raises(TfemoError, match="predicts labels and has no latents"):
        restore_train_dir(tmp_path, wants="latents")


def _has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


@pytest.mark.skipif("_has_gpu()", reason="this machine has a GPU")
def test_device_0_without_a_gpu_trains_on_the_cpu(records, tmp_path, capsys):
    args = ["--tfrecords", str(records), "--train_dir", str(tmp_path), *SMALL[:-2],
            "--device", "0", "--max_steps", "1"]
    assert train.main(args) == 0
    assert "no GPU found, running on the CPU" in capsys.readouterr().out
    assert available_steps(tmp_path) == [1]


def test_resumed_training_matches_an_uninterrupted_run(records, tmp_path):
    import tensorflow as tf

    whole, parts = tmp_path / "whole", tmp_path / "parts"
    _train(records, whole, "--max_steps", "8")
    _train(records, parts, "--max_steps", "4")
    _train(records, parts, "--max_steps", "8")
    assert "at step 4" in (parts / "log_train.txt").read_text()
    a = tf.train.load_checkpoint(str(whole / "model.ckpt-8"))
    b = tf.train.load_checkpoint(str(parts / "model.ckpt-8"))
    names = [n for n in a.get_variable_to_shape_map() if n.startswith("model_variables/")]
    assert len(names) >= 18
    for name in names:
        np.testing.assert_allclose(a.get_tensor(name), b.get_tensor(name), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_sigkill_then_resume_keeps_checkpoints_and_continues(records, tmp_path):
    command = [sys.executable, "-m", "tfemo.train", "--tfrecords", str(records),
               "--train_dir", str(tmp_path), *SMALL, "--max_steps", "100000",
               "--save_interval_secs", "0", "--max_to_keep", "1000"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(available_steps(tmp_path)) < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    before = available_steps(tmp_path)
    assert len(before) >= 5
    target = before[-1] + 3
    result = subprocess.run(command[:-6] + ["--max_steps", str(target), "--save_interval_secs",
                                            "0", "--max_to_keep", "1000"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    after = available_steps(tmp_path)
    assert set(before) <= set(after) and after[-1] == target
    assert "resuming from" in result.stdout


def test_every_model_variable_is_restored_from_a_checkpoint(records, tmp_path):
    """Two models with different random initial weights predict the same after restoring."""
    import keras

    from tfemo.models.registry import model_from_config
    from tfemo.records.reader import make_dataset
    from tfemo.training.checkpoints import restore_model

    _train(records, tmp_path, "--max_steps", "2")
    spec = json.loads((tmp_path / "model.json").read_text())
    batch = next(iter(make_dataset(records, "devel", sequence_length=None, batch_size=3,
                                   shuffle=False, seed=0)))
    outputs = []
    for seed in (11, 12):
        keras.utils.set_random_seed(seed)
        model = model_from_config(spec["model"], spec["config"])
        restore_model(model, str(tmp_path / "model.ckpt-2"))
        outputs.append(model(batch, training=False).numpy())
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_watch_scores_each_checkpoint_once_then_times_out(records, tmp_path):
    _train(records, tmp_path, "--max_steps", "2", "--save_interval_secs", "0")
    code = evaluate.main(["--watch", "--watch_interval_secs", "0.1", "--watch_timeout_secs",
                          "0.5", "--train_dir", str(tmp_path), "--tfrecords", str(records),
                          "--device", "-1"])
    assert code == 0
    assert sorted(p.name for p in tmp_path.glob("eval-devel-*.json")) == \
        ["eval-devel-1.json", "eval-devel-2.json"]
    assert (tmp_path / "log_eval.txt").read_text().count("portion=devel") == 2


def test_gru_regressor_trains_on_features_and_evaluates(records, tmp_path):
    code = train.main(["--tfrecords", str(records), "--train_dir", str(tmp_path),
                       "--model", "gru_regressor", "--hidden", "16", "--batch_size", "2",
                       "--sequence_length", "20", "--max_steps", "60", "--learning_rate", "1e-2",
                       "--save_interval_secs", "100", "--verbose", "0", "--device", "-1"])
    assert code == 0
    assert evaluate.main(["--portion", "devel", "--train_dir", str(tmp_path),
                          "--tfrecords", str(records), "--device", "-1"]) == 0
    scores = json.loads((tmp_path / "eval-devel-60.json").read_text())
    assert scores["frames"] == sum(LENGTHS["devel"])
    # the features carry both labels (plus noise): a GRU on them must track both
    assert min(d["ccc"] for d in scores["dimensions"].values()) > 0.5
    spec = json.loads((tmp_path / "model.json").read_text())
    assert spec["model"] == "gru_regressor" and spec["config"]["feature_dim"] == 4


def test_train_and_eval_read_records_from_a_url(records, tmp_path):
    from tfemo.core import storage

    remote = "ram://train-eval-test/records"  # tf.io.gfile's in-process filesystem
    write_synthetic_records(remote, LENGTHS)
    try:
        assert train.main(["--tfrecords", remote, "--train_dir", str(tmp_path), *SMALL,
                           "--max_steps", "4", "--save_interval_secs", "0"]) == 0
        assert f'tfrecords = "{remote}"' in (tmp_path / "run.toml").read_text()
        scores = []
        for folder in (remote, str(records)):  # the same checkpoint scored on both copies
            assert evaluate.main(["--portion", "devel", "--steps", "4", "--train_dir",
                                  str(tmp_path), "--tfrecords", folder, "--device", "-1"]) == 0
            scores.append(json.loads((tmp_path / "eval-devel-4.json").read_text()))
    finally:
        storage.rmtree(remote)
    assert [s.pop("tfrecords") for s in scores] == [remote, str(records)]
    assert scores[0] == scores[1] and scores[0]["frames"] == sum(LENGTHS["devel"])
