"""Forced alignment with a time limit: aeneas in a child process that is killed when late.

aeneas's DTW and eSpeak's synthesis run in C and cannot be interrupted from Python, so a
transcript or an audio file that makes them slow would hold a worker for as long as they
take. Here each alignment runs in a process forked from a forkserver (started once, with
aeneas already imported: ~0.2 s per call) and is killed after `seconds`. As with any
multiprocessing start method but fork, a script that calls it must guard its top-level code
with the usual main-module check (the child imports the main module).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from multiprocessing.connection import Connection

import numpy as np

from tfemo.core.errors import InputError
from tfemo.corpora.base import WordTiming

_CONTEXT = None


def _context():
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["tfemo.text.alignment"])
    return _CONTEXT


def start_aligner() -> None:
    """Start the forkserver now (~3 s: it imports aeneas) rather than on the first alignment."""
    from multiprocessing import forkserver

    _context()
    forkserver.ensure_running()


def _child(connection: Connection, audio: np.ndarray, words: list[str], language: str,
           source: str) -> None:
    from tfemo.text.alignment import align_aeneas

    try:
        connection.send(("ok", align_aeneas(audio, words, language, source)))
    except InputError as error:
        connection.send(("input", error))
    except Exception as error:  # noqa: BLE001 - any other failure of the child is sent back
        connection.send(("error", f"{type(error).__name__}: {error}"))
    finally:
        connection.close()


def align_aeneas_within(audio: np.ndarray, words: Sequence[str], language: str, source: str,
                        seconds: float) -> list[WordTiming]:
    """`align_aeneas` in a child process; InputError("alignment failed") after `seconds`."""
    receive, send = _context().Pipe(duplex=False)
    process = _context().Process(target=_child, name="tfemo-align", daemon=True,
                                 args=(send, np.asarray(audio, np.float32), list(words),
                                       language, str(source)))
    process.start()
    send.close()
    try:
        if not receive.poll(seconds):
            raise InputError(source, "alignment failed",
                             f"it took more than {seconds:g} s (--alignment_seconds)")
        try:
            kind, value = receive.recv()
        except EOFError:
            raise InputError(source, "alignment failed",
                             f"the aligner stopped (exit code {process.exitcode})") from None
    finally:
        receive.close()
        if process.is_alive():
            process.kill()
        process.join()
    if kind == "ok":
        return value
    if kind == "input":
        raise value
    raise InputError(source, "alignment failed", value)
