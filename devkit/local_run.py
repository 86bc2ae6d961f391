"""`make serve`'s local run in the background: `tools/serve_local.py --detach`, later `--stop`.

The e2e tests, the benchmarks and the autoscaling check (`loadtest.autoscale --start-local`) start
and stop the local run through this, so each runs exactly what a user's `make serve` runs.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from devkit.local_ray import HOST, REPO, LocalRay, Ports
from devkit.standalone import StandaloneRun

SERVE_LOCAL = REPO / "tools" / "serve_local.py"


class LocalRunFailed(RuntimeError):
    """serve_local.py could not bring the local run up; the message has its output and Ray's log."""


@dataclass(frozen=True)
class LocalRun:
    """One detached local run: its ports, its state directory (pid file, token, log) and its values."""

    ports: Ports
    state_dir: Path
    values_files: tuple[str, ...] = ("values/local-cpu.yaml",)
    set_values: tuple[str, ...] = ()
    extra_env: Mapping[str, str] = field(default_factory=dict)  # reaches every Ray process

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.ports.as_env(),
            "RAY_VLLM_STATE_DIR": str(self.state_dir),
            **self.extra_env,
        }

    @property
    def ray(self) -> LocalRay:
        return LocalRay(self.ports, self.state_dir)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.ports.serve}"

    @property
    def dashboard_url(self) -> str:
        return self.ray.dashboard

    @property
    def metrics_url(self) -> str:
        return self.ray.metrics_url

    @property
    def token(self) -> str:
        """Ray's auth token of this run (token auth is on locally too)."""
        return self.ray.token_file.read_text().strip()

    @property
    def standalone(self) -> StandaloneRun:
        """The vLLM servers of a standalone-mode run (none in rayservice mode)."""
        return StandaloneRun.of(self.state_dir)

    def processes(self) -> list[psutil.Process]:
        return self.ray.processes() + self.standalone.processes()

    def values_args(self) -> list[str]:
        """serve_local.py's -f and --set arguments for this run's values; the run's serve port is where
        either mode answers (in standalone mode vLLM's `--port`, rendered from standalone.port), and
        its Redis port is where GCS fault tolerance finds Redis (when the values turn it on)."""
        sets = (
            *self.set_values,
            f"standalone.port={self.ports.serve}",
            f"gcsFaultTolerance.redisAddress={HOST}:{self.ports.redis}",
        )
        return [a for v in self.values_files for a in ("-f", v)] + [a for s in sets for a in ("--set", s)]

    def start(self, timeout_s: int = 900, quiet: bool = True) -> None:
        """serve_local.py --detach: returns once every application is RUNNING.

        `quiet=False` lets its progress through to this terminal instead of keeping it for the error.
        """
        proc = subprocess.run(
            [sys.executable, str(SERVE_LOCAL), *self.values_args(), "--detach", "--timeout", str(timeout_s)],
            cwd=REPO, env=self.env, capture_output=quiet, text=True, timeout=timeout_s + 180,
        )  # fmt: skip
        if proc.returncode != 0:
            output = f"{proc.stdout}\n{proc.stderr}\n" if quiet else ""
            raise LocalRunFailed(
                f"tools/serve_local.py exited with {proc.returncode}:\n{output}{self.ray.log_tail()}"
            )

    def update(self, values_files: tuple[str, ...], timeout_s: int = 900) -> LocalRun:
        """serve_local.py --update with other values files (and this run's --set values): Serve
        applies what changed while the run keeps serving. The returned run has the new values."""
        updated = dataclasses.replace(self, values_files=values_files)
        args = [*updated.values_args(), "--update", "--timeout", str(timeout_s)]
        proc = subprocess.run(
            [sys.executable, str(SERVE_LOCAL), *args],
            cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout_s + 60,
        )  # fmt: skip
        if proc.returncode != 0:
            raise LocalRunFailed(
                f"tools/serve_local.py --update exited with {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return updated

    def stop(self) -> subprocess.CompletedProcess:
        """serve_local.py --stop: this run's process tree only (the pid file is in its state dir)."""
        return subprocess.run(
            [sys.executable, str(SERVE_LOCAL), "--stop"],
            cwd=REPO, env=self.env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
