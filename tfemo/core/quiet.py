"""TensorFlow's C++ log level, set before TensorFlow loads: warnings and errors only.

TensorFlow reads TF_CPP_MIN_LOG_LEVEL once, as it loads, so this must run before the first
`import tensorflow`. `tfemo/__init__.py` imports it, so every command (`python -m tfemo.X`,
the console scripts, tools/*.py) sets it before anything else. A script that imports
TensorFlow itself imports this module first (ruff's isort keeps it in a section of its own,
pyproject.toml). Level 2 hides TensorFlow's INFO lines at start-up, among them oneDNN's
notice ("oneDNN custom operations are on ..."): only the log level changes, never
TF_ENABLE_ONEDNN_OPTS, so the numerics are the same. A value the user set is kept.
"""

import os

LOG_LEVEL = "2"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", LOG_LEVEL)
