#!/usr/bin/env python
"""The long fuzz campaign: tests/test_fuzz_*.py under the hypothesis profile "long".

CI runs the same tests with the derandomised "ci" profile (tests/conftest.py: a fixed, small
number of examples, the same inputs every run). This runs pytest on them with
HYPOTHESIS_PROFILE=long (random inputs, many more examples; --profile to choose another) and
prints, per entry point, the examples tried, the failing examples found and the outcome.

    python benchmarks/fuzz.py [--profile long] [-k audio] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parents[1]
_HEADER = re.compile(r"^(tests/test_fuzz_\w+\.py)::(\w+):\s*$")
_COUNTS = re.compile(r"(\d+) passing, (\d+) failing, and (\d+) invalid")
_OUTCOME = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED)\s+(tests/test_fuzz_\w+\.py)::(\w+)")


def parse_statistics(output: str) -> dict[tuple[str, str], dict[str, int]]:
    """(module, test) -> {"examples", "failing", "invalid"} from --hypothesis-show-statistics."""
    stats: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: {"examples": 0, "failing": 0, "invalid": 0})
    current = None
    for line in output.splitlines():
        header = _HEADER.match(line)
        if header:
            current = (header.group(1), header.group(2))
            continue
        counts = _COUNTS.search(line)
        if counts and current is not None:
            passing, failing, invalid = (int(g) for g in counts.groups())
            entry = stats[current]
            entry["examples"] += passing + failing + invalid
            entry["failing"] += failing
            entry["invalid"] += invalid
    return dict(stats)


def parse_outcomes(output: str) -> dict[tuple[str, str], str]:
    """(module, test) -> PASSED / FAILED / ERROR / SKIPPED from pytest's -rA summary."""
    outcomes = {}
    for line in output.splitlines():
        match = _OUTCOME.match(line)
        if match:
            outcomes[(match.group(2), match.group(3))] = match.group(1)
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="long", help="hypothesis profile (tests/conftest.py)")
    parser.add_argument("-k", dest="keyword", default="", help="pytest -k expression")
    parser.add_argument("--seed", default="", help="hypothesis seed (default: random)")
    args = parser.parse_args()
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA",
               "-m", "slow or not slow", "--hypothesis-show-statistics",
               *sorted(str(p.relative_to(HERE)) for p in (HERE / "tests").glob("test_fuzz_*.py"))]
    if args.keyword:
        command += ["-k", args.keyword]
    if args.seed:
        command += ["--hypothesis-seed", args.seed]
    env = {**os.environ, "HYPOTHESIS_PROFILE": args.profile,
           "PYTHONPATH": os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", ""))
                                         if p)}
    started = time.perf_counter()
    result = subprocess.run(command, cwd=HERE, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    output = result.stdout + result.stderr
    stats, outcomes = parse_statistics(output), parse_outcomes(output)
    table = Table(title=f"fuzz campaign, profile {args.profile!r}: {seconds:.0f} s")
    for column in ("entry point family", "test", "examples", "failing", "invalid", "outcome"):
        table.add_column(column, no_wrap=True, justify="right" if column in (
            "examples", "failing", "invalid") else "left")
    for key in sorted(set(stats) | set(outcomes)):
        module, test = key
        entry = stats.get(key, {"examples": 0, "failing": 0, "invalid": 0})
        outcome = outcomes.get(key, "?")
        style = "" if outcome == "PASSED" else "[red]"
        table.add_row(module.removeprefix("tests/test_fuzz_").removesuffix(".py"), test,
                      str(entry["examples"]), str(entry["failing"]), str(entry["invalid"]),
                      f"{style}{outcome}")
    console = Console(width=150)
    console.print(table)
    if result.returncode != 0:
        failures = [line for line in output.splitlines() if "Falsifying" in line
                    or line.startswith(("E   ", "FAILED", "ERROR"))]
        console.print("\n".join(failures[:60]), markup=False)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
