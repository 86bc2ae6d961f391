"""Regenerate or check the values table in chart/README.md (devkit.values_table)."""

import sys

from devkit.values_table import main

if __name__ == "__main__":
    sys.exit(main())
