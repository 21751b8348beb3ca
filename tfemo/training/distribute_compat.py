"""Fixes for Keras 3 `Model.fit` under a tf.distribute strategy (mirrored or multi-worker).

Keras's TensorFlow trainer (3.0 up to 3.15.1 at least, the version pinned here, on TF 2.16.2)
has two faults under a strategy; the first is keras-team/keras#20585:

- `TensorFlowTrainer._maybe_symbolic_build` draws the first batch of the training stream to
  build the model and then restarts the stream. Under MultiWorkerMirroredStrategy it reduces
  that PerReplica batch eagerly ("Attempt to convert a value (PerReplica...) to a Tensor").
  Under any strategy the restart starts a second iteration of the dataset, and a seeded
  shuffle with `reshuffle_each_iteration` gives its second order there: a mirrored run would
  not see the batches a default one sees. The build only needs the batch's shapes and dtypes,
  so the fix builds from the dataset's `element_spec` and draws nothing.
- `reduce_per_replica` reduces every log value with `strategy.reduce("MEAN", v, axis=0)`
  in multi-worker mode, and the logs are scalars ("Invalid reduction dimension 0"). The fix
  reduces scalars with `axis=None` (the mean across replicas, which is what is meant).

`install()` patches the trainer module only for the Keras versions in AFFECTED (checked with
keras.__version__); on any other version it does nothing, so a Keras upgrade either carries
the upstream fixes or shows up in tests/test_distribute.py.
"""

from __future__ import annotations

import functools
import re
from typing import Any

AFFECTED = ((3, 0, 0), (3, 15, 1))  # inclusive range of keras.__version__ this fix is for

_installed = False


def keras_version() -> tuple[int, ...]:
    """keras.__version__ as (major, minor, patch); a suffix such as 'rc1' or '.dev0' is
    dropped."""
    import keras

    return tuple(int(n) for n in re.findall(r"\d+", keras.__version__)[:3])


def applies(version: tuple[int, ...] | None = None) -> bool:
    """Whether this fix is meant for Keras `version` (default: the installed one)."""
    version = keras_version() if version is None else version
    return AFFECTED[0] <= version <= AFFECTED[1]


def _rank(strategy: Any, value: Any) -> int | None:
    import tensorflow as tf

    if isinstance(value, tf.distribute.DistributedValues):
        value = strategy.experimental_local_results(value)[0]
    return getattr(value, "shape", tf.TensorShape(None)).rank


def install() -> bool:
    """Patch Keras's TF trainer (once) when the installed Keras is in AFFECTED; True if
    patched (now or before)."""
    global _installed
    if _installed:
        return True
    if not applies():
        return False
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    original_build = trainer.TensorFlowTrainer._maybe_symbolic_build
    original_reduce = trainer.reduce_per_replica

    @functools.wraps(original_build)
    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None and data_batch is None and self._distribute_strategy is not None:
            data_batch = iterator.data_adapter.get_tf_dataset().element_spec
        return original_build(self, iterator=None, data_batch=data_batch)

    @functools.wraps(original_reduce)
    def reduce_per_replica(values, strategy, reduction):
        multi_worker = (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
                        and strategy.extended._in_multi_worker_mode())
        if not multi_worker or reduction not in ("auto", "mean"):
            return original_reduce(values, strategy, reduction)
        return tree.map_structure(
            lambda v: strategy.reduce("MEAN", v, axis=None if _rank(strategy, v) == 0 else 0),
            values)

    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer.reduce_per_replica = reduce_per_replica
    _installed = True
    return True
