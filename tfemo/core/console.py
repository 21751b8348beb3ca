"""The rich console a command prints with: fitted to a terminal, whole lines anywhere else.

On a terminal, rich wraps text and fits tables to its width. Written to a file or a pipe (a log,
CI, a test's captured output), rich would wrap at 80 columns and cut table cells with an
ellipsis, so a long path would arrive broken or shortened. Off a terminal this console never
wraps text and lays tables out on a line wide enough for whole paths.
"""

from __future__ import annotations

import sys

from rich.console import Console

WIDTH_OFF_A_TERMINAL = 8192  # wider than any path (PATH_MAX is 4096)


def command_console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr): the terminal's width there, no wrapping elsewhere."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=WIDTH_OFF_A_TERMINAL, soft_wrap=True)
