"""The local run as `make serve` does it: the chart's serveConfigV2 on a loopback-only Ray.

Shared by every test that needs the live service (end to end, monitoring, load tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.helm import render_chart
from tools.local_ray import HOST, Ports

REPO = Path(__file__).resolve().parents[1]
SERVE_LOCAL = REPO / "tools" / "serve_local.py"
# Ports of their own, so a user's `make serve` and this suite can run side by side.
PORTS = Ports.free()


@dataclass
class LocalRun:
    """A running `tools/serve_local.py --detach` and what the tests need to reach it."""

    base_url: str
    dashboard_url: str
    metrics_url: str
    env: dict
    head_pid: int
    state_dir: Path
    values_files: tuple[str, ...]
    set_values: tuple[str, ...]

    def serve_config_text(self) -> str:
        """The serveConfigV2 this run deployed: the chart rendered with the same values."""
        rendered = render_chart(values_files=self.values_files, set_values=list(self.set_values))
        return rendered.serve_config_text

    @property
    def token(self) -> str:
        """Ray's auth token of this run (token auth is on locally too)."""
        return (self.state_dir / "auth_token").read_text().strip()

    def processes(self) -> list[psutil.Process]:
        head = psutil.Process(self.head_pid)
        return [head, *head.children(recursive=True)]

    def stop(self) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(SERVE_LOCAL), "--stop"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )


def start_local_run(
    tmp: Path, values: list[str], set_values: list[str] = (), timeout_s: int = 900
) -> LocalRun:
    """Start `serve_local.py --detach` with these values files; fail with its output if it fails.

    The RAG store goes under `tmp` (a value, like any other): Milvus Lite locks its file, so two
    local runs must not share one.
    """
    env = {
        **os.environ,
        **PORTS.as_env(),
        "RAY_VLLM_STATE_DIR": str(tmp),
    }
    sets = [f"rag.milvus.uri={tmp / 'rag.db'}", *set_values]
    args = [a for v in values for a in ("-f", v)] + [a for s in sets for a in ("--set", s)]
    proc = subprocess.run(
        [sys.executable, str(SERVE_LOCAL), *args, "--detach", "--timeout", str(timeout_s)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s + 180,
    )  # fmt: skip
    if proc.returncode != 0:
        log = (tmp / "ray.log").read_text()[-4000:] if (tmp / "ray.log").exists() else ""
        pytest.fail(f"serve_local failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{log}")
    return LocalRun(
        base_url=f"http://{HOST}:{PORTS.serve}",
        dashboard_url=f"http://{HOST}:{PORTS.dashboard}",
        metrics_url=f"http://{HOST}:{PORTS.metrics}/metrics",
        env=env,
        head_pid=int((tmp / "ray.pid").read_text()),
        state_dir=tmp,
        values_files=tuple(values),
        set_values=tuple(sets),
    )
