"""Faults of the local run under load, every request judged (`make chaos`); see devkit/chaos."""

import sys

from devkit.chaos import main

if __name__ == "__main__":
    sys.exit(main())
