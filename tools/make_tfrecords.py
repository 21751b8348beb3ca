#!/usr/bin/env python
"""Shim for `python -m tfemo.make_tfrecords` (console script `tfemo-make-tfrecords`)."""

import sys

from tfemo.make_tfrecords import main

if __name__ == "__main__":
    sys.exit(main())
