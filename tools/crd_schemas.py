"""Regenerate schemas/json/ from the vendored CRDs in schemas/crds/, or --check it (devkit.crd_schema)."""

import sys

from devkit.crd_schema import main

if __name__ == "__main__":
    sys.exit(main())
