"""What one training run did, returned to the command that prints it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TrainResult:
    """The outcome of `train_one` (a Keras fit or a scikit-learn fit) in one train dir."""

    train_dir: Path
    model: str
    start_step: int  # the step the run resumed from (0: a fresh run)
    step: int  # the step of the latest checkpoint after the run
    checkpoint: str | None  # its prefix, `model.ckpt-<step>` (an estimator: its .joblib file)
    trained: bool  # False when the train dir already held the last step: nothing was done
    estimator: bool = False  # fitted by scikit-learn (one fit, one file)
    examples: int = 0  # an estimator: the utterances it was fitted on
    workers: int = 1
    chief: bool = True
    weights_digest: str = ""  # several workers: equal on every worker when they stayed in sync
