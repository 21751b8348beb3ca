#!/usr/bin/env python
"""Shim for `python -m tfemo.predict` (console script `tfemo-predict`)."""

import sys

from tfemo.predict import main

if __name__ == "__main__":
    sys.exit(main())
