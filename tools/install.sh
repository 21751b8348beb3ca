#!/usr/bin/env bash
# Install everything tfemo needs on Debian 12 with Python 3.11: system packages (espeak for
# speech synthesis and aeneas alignment, ffmpeg, chromium for the service's browser test), a
# virtual environment in .venv and the pinned Python packages. Idempotent: each step is
# skipped when already done. Playwright drives Debian's /usr/bin/chromium and never downloads
# a browser of its own.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "tfemo needs Python 3.11 (aeneas cannot build on 3.12+); found: $("$PYTHON" --version 2>&1)" >&2
  exit 1
fi

# 1. System packages.
apt_packages=(espeak espeak-ng libespeak-dev ffmpeg chromium)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "[install] apt packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. Virtual environment.
if [ ! -x .venv/bin/pip ]; then
  echo "[install] creating .venv"
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    # Debian's own python3 needs its venv module from apt (pyenv and python.org builds have it)
    rm -rf .venv
    $SUDO apt-get install -y -qq python3-venv >/dev/null || $SUDO apt-get install -y -qq python3.11-venv >/dev/null
    "$PYTHON" -m venv .venv
  fi
fi

# 3. Python packages, re-installed only when setup.cfg changes. numpy and an old setuptools
#    go in first because aeneas builds against them without build isolation; everything
#    else goes in ONE command with numpy pinned, so pip cannot float numpy to 2.x.
stamp=.venv/.tfemo-install-stamp
want=$(cat setup.cfg pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[install] python packages (about a minute; log: .venv/install.log)"
  log=.venv/install.log
  : > "$log"
  pip_step() {
    if ! .venv/bin/pip "$@" >> "$log" 2>&1; then
      grep -v "is ignored: it is neither" "$log" | tail -40 >&2
      echo "[install] pip $* failed; full log in $log" >&2
      exit 1
    fi
  }
  pip_step install -q --upgrade pip
  pip_step install -q "setuptools<74" wheel numpy==1.26.4
  # opensmile (research-only licence, see setup.cfg) is installed for the tests: running them,
  # in CI or here, is research use; a deployment that is not installs ".[beam]" or no extra.
  # smote: the oversampling baseline, so its tests run in CI too.
  pip_step install -q --no-build-isolation -e ".[test,beam,opensmile,smote]"
  echo "$want" > "$stamp"
fi
echo "[install] ready: $(.venv/bin/python --version), tfemo in .venv"
