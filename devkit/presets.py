"""The chart's values presets and the Kubernetes versions every one of them is validated for."""

from pathlib import Path

from devkit.helm import REPO

VALUES_DIR = REPO / "values"
# Each preset as the `-f` files it is installed with (the local-cpu-* overlays go on top of local-cpu).
PRESETS: dict[str, tuple[Path, ...]] = {
    path.stem: ((VALUES_DIR / "local-cpu.yaml", path) if path.stem.startswith("local-cpu-") else (path,))
    for path in sorted(VALUES_DIR.glob("*.yaml"))
}
KUBE_VERSIONS = ("1.30", "1.34")
