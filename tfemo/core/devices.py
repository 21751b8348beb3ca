"""Choose the device TensorFlow runs on from a `--device N` flag."""

from __future__ import annotations

import tensorflow as tf


def select_device(index: int) -> str:
    """Make GPU `index` the only visible GPU (-1: CPU only); return a line saying what was chosen.

    Must run before TensorFlow touches a device. Asking for a GPU on a machine without one is
    not an error: training falls back to the CPU and the returned line says so.
    """
    gpus = tf.config.list_physical_devices("GPU")
    if index < 0:
        tf.config.set_visible_devices([], "GPU")
        return "device: CPU (--device -1)"
    if not gpus:
        return f"device: no GPU found, running on the CPU (asked for --device {index})"
    if index >= len(gpus):
        raise ValueError(f"--device {index}: this machine has {len(gpus)} GPU(s) "
                         f"(0..{len(gpus) - 1}); use -1 for the CPU")
    tf.config.set_visible_devices([gpus[index]], "GPU")
    tf.config.experimental.set_memory_growth(gpus[index], True)
    return f"device: GPU {index} ({gpus[index].name})"
