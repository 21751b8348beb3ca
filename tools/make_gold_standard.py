#!/usr/bin/env python
"""Shim for `python -m tfemo.make_gold_standard` (console script `tfemo-make-gold-standard`)."""

import sys

from tfemo.make_gold_standard import main

if __name__ == "__main__":
    sys.exit(main())
