"""Helm lint (strict) of the chart with its defaults and every preset (devkit.lint)."""

import sys

from devkit.lint import main

if __name__ == "__main__":
    sys.exit(main())
