"""The tf.distribute strategy of a training run (`tfemo.train --strategy`), who is chief, and how
each worker reads its share of the records.

`default` trains on one device; `mirrored` on every GPU of this machine (without GPUs: every
logical CPU device) with one synchronous all-reduce per step; `multi_worker` on the machines
listed in the TF_CONFIG environment variable, each running the same command. --batch_size
stays the global batch: each of the N replicas gets batch_size / N sequences per step.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from typing import Any

from tfemo.core.errors import UserError

STRATEGIES = ("default", "mirrored", "multi_worker")


def _tf_config() -> dict:
    """TF_CONFIG, checked enough to give a clear error instead of a gRPC failure."""
    text = os.environ.get("TF_CONFIG", "")
    if not text:
        raise UserError("--strategy multi_worker: set TF_CONFIG", "a JSON cluster and task, e.g. "
                        '{"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
                        '"task": {"type": "worker", "index": 0}}')
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"TF_CONFIG: not JSON ({error})", "see docs/scaling.md") from error
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict) \
            or not isinstance(config.get("task"), dict):
        raise UserError('TF_CONFIG: needs a "cluster" and a "task" object', "see docs/scaling.md")
    return config


@functools.cache
def make_strategy(name: str) -> Any:
    """The strategy `name`, made once per process (a collective strategy cannot be made twice,
    and the folds of one run share it). Must come before the model and the data."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    from tfemo.training import distribute_compat

    if name == "mirrored":
        distribute_compat.install()
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi_worker":
        _tf_config()
        distribute_compat.install()
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"--strategy {name!r}: choose from {', '.join(STRATEGIES)}")


def _resolver(strategy: Any) -> Any:
    resolver = getattr(strategy, "cluster_resolver", None)
    return resolver if resolver is not None and resolver.task_type else None


def worker_count(strategy: Any) -> int:
    """The number of machines (input pipelines) taking part: 1 unless multi-worker."""
    resolver = _resolver(strategy)
    if resolver is None:
        return 1
    cluster = resolver.cluster_spec().as_dict()
    return sum(len(cluster.get(job, [])) for job in ("chief", "worker")) or 1


def is_chief(strategy: Any) -> bool:
    """Whether this process writes the train dir: the `chief` task, else worker 0."""
    resolver = _resolver(strategy)
    if resolver is None:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def shard_policy(files: int, workers: int) -> Any:
    """FILE (each worker reads its own shards) when there are at least as many shards as
    workers, else DATA (every worker reads everything and keeps its share of each batch)."""
    import tensorflow as tf

    policy = tf.data.experimental.AutoShardPolicy
    return policy.FILE if files >= workers else policy.DATA


def shard_stream(data: Any, files: int, workers: int) -> Any:
    """`data` with the auto-shard policy for `workers` machines (unchanged for one)."""
    import tensorflow as tf

    if workers <= 1:
        return data
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = shard_policy(files, workers)
    return data.with_options(options)


def weights_digest(model: Any) -> str:
    """A SHA-256 of this process's copy of the model's variables (to compare workers)."""
    digest = hashlib.sha256()
    for variable in model.variables:
        digest.update(variable.numpy().tobytes())
    return digest.hexdigest()[:16]
