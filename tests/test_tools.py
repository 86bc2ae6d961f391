"""tools/: every command line starts from any working directory (a script's own folder comes first on
sys.path, so a tool named like a package would shadow it), and `python -m bench` likewise."""

from __future__ import annotations

import subprocess
import sys

import pytest

from devkit import REPO

TOOLS = sorted(path.name for path in (REPO / "tools").glob("*.py"))


class TestCommandLines:
    @pytest.mark.parametrize("tool", TOOLS)
    def test_should_print_its_usage_when_run_from_another_directory(self, tool, tmp_path):
        result = subprocess.run(
            [sys.executable, str(REPO / "tools" / tool), "--help"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        assert "usage:" in result.stdout

    def test_should_print_the_bench_usage_when_run_as_a_module_from_another_directory(self, tmp_path):
        result = subprocess.run(
            [sys.executable, "-m", "bench", "--help"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert "--quick" in result.stdout
