"""Run a benchmark script on one core with one BLAS/OpenMP thread.

The thread variables only count before numpy loads its BLAS, and a script imports numpy at its
top: so `run_on_one_core` pins the process to the core, sets them, and starts the same command
again (os.execv) once; in the new process it only checks that they hold.
"""

from __future__ import annotations

import os
import sys

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PINNED = "TFEMO_BENCHMARK_CORE"


def run_on_one_core(core: int) -> None:
    """Pin this process to `core` with one BLAS thread; restarts the script the first time."""
    os.sched_setaffinity(0, {core})
    if os.environ.get(PINNED) == str(core) and all(
            os.environ.get(name) == "1" for name in THREAD_VARIABLES):
        return
    os.environ.update({name: "1" for name in THREAD_VARIABLES})
    os.environ[PINNED] = str(core)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
