"""The worker pods' preStop (`python -m serve_app.node_drain`) against a real Ray head and worker node
on 127.0.0.1: the GCS accepts the drain, the hook returns once no Serve replica is on the node, and
Ray then ends the node. Under load, with replicas to move, it runs in `make chaos` (node-drain)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from devkit.local_ray import HOST, LocalRay, Ports
from devkit.loopback import off_loopback

pytestmark = [pytest.mark.live, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[tuple[LocalRay, str]]:
    ray = LocalRay(Ports.free(), tmp_path_factory.mktemp("drain"))
    ray.start(num_cpus=2)
    try:
        yield ray, ray.start_worker("gpu-0", "gpu", 1)
    finally:
        ray.stop()


def python(ray: LocalRay, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], env=ray.environment(), capture_output=True, text=True, timeout=240
    )


def state_after(ray: LocalRay, node: str, timeout_s: float = 60) -> str:
    """The node's state in the GCS once it is DEAD, or when `timeout_s` has passed."""
    deadline = time.monotonic() + timeout_s
    while (state := ray.node_states()[node]) != "DEAD" and time.monotonic() < deadline:
        time.sleep(1)
    return state


class TestNodeDrain:
    def test_should_listen_on_loopback_only_when_a_worker_node_has_joined(self, cluster):
        ray, _ = cluster
        assert len(ray.worker_pids()) == 1
        assert off_loopback(ray.processes()) == []

    def test_should_drain_the_node_and_return_when_no_replica_is_on_it(self, cluster):
        ray, node = cluster
        proc = python(
            ray, "-m", "serve_app.node_drain", "--address", f"{HOST}:{ray.ports.gcs}",
            "--node-id", node, "--deadline-s", "90",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
        assert f"node {node}: draining, deadline in 90 s" in proc.stdout
        assert f"node {node}: no Serve replica left" in proc.stdout
        # Ray ends a drained node once nothing runs on it: in a pod, the container then exits.
        assert state_after(ray, node) == "DEAD"
