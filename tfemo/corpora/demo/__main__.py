"""`python -m tfemo.corpora.demo`: generate a demo corpus (tfemo.corpora.demo.generate.main)."""

import sys

from tfemo.corpora.demo.generate import main

sys.exit(main())
