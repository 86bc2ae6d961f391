"""Chart tests: one module per template, one class per resource; every test renders through tests.helm."""

from pathlib import Path

from tests.helm import REPO

VALUES_DIR = REPO / "values"
# Each preset as the `-f` files it is installed with (the autoscale overlay goes on top of local-cpu).
PRESETS: dict[str, tuple[Path, ...]] = {
    path.stem: ((VALUES_DIR / "local-cpu.yaml", path) if path.stem == "local-cpu-autoscale" else (path,))
    for path in sorted(VALUES_DIR.glob("*.yaml"))
}
KUBE_VERSIONS = ("1.30", "1.34")
