"""The shared local run stopped by `tools/serve_local.py --stop`: nothing of it is left behind.

Runs after every other test on the shared run (tests/conftest.py: SHARED_RUN_ORDER).
"""

from __future__ import annotations

import dataclasses

import psutil


class TestShutdown:
    def test_should_leave_no_ray_process_when_stopped(self, local_run):
        procs = local_run.processes()
        result = local_run.stop()
        assert result.returncode == 0, result.stderr
        assert "stopped local Ray" in result.stdout
        _, alive = psutil.wait_procs(procs, timeout=30)
        assert alive == []
        listening_ports = {
            c.laddr.port for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN
        }
        assert not listening_ports & set(dataclasses.astuple(local_run.ports))
