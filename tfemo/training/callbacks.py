"""Keras callbacks that act on wall-clock intervals: checkpoints, summaries, a step limit."""

from __future__ import annotations

import time

import keras
import tensorflow as tf

from tfemo.training.run_dir import step_of_checkpoint


def global_step(model: keras.Model) -> int:
    """The number of optimizer updates so far (saved and restored with the checkpoint)."""
    return int(model.optimizer.iterations.numpy())


class PeriodicCheckpoint(keras.callbacks.Callback):
    """Save `model.ckpt-<global step>` every `interval_secs` seconds and when training ends.

    The checkpoint's `save_counter` (which tf.train.CheckpointManager adds one to at every
    save, and uses only to number checkpoints when no number is given) is set to the global
    step: otherwise it would count the saves, which depend on the wall clock, and a resumed
    run would write a checkpoint with other contents than an uninterrupted one.
    """

    def __init__(self, manager: tf.train.CheckpointManager, interval_secs: float) -> None:
        super().__init__()
        self.manager = manager
        self.interval_secs = interval_secs
        self.last_save = time.monotonic()
        latest = manager.latest_checkpoint
        self.saved_step = step_of_checkpoint(latest) if latest else None

    def _save(self) -> None:
        step = global_step(self.model)
        if step != self.saved_step:
            self.manager.checkpoint.save_counter.assign(step - 1)  # save() adds one
            self.manager.save(checkpoint_number=step)
            self.saved_step = step
        self.last_save = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() - self.last_save >= self.interval_secs:
            self._save()

    def on_train_end(self, logs=None):
        self._save()


class PeriodicSummaries(keras.callbacks.Callback):
    """Write loss, metrics and learning rate to TensorBoard every `interval_secs` seconds."""

    def __init__(self, log_dir: str, interval_secs: float) -> None:
        super().__init__()
        self.writer = tf.summary.create_file_writer(log_dir)
        self.interval_secs = interval_secs
        self.last_write = time.monotonic()
        self.last_logs: dict = {}

    def _write(self, logs: dict) -> None:
        step = global_step(self.model)
        with self.writer.as_default(step=step):
            for name, value in logs.items():
                tf.summary.scalar(name, float(value))
            tf.summary.scalar("learning_rate",
                              float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
        self.writer.flush()
        self.last_write = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        self.last_logs = dict(logs or {})
        if time.monotonic() - self.last_write >= self.interval_secs:
            self._write(self.last_logs)

    def on_train_end(self, logs=None):
        if self.last_logs:
            self._write(self.last_logs)
        self.writer.close()


class StopAtStep(keras.callbacks.Callback):
    """Stop training once the global step reaches `max_steps`."""

    def __init__(self, max_steps: int) -> None:
        super().__init__()
        self.max_steps = max_steps

    def on_train_batch_end(self, batch, logs=None):
        if global_step(self.model) >= self.max_steps:
            self.model.stop_training = True
