#!/usr/bin/env python
"""Shim for `python -m tfemo.encode_latents` (console script `tfemo-encode-latents`)."""

import sys

from tfemo.encode_latents import main

if __name__ == "__main__":
    sys.exit(main())
