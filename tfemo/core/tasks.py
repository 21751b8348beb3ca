"""The two learning tasks, as one enum: per-frame continuous dimensions or one class per item.

`Task` is a StrEnum, so a member equals its string ("categorical" == Task.CATEGORICAL), writes
to JSON as the plain string, and descriptions written before the enum still read.
"""

from __future__ import annotations

from enum import StrEnum


class Task(StrEnum):
    """What the labels of a corpus, a set of records or a model are."""

    CONTINUOUS = "continuous"
    CATEGORICAL = "categorical"

    def __repr__(self) -> str:
        """The string's repr: messages that show a task or a tuple of tasks (argparse's
        "choose from ...", "task must be one of ...") read as they did with plain strings."""
        return repr(self.value)
