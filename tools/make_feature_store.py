#!/usr/bin/env python
"""Shim for `python -m tfemo.make_feature_store` (console script `tfemo-make-feature-store`)."""

import sys

from tfemo.make_feature_store import main

if __name__ == "__main__":
    sys.exit(main())
