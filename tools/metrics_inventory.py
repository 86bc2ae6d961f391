"""Regenerate monitoring/metrics-inventory.json from a live scrape (devkit.metrics_inventory)."""

import sys

from devkit.metrics_inventory import main

if __name__ == "__main__":
    sys.exit(main())
