#!/usr/bin/env bash
# One command from a fresh Debian 12 machine: install everything (idempotent), then
#   bash tools/run.sh demo   run the main job on the embedded demo corpus
#   bash tools/run.sh test   run the linter and the whole test suite (what CI runs)
set -euo pipefail
cd "$(dirname "$0")/.."
job=${1:-demo}
bash tools/install.sh
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
case "$job" in
  demo)
    .venv/bin/python tools/make_tfrecords.py
    ;;
  test)
    .venv/bin/ruff check .
    .venv/bin/pytest -m "slow or not slow" "${@:2}"
    ;;
  *)
    echo "usage: bash tools/run.sh [demo|test]" >&2
    exit 2
    ;;
esac
