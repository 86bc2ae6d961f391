"""`python -m loadtest.autoscale --start-local` (`make loadtest-autoscale`): the local run it starts is
`make serve`'s (devkit.local_run, proven by tests/e2e); here, that a run which cannot start ends the
check at once with the reason and exit code 2, starting nothing."""

from __future__ import annotations

import os
import subprocess
import sys

from devkit import REPO
from devkit.local_ray import LocalRay, Ports


class TestStartLocal:
    def test_should_exit_2_with_the_reason_when_the_local_run_cannot_start(self, tmp_path):
        ports, missing = Ports.free(), tmp_path / "missing.yaml"
        proc = subprocess.run(
            [sys.executable, "-m", "loadtest.autoscale", "--start-local", "-f", "values/local-cpu.yaml",
             "-f", str(missing), "--out", str(tmp_path / "out")],
            cwd=REPO, env={**os.environ, **ports.as_env(), "RAY_VLLM_STATE_DIR": str(tmp_path / "state")},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert f"no such values file: {missing}" in proc.stderr and "Traceback" not in proc.stderr
        assert LocalRay(ports, tmp_path / "state").running_pid() is None
        assert not (tmp_path / "out").exists()
