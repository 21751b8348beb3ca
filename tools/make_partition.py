#!/usr/bin/env python
"""Shim for `python -m tfemo.make_partition` (console script `tfemo-make-partition`)."""

import sys

from tfemo.make_partition import main

if __name__ == "__main__":
    sys.exit(main())
