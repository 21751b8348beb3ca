#!/usr/bin/env python
"""Shim for `python -m tfemo.train` (console script `tfemo-train`)."""

import sys

from tfemo.train import main

if __name__ == "__main__":
    sys.exit(main())
