"""Step-indexed checkpoints `model.ckpt-<step>` via tf.train.Checkpoint and CheckpointManager."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from tfemo.core.errors import CheckpointNotFoundError
from tfemo.training.run_dir import CHECKPOINT_NAME, checkpoint_prefix, step_of_index_file


def available_steps(directory: str | Path) -> list[int]:
    """The steps of every complete checkpoint in `directory`, ascending."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    steps = (step_of_index_file(p.name) for p in directory.iterdir())
    return sorted(step for step in steps if step is not None)


def checkpoint_path(directory: str | Path, steps: str | int) -> str:
    """The prefix of checkpoint `steps` ("latest" or a number) in `directory`.

    A missing step is an error that lists the steps that exist.
    """
    directory = Path(directory)
    existing = available_steps(directory)
    if not existing:
        raise CheckpointNotFoundError(
            f"{directory}: no checkpoints ({CHECKPOINT_NAME}-<step>.index); train first, or "
            "give the train dir with --train_dir")
    if str(steps) != "latest" and not str(steps).isdigit():
        raise CheckpointNotFoundError(f"steps {steps!r}: not a step (give a number or 'latest')")
    step = existing[-1] if str(steps) == "latest" else int(steps)
    if step not in existing:
        listing = ", ".join(str(s) for s in existing)
        raise CheckpointNotFoundError(
            f"{directory}: no checkpoint at step {step}; steps that exist: {listing}")
    return checkpoint_prefix(directory, step)


def make_manager(checkpoint: tf.train.Checkpoint, directory: str | Path,
                 max_to_keep: int) -> tf.train.CheckpointManager:
    """A manager writing `model.ckpt-<step>` files and the `checkpoint` index in `directory`."""
    return tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=max_to_keep,
                                      checkpoint_name=CHECKPOINT_NAME)


def training_checkpoint(model, optimizer) -> tf.train.Checkpoint:
    """A checkpoint of everything a resumed run needs to continue exactly where it stopped.

    Variables are listed explicitly, in the order the model and optimizer create them: TF's
    object-graph tracking does not see Keras 3 layers kept in Python lists, nor the random
    seed generators behind dropout masks, so `Checkpoint(model=model)` would silently miss them.
    A model with an optimizer of its own (the WGAN-GP's critic) lists its variables in
    `optimizer_state`.
    """
    own = list(getattr(model, "optimizer_state", ()))
    return tf.train.Checkpoint(model_variables=list(model.variables),
                               optimizer_variables=list(optimizer.variables),
                               **({"model_optimizer_variables": own} if own else {}))


def restore_model(model, path: str) -> None:
    """Load a checkpoint's model variables into `model` (built with the same configuration).

    Fails if any model variable is missing from the checkpoint or has another shape.
    """
    status = tf.train.Checkpoint(model_variables=list(model.variables)).restore(path)
    status.expect_partial()  # the optimizer's variables are not needed to predict
    status.assert_existing_objects_matched()
