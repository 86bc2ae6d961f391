"""The chart's values presets and the Kubernetes versions every one of them is validated for."""

from pathlib import Path

from devkit.helm import REPO, user_values

VALUES_DIR = REPO / "values"
# Each preset as the `-f` files it is installed with (the local-cpu-* overlays go on top of local-cpu).
PRESETS: dict[str, tuple[Path, ...]] = {
    path.stem: ((VALUES_DIR / "local-cpu.yaml", path) if path.stem.startswith("local-cpu-") else (path,))
    for path in sorted(VALUES_DIR.glob("*.yaml"))
}
# The presets of each `mode` (values.yaml's default is rayservice).
STANDALONE_PRESETS = {
    name: files for name, files in PRESETS.items() if user_values(files).get("mode") == "standalone"
}
RAYSERVICE_PRESETS = {name: files for name, files in PRESETS.items() if name not in STANDALONE_PRESETS}
KUBE_VERSIONS = ("1.30", "1.34")
