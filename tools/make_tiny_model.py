"""Create the tiny random-weight model the local presets serve (devkit.tiny_model)."""

import sys

from devkit.tiny_model import main

if __name__ == "__main__":
    sys.exit(main())
