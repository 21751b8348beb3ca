"""How every command ends: a user's mistake is one line on stderr and exit code 2.

`error: <what is wrong> (<how to fix it>)`, never a traceback, for tfemo's own errors (bad
flags, missing or inconsistent inputs, a file that cannot be used under --strict). Anything else
is a bug in tfemo and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

from tfemo.core import storage
from tfemo.core.errors import TfemoError, UserError

USER_ERROR = 2  # as argparse exits for a bad flag
INTERRUPTED = 130  # as a shell reports Ctrl-C


def report_user_errors(main: Callable[..., int]) -> Callable[..., int]:
    """Wrap a command's `main(argv)` so that TfemoError prints one line and returns 2."""

    @functools.wraps(main)
    def wrapper(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except TfemoError as error:
            print(f"error: {error}", file=sys.stderr, flush=True)
            return USER_ERROR
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr, flush=True)
            return INTERRUPTED

    return wrapper


def stopped_by_strict(error: TfemoError) -> UserError:
    """The user error that ends a --strict run at its first unusable input."""
    return UserError(str(error), "--strict stops at the first unusable input; without it, the "
                                 "input is reported and skipped")


def output_folder(path: storage.Location, flag: str) -> storage.Location:
    """`path` (local or a URL) as an output folder: a user error when it names an existing file."""
    if storage.exists(path) and not storage.isdir(path):
        raise UserError(f"{flag} {path}: not a folder, an existing file",
                        f"give {flag} a folder (it is made if missing)")
    return path
