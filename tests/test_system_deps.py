"""tools/system_deps.sh, the set-up step of `make test`: nothing to do, or one line with the command."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from devkit import REPO

SCRIPT = REPO / "tools" / "system_deps.sh"


def run(bin_dir: Path) -> subprocess.CompletedProcess:
    """The script with only `bin_dir` on PATH (bash itself is called by its full path)."""
    return subprocess.run(
        [shutil.which("bash"), str(SCRIPT)],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=30,
    )


def fake_bin(tmp_path: Path, *, uid: int, programs: tuple[str, ...] = ()) -> Path:
    """A PATH folder with the tools the script uses, a fake `id`, and stubs for `programs`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sort", "tr"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    for name, body in {"id": f"echo {uid}", **dict.fromkeys(programs, "exit 0")}.items():
        path = bin_dir / name
        path.write_text(f"#!{shutil.which('bash')}\n{body}\n")
        path.chmod(0o755)
    return bin_dir


class TestSystemDeps:
    def test_should_do_nothing_when_prometheus_promtool_and_redis_are_installed(self, tmp_path):
        result = run(fake_bin(tmp_path, uid=1000, programs=("prometheus", "promtool", "redis-server")))
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")

    def test_should_print_the_one_command_when_not_root_and_no_sudo(self, tmp_path):
        result = run(fake_bin(tmp_path, uid=1000))
        assert result.returncode == 1
        assert result.stderr.splitlines() == [
            "missing: prometheus redis-server -- run: sudo apt-get update && "
            "sudo apt-get install -y --no-install-recommends prometheus redis-server"
        ]

    def test_should_name_prometheus_once_when_only_promtool_is_missing(self, tmp_path):
        result = run(fake_bin(tmp_path, uid=1000, programs=("prometheus", "redis-server")))
        assert result.returncode == 1
        assert result.stderr.count("prometheus") == 2  # "missing: prometheus" and the install command

    def test_should_name_only_redis_when_prometheus_is_installed(self, tmp_path):
        result = run(fake_bin(tmp_path, uid=1000, programs=("prometheus", "promtool")))
        assert result.returncode == 1
        assert result.stderr.startswith("missing: redis-server -- run: ")
