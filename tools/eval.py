#!/usr/bin/env python
"""Shim for `python -m tfemo.eval` (console script `tfemo-eval`)."""

import sys

from tfemo.eval import main

if __name__ == "__main__":
    sys.exit(main())
