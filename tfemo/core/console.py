"""How a command prints: fitted to a terminal, plain whole lines anywhere else.

On a terminal, rich wraps text and fits tables to its width. Written to a file or a pipe (a log,
CI, a test's captured output), rich would wrap at 80 columns and cut table cells with an
ellipsis, so a long path would arrive broken or shortened. Off a terminal `command_console`
never wraps text and lays tables out on a line wide enough for whole paths, and
`keras_verbose` turns Keras's progress bar (redrawn with \r and \b) into one line per epoch.
`command_progress` is a progress bar on a terminal and `ProgressLines` elsewhere: a plain line
(`<stage>: 120/624 (19%), 12 s`) every few seconds, so a long run in a log is never silent.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


PROGRESS_SECONDS = 5.0  # at most one progress line per stage this often, off a terminal


class ProgressLines:
    """Whole progress lines, `<stage>: done/total (pct%), elapsed s`: the first of each stage,
    then at most one every `every` seconds, and its last (done == total)."""

    def __init__(self, write: Callable[[str], None] | None = None,
                 every: float = PROGRESS_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.write = write or (lambda line: print(line, flush=True))
        self.every, self.clock = every, clock
        self.started = clock()
        self.stage, self.last, self.finished = None, 0.0, False

    def __call__(self, stage: str, done: int, total: int) -> None:
        """Report that `done` of `total` units of `stage` are done (printed when due)."""
        now = self.clock()
        finished = done >= total
        if stage == self.stage and (self.finished or
                                    (not finished and now - self.last < self.every)):
            return
        self.stage, self.last, self.finished = stage, now, finished
        share = f" ({done / total:.0%})" if total else ""
        self.write(f"{stage}: {done}/{total}{share}, {now - self.started:.0f} s")


@contextmanager
def command_progress(console: Console, stage: str, total: int,
                     quiet: bool = False) -> Iterator[Callable[[int], None]]:
    """`advance(n)` for `total` units of work: a transient bar on a terminal, ProgressLines
    elsewhere (nothing at all with `quiet`)."""
    if quiet:
        yield lambda n: None
        return
    if not console.is_terminal:
        lines, done = ProgressLines(), 0
        lines(stage, 0, total)

        def advance(n: int) -> None:
            nonlocal done
            done += n
            lines(stage, done, total)

        yield advance
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                  transient=True) as progress:
        bar = progress.add_task(stage, total=total)
        yield lambda n: progress.advance(bar, n)
