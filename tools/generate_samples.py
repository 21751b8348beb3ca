#!/usr/bin/env python
"""Shim for `python -m tfemo.generate_samples` (console script `tfemo-generate-samples`)."""

import sys

from tfemo.generate_samples import main

if __name__ == "__main__":
    sys.exit(main())
