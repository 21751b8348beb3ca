"""How every command ends: a user's mistake is one line on stderr and exit code 2.

`error: <what is wrong> (<how to fix it>)`, never a traceback, for tfemo's own errors (bad
flags, missing or inconsistent inputs, a file that cannot be used under --strict). Anything else
is a bug in tfemo and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

from tfemo.core.errors import TfemoError

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
