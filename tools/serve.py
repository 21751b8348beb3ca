#!/usr/bin/env python
"""Shim for `python -m tfemo.serve` (console script `tfemo-serve`)."""

import sys

from tfemo.serve import main

if __name__ == "__main__":
    sys.exit(main())
