#!/usr/bin/env bash
# One command from a fresh Debian 12 machine: install everything (idempotent), then
#   bash tools/run.sh demo   the main job on the embedded demo corpus: make TFRecords, train
#                            the semantic fusion model, score devel and test
#   bash tools/run.sh test   the linter and the whole test suite (what CI runs)
# A second run skips what is done (installed packages, written shards, finished training).
set -euo pipefail
cd "$(dirname "$0")/.."
job=${1:-demo}
bash tools/install.sh
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
case "$job" in
  demo)
    .venv/bin/python tools/make_tfrecords.py
    .venv/bin/python -m tfemo.train --device 0
    .venv/bin/python -m tfemo.eval --portion devel --steps latest
    .venv/bin/python -m tfemo.eval --portion test --steps latest
    ;;
  test)
    .venv/bin/ruff check .
    .venv/bin/lint-imports --no-cache
    # one worker per core, at most 4 (each holds TensorFlow); a file's tests share a worker,
    # so a module's fixtures are built once
    .venv/bin/pytest -m "slow or not slow" -n auto --maxprocesses 4 --dist loadfile "${@:2}"
    ;;
  *)
    echo "usage: bash tools/run.sh [demo|test]" >&2
    exit 2
    ;;
esac
