"""A head restart with GCS fault tolerance against a real Ray head, worker node and redis-server on
127.0.0.1: the head's processes are killed and started again the way the kubelet restarts its
container, and the GCS comes back with the cluster it had (the worker node reconnects under its
own id). Under load, with Serve on it, it runs in `make chaos` (head-kill, head-kill-no-ft)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psutil
import pytest

from devkit.local_ray import NAMESPACE_ENV, REDIS_ADDRESS_ENV, LocalRay, Ports
from devkit.loopback import off_loopback
from devkit.redis import call

pytestmark = [pytest.mark.live, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[tuple[LocalRay, str]]:
    ports = Ports.free()
    env = {REDIS_ADDRESS_ENV: f"127.0.0.1:{ports.redis}", NAMESPACE_ENV: "head-restart-test"}
    ray = LocalRay(ports, tmp_path_factory.mktemp("head"), env=env)
    ray.start(num_cpus=0)
    try:
        yield ray, ray.start_worker("gpu-0", "gpu", 1)
    finally:
        ray.stop(timeout_s=5)  # what the kill left behind need not be waited for gracefully


def states_once(ray: LocalRay, wanted: dict[str, str], timeout_s: float = 120) -> dict[str, str]:
    """The GCS's node table once it shows `wanted` (node id: state), or when `timeout_s` has passed."""
    deadline = time.monotonic() + timeout_s
    while wanted.items() - (states := ray.node_states()).items() and time.monotonic() < deadline:
        time.sleep(1)
    return states


class TestHeadRestart:
    def test_should_keep_ray_state_in_the_password_protected_redis_when_fault_tolerant(self, cluster):
        ray, _ = cluster
        assert call(ray.ports.redis, "", "PING").startswith("-NOAUTH")
        keys = call(ray.ports.redis, ray.redis.password(), "KEYS", "*head-restart-test*")
        assert keys.startswith("*") and keys != "*0"  # an array holding the GCS's tables
        assert off_loopback(ray.processes()) == []

    def test_should_give_the_worker_node_the_longer_reconnect_window_when_fault_tolerant(self, cluster):
        ray, _ = cluster
        worker_env = psutil.Process(ray.worker_pids()["gpu-0"]).environ()
        assert worker_env["RAY_gcs_rpc_server_reconnect_timeout_s"] == "600"
        assert REDIS_ADDRESS_ENV not in worker_env

    def test_should_find_the_worker_node_alive_under_its_own_id_when_the_head_restarts(self, cluster):
        ray, node = cluster
        (old_head,) = set(ray.node_states()) - {node}
        spec = ray.kill_head()
        assert ray.running_pid() is None and "gpu-0" in ray.worker_pids()  # the worker node outlives it
        assert ray.restart_head(spec) >= 1
        # One cluster: the recovered table has the worker node under its id and the old head, now DEAD.
        states = states_once(ray, {node: "ALIVE", old_head: "DEAD"})
        assert (states[node], states[old_head]) == ("ALIVE", "DEAD")
        assert list(states.values()).count("ALIVE") == 2  # the worker node and the new head
