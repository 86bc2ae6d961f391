"""make serve: run the chart's own serveConfigV2 on a local Ray (devkit.serve_local)."""

import sys

from devkit.serve_local import main

if __name__ == "__main__":
    sys.exit(main())
