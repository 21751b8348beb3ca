"""Exact resume, checked by content: a training run killed and resumed writes a final
checkpoint whose every variable (model, optimizer, step, save_counter) equals that of a run
that was never interrupted, whatever the two runs' checkpoint intervals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.records_factory import write_synthetic_records
from tfemo.training.checkpoints import available_steps

LENGTHS = {"train": [57, 80, 43, 66], "devel": [37, 52, 61], "test": [45]}
SMALL = ["--model", "gru_regressor", "--hidden", "8", "--batch_size", "2",
         "--sequence_length", "20", "--verbose", "0", "--device", "-1"]
STEPS = 14


def _command(records, train_dir, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tfemo.train", "--tfrecords", str(records), "--train_dir",
            str(train_dir), *SMALL, *extra]


def _variables(path: str) -> dict[str, np.ndarray]:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


@pytest.mark.slow
def test_a_killed_and_resumed_run_writes_the_same_checkpoint_as_an_uninterrupted_one(tmp_path):
    records = tmp_path / "records"
    write_synthetic_records(records, LENGTHS)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(),
                                                       os.environ.get("PYTHONPATH")]))}
    # uninterrupted, saving only at the end (the default interval outlasts this run)
    whole = tmp_path / "whole"
    subprocess.run(_command(records, whole, "--max_steps", str(STEPS)), env=env, check=True,
                   timeout=600, capture_output=True)
    # killed after a few checkpoints (one per step), then resumed to the same step
    parts = tmp_path / "parts"
    process = subprocess.Popen(_command(records, parts, "--max_steps", "100000",
                                        "--save_interval_secs", "0", "--max_to_keep", "100"),
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while len(available_steps(parts)) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    killed_at = available_steps(parts)[-1]
    assert 4 <= killed_at < STEPS
    subprocess.run(_command(records, parts, "--max_steps", str(STEPS), "--save_interval_secs",
                            "0", "--max_to_keep", "100"), env=env, check=True, timeout=600,
                   capture_output=True)
    a = _variables(str(whole / f"model.ckpt-{STEPS}"))
    b = _variables(str(parts / f"model.ckpt-{STEPS}"))
    assert a.keys() == b.keys()
    assert any(k.startswith("optimizer_variables/") for k in a)
    assert a["save_counter/.ATTRIBUTES/VARIABLE_VALUE"] == STEPS
    differ = [k for k in a if not np.array_equal(a[k], b[k])]
    assert not differ, differ
