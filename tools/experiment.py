#!/usr/bin/env python
"""Shim for `python -m tfemo.experiment` (console script `tfemo-experiment`)."""

import sys

from tfemo.experiment import main

if __name__ == "__main__":
    sys.exit(main())
