#!/usr/bin/env python
"""Shim for `python -m tfemo.label_report` (console script `tfemo-label-report`)."""

import sys

from tfemo.label_report import main

if __name__ == "__main__":
    sys.exit(main())
