#!/usr/bin/env python
"""Shim for `python -m tfemo.export` (console script `tfemo-export`)."""

import sys

from tfemo.export import main

if __name__ == "__main__":
    sys.exit(main())
