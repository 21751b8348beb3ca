"""How a command prints: fitted to a terminal, plain whole lines anywhere else.

On a terminal, rich wraps text and fits tables to its width. Written to a file or a pipe (a log,
CI, a test's captured output), rich would wrap at 80 columns and cut table cells with an
ellipsis, so a long path would arrive broken or shortened. Off a terminal `command_console`
never wraps text and lays tables out on a line wide enough for whole paths, and
`keras_verbose` turns Keras's progress bar (redrawn with \r and \b) into one line per epoch.
"""

from __future__ import annotations

import sys

from rich.console import Console

WIDTH_OFF_A_TERMINAL = 8192  # wider than any path (PATH_MAX is 4096)


def command_console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr): the terminal's width there, no wrapping elsewhere."""
    if on_a_terminal(stderr):
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=WIDTH_OFF_A_TERMINAL, soft_wrap=True)


def on_a_terminal(stderr: bool = False) -> bool:
    """Whether stdout (or stderr) is a terminal rather than a file or a pipe."""
    stream = sys.stderr if stderr else sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def keras_verbose(verbose: int) -> int:
    """Keras's `verbose` for stdout: 1 (a progress bar) becomes 2 (one line per epoch) off a
    terminal, where a bar is a stream of control characters; 0 and 2 stay."""
    return 2 if verbose == 1 and not on_a_terminal() else verbose
