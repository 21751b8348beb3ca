"""tfemo.train --strategy: the Keras multi-worker fix, chief and sharding rules, mirrored
training against default, and two localhost workers against one machine."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.records_factory import write_synthetic_records
from tfemo import train
from tfemo.core.errors import UserError
from tfemo.training import distribute_compat
from tfemo.training.checkpoints import available_steps
from tfemo.training.strategies import shard_policy, shard_stream

LENGTHS = {"train": [57, 80, 43, 66], "devel": [37, 52, 61], "test": [45]}
SMALL = ["--hidden", "8", "--batch_size", "4", "--sequence_length", "20", "--verbose", "0",
         "--device", "-1", "--save_interval_secs", "0"]
ROOT = Path(__file__).resolve().parents[1]
WORKER_TIMEOUT = 150  # seconds; both workers are killed when it runs out
# tfemo.train on two logical CPU devices (set before TensorFlow starts, so in a subprocess)
TWO_CPUS = ("import sys, tensorflow as tf\n"
            "cpu = tf.config.list_physical_devices('CPU')[0]\n"
            "tf.config.set_logical_device_configuration(\n"
            "    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
            "from tfemo import train\n"
            "sys.exit(train.main(sys.argv[1:]))\n")


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("records")
    write_synthetic_records(folder, LENGTHS)
    return folder


def _weights(checkpoint: Path) -> dict[str, np.ndarray]:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(checkpoint))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name.startswith("model_variables/")}


def _assert_close(a: dict, b: dict, atol: float) -> None:
    assert a.keys() == b.keys() and len(a) >= 18
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=atol, err_msg=name)


# ----------------------------------------------------------------------- the compat module

def test_the_fix_names_the_keras_versions_it_is_for():
    assert distribute_compat.applies((3, 15, 1)) and distribute_compat.applies((3, 0, 0))
    assert not distribute_compat.applies((3, 15, 2))
    assert not distribute_compat.applies((2, 15, 0))
    assert distribute_compat.keras_version() >= (3, 0, 0)


def test_the_symbolic_build_draws_no_batch_from_the_stream():
    """Building from the element spec: drawing a batch would restart the seeded stream in its
    second shuffle order."""
    import keras
    import tensorflow as tf

    class Untouchable:
        def __init__(self, dataset):
            self.data_adapter = type("Adapter", (), {"get_tf_dataset": lambda _: dataset})()

        def __iter__(self):
            raise AssertionError("the symbolic build drew a batch")

    assert distribute_compat.install()
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        model = keras.Sequential([keras.layers.Dense(2)])
        model.compile(optimizer="adam", loss="mse")
    dataset = tf.data.Dataset.from_tensors((tf.zeros((3, 5)), tf.zeros((3, 2))))
    model._maybe_symbolic_build(iterator=Untouchable(dataset))
    assert model.built and model.layers[0].kernel.shape == (5, 2)


def test_installing_patches_keras_only_on_the_versions_named(monkeypatch):
    from keras.src.backend.tensorflow import trainer

    before = trainer.reduce_per_replica
    monkeypatch.setattr(distribute_compat, "_installed", False)
    monkeypatch.setattr(distribute_compat, "keras_version", lambda: (9, 0, 0))
    assert distribute_compat.install() is False
    assert trainer.reduce_per_replica is before


def test_the_ccc_loss_is_scaled_per_replica_as_keras_losses_are(monkeypatch):
    """Keras sums the replicas' gradients: each replica's loss must be divided by their
    number, which Keras's own losses do and MaskedCCCLoss (its own __call__) must too."""
    import keras
    import tensorflow as tf

    from tfemo.scoring.losses import MaskedCCCLoss

    rng = np.random.default_rng(0)
    y_true, y_pred = (rng.normal(size=(2, 9, 2)).astype("float32") for _ in range(2))
    mask = np.ones((2, 9), bool)
    single = [float(MaskedCCCLoss()(y_true, y_pred, mask)),
              float(keras.losses.MeanSquaredError()(y_true, y_pred))]
    two = type("TwoReplicas", (), {"num_replicas_in_sync": 2})()
    monkeypatch.setattr(tf.distribute, "get_strategy", lambda: two)
    scaled = [float(MaskedCCCLoss()(y_true, y_pred, mask)),
              float(keras.losses.MeanSquaredError()(y_true, y_pred))]
    np.testing.assert_allclose(scaled, [v / 2 for v in single], rtol=1e-6)


# ------------------------------------------------------------------- sharding and the chief

def test_file_sharding_needs_as_many_shards_as_workers():
    import tensorflow as tf

    policy = tf.data.experimental.AutoShardPolicy
    assert shard_policy(files=4, workers=2) == policy.FILE
    assert shard_policy(files=2, workers=2) == policy.FILE
    assert shard_policy(files=1, workers=2) == policy.DATA


def test_one_worker_keeps_the_stream_unchanged():
    import tensorflow as tf

    data = tf.data.Dataset.range(5)
    assert shard_stream(data, files=1, workers=1) is data
    sharded = shard_stream(data, files=1, workers=2)
    assert (sharded.options().experimental_distribute.auto_shard_policy
            == tf.data.experimental.AutoShardPolicy.DATA)
    assert list(sharded.as_numpy_iterator()) == list(range(5))


def test_multi_worker_without_tf_config_is_a_clear_error(monkeypatch):
    from tfemo.training import strategies

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UserError, match="set TF_CONFIG"):
        strategies._tf_config()
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(UserError, match="TF_CONFIG: not JSON"):
        strategies._tf_config()


def test_the_chief_is_the_chief_task_else_worker_0():
    import tensorflow as tf

    from tfemo.training.strategies import is_chief, worker_count

    def fake(cluster: dict, kind: str, index: int):
        resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec(cluster), task_type=kind, task_id=index)
        return type("Strategy", (), {"cluster_resolver": resolver})()

    workers = {"worker": ["a:1", "b:1"]}
    assert is_chief(fake(workers, "worker", 0)) and not is_chief(fake(workers, "worker", 1))
    with_chief = {"chief": ["c:1"], "worker": ["a:1", "b:1"]}
    assert is_chief(fake(with_chief, "chief", 0))
    assert not is_chief(fake(with_chief, "worker", 0))
    assert worker_count(fake(with_chief, "worker", 1)) == 3
    default = tf.distribute.get_strategy()
    assert is_chief(default) and worker_count(default) == 1


def test_checkpoints_hold_no_on_read_variables(records, tmp_path):
    """Only the chief saves: right because saving mirrored (on-write) variables reads the
    local copy, with no collective op the other workers would have to join."""
    import keras
    import tensorflow as tf

    from tfemo.models.registry import MODELS, build_model
    from tfemo.records.description import DatasetDescription
    from tfemo.training.checkpoints import training_checkpoint
    from tfemo.training.loop import _loss_and_metrics

    description = DatasetDescription.read(records)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = build_model("semantic_fusion", description,
                            MODELS["semantic_fusion"].config(hidden=8))
        optimizer = keras.optimizers.Adam()
        optimizer.build(model.trainable_variables)
        model.compile(optimizer=optimizer, **_loss_and_metrics(description))
    checkpoint = training_checkpoint(model, optimizer)
    saved = [v.value for v in [*checkpoint.model_variables, *checkpoint.optimizer_variables]]
    assert saved and all(v.synchronization != tf.VariableSynchronization.ON_READ for v in saved)
    # ...while the metrics (not checkpointed) are on-read:
    assert any(v.value.synchronization == tf.VariableSynchronization.ON_READ
               for v in model.metrics_variables)


# ------------------------------------------------------------------------------- mirrored

@pytest.mark.slow
def test_mirrored_on_one_cpu_matches_default(records, tmp_path):
    default, mirrored = tmp_path / "default", tmp_path / "mirrored"
    assert train.main(["--tfrecords", str(records), "--train_dir", str(default), *SMALL,
                       "--max_steps", "4"]) == 0
    assert train.main(["--tfrecords", str(records), "--train_dir", str(mirrored), *SMALL,
                       "--max_steps", "4", "--strategy", "mirrored"]) == 0
    assert 'strategy = "mirrored"' in (mirrored / "run.toml").read_text()
    # one replica: the same computation, so float32 round-off only
    _assert_close(_weights(default / "model.ckpt-4"), _weights(mirrored / "model.ckpt-4"), 1e-6)


def test_a_batch_that_does_not_split_among_replicas_is_refused(records):
    from tfemo.training.config import TrainConfig
    from tfemo.training.loop import _distribution

    two = type("TwoReplicas", (), {"num_replicas_in_sync": 2, "cluster_resolver": None})()
    config = TrainConfig(tfrecords=records, batch_size=3, strategy="mirrored")
    with pytest.raises(UserError, match="--batch_size 3: the global batch must split evenly "
                                         "among the 2 replicas of --strategy mirrored"):
        _distribution(two, config, records)
    assert _distribution(two, replace(config, batch_size=4), records) == (1, 0)


# --------------------------------------------------------------------------- two workers

def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def free_ports(count: int) -> list[int]:
    """`count` distinct free TCP ports on 127.0.0.1 (held open together while choosing)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def run_workers(args: list[str], logs: Path, count: int = 2) -> list[str]:
    """Run `python -m tfemo.train --strategy multi_worker ARGS` as `count` localhost workers;
    their outputs. All are killed on timeout or error."""
    ports = free_ports(count)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    processes = []
    try:
        for index in range(count):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker",
                                                                 "index": index}})
            with open(logs / f"worker{index}.log", "w") as out:
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "tfemo.train", *args, "--strategy", "multi_worker"],
                    env=_env(TF_CONFIG=tf_config), stdout=out, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + WORKER_TIMEOUT
        for process in processes:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    outputs = [(logs / f"worker{i}.log").read_text() for i in range(count)]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-3000:]
    return outputs


def _mirrored_on_two_cpus(args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-c", TWO_CPUS, *args, "--strategy", "mirrored"],
                            env=_env(), capture_output=True, text=True, timeout=WORKER_TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow
def test_two_workers_agree_resume_and_match_one_machine(records, tmp_path):
    """Two workers train 3 steps, stop, resume to 6: both restore from the chief's train dir
    and end with identical weights, equal to one machine's uninterrupted 6 steps with the same
    global batch (4) over the same two replicas: mirrored on two logical CPUs.

    The reference is two replicas, not --strategy default, because the loss (1 - CCC) is a
    statistic of a whole batch: each replica's CCC of its half batch, averaged, is not the CCC
    of the batch (any tf.distribute run computes it so). With the same split the computation is
    the same, so the tolerance is float32 round-off of the all-reduce order: 1e-5 absolute,
    against updates of about 3e-4 per step.
    """
    chief_dir, reference = tmp_path / "cluster", tmp_path / "reference"
    args = ["--tfrecords", str(records), "--train_dir", str(chief_dir), *SMALL]
    run_workers([*args, "--max_steps", "3"], tmp_path)
    outputs = run_workers([*args, "--max_steps", "6"], tmp_path)
    assert all("resuming from" in out and "(step 3)" in out for out in outputs)
    digests = [re.search(r"weights digest (\w+)", out).group(1) for out in outputs]
    assert "chief weights digest" in outputs[0] and "worker weights digest" in outputs[1]
    assert digests[0] == digests[1]
    # the chief alone wrote the train dir (one shard, two workers: DATA sharding)
    assert available_steps(chief_dir) == [2, 3, 4, 5, 6]  # --max_to_keep 5
    assert (chief_dir / "log_train.txt").read_text().count("=== run started") == 2
    assert 'strategy = "multi_worker"' in (chief_dir / "run.toml").read_text()
    assert list((chief_dir / "train").glob("events.out.tfevents.*"))
    _mirrored_on_two_cpus(["--tfrecords", str(records), "--train_dir", str(reference), *SMALL,
                           "--max_steps", "6"])
    _assert_close(_weights(chief_dir / "model.ckpt-6"), _weights(reference / "model.ckpt-6"),
                  1e-5)
