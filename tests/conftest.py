"""Shared test configuration: the hypothesis profiles of the fuzz tests (tests/test_fuzz_*.py),
and the `ram` fixture (a fresh folder on TensorFlow's in-process ram:// filesystem).

"ci" (the default) is derandomised with a fixed number of examples, no deadline and no example
database, so every run tries the same inputs and the whole fuzz campaign stays well under two
minutes. "long" tries many more random inputs; benchmarks/fuzz.py runs it
(HYPOTHESIS_PROFILE=long).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "database": None, "print_blob": True,
           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture]}
settings.register_profile("ci", derandomize=True, max_examples=50, **_COMMON)
settings.register_profile("long", derandomize=False, max_examples=400, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_RAM_FOLDERS = itertools.count()


@pytest.fixture
def ram() -> Iterator[str]:
    """A fresh ram:// folder (standing in for gs://), removed afterwards: the filesystem lives
    as long as the test process."""
    from tfemo.core import storage

    folder = f"ram://tfemo-test-{next(_RAM_FOLDERS)}/out"
    yield folder
    storage.rmtree(folder)
