"""The replica-kill fault on `make serve`'s local run: every request ends with an answer or a clean error.

One short bounded run of `devkit.chaos` (the harness behind `tools/chaos.py`) on the session's shared
local run, late in its life (tests/conftest.py: SHARED_RUN_ORDER); Serve replaces the replica. Only
the verdicts are asserted; how fast the model answers again depends on the machine and belongs in the
chaos report. Beside the load, `/healthz` is read every second: the API reports not ready while the
model has no replica, and ready again once Serve runs a new one.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass

import httpx
import pytest

from devkit.chaos.harness import DEPLOYMENT, FAULTS, OTHER_MODEL, FaultResult, Plan, run_fault
from devkit.chaos.load import ClientSpec, LoadBounds
from devkit.local_run import LocalRun

PLAN = Plan(
    clients=(
        ClientSpec("tiny", stream=True, count=4),
        ClientSpec("tiny", stream=False, count=1),
        ClientSpec(OTHER_MODEL, stream=True, count=1),
    ),
    bounds=LoadBounds(max_tokens=48, idle_bound_s=90.0, max_requests_per_client=300),
    recovery_window_s=600.0,
    settle_s=2.0,
)


READY_AGAIN_TIMEOUT_S = 300.0  # Serve marks the deployment healthy shortly after the replica answers


@dataclass(frozen=True)
class Observed:
    result: FaultResult
    readiness: list[int]  # /healthz status codes, one a second from before the fault on (0: no answer)
    replica_before: str
    replica_after: str


def running_replica(run: LocalRun) -> str:
    replicas = run.ray.applications()["llm"]["deployments"][DEPLOYMENT]["replicas"]
    [replica_id] = [r["replica_id"] for r in replicas if r["state"] == "RUNNING"]
    return replica_id


@pytest.fixture(scope="module")
def replica_kill(local_run: LocalRun) -> Observed:
    before = running_replica(local_run)
    readiness: list[int] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(1):
            try:
                readiness.append(httpx.get(f"{local_run.base_url}/healthz", timeout=10).status_code)
            except httpx.TransportError:
                readiness.append(0)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        result = asyncio.run(run_fault(local_run.ray, local_run.base_url, FAULTS["replica-kill"], PLAN))
        deadline = time.monotonic() + READY_AGAIN_TIMEOUT_S
        while time.monotonic() < deadline and readiness[-1:] != [200]:
            time.sleep(1)
    finally:
        stop.set()
        poller.join(timeout=15)
    return Observed(result, readiness, before, running_replica(local_run))


class TestReplicaKill:
    def test_should_hit_requests_in_flight_when_the_replica_is_killed(self, replica_kill: Observed) -> None:
        assert replica_kill.result.note == ""
        assert replica_kill.result.in_flight_at_fault >= 1
        assert replica_kill.result.counts()["clean"] >= 1, replica_kill.result.summary()

    def test_should_leave_no_request_hung_when_the_replica_dies(self, replica_kill: Observed) -> None:
        assert replica_kill.result.counts()["hung"] == 0, replica_kill.result.summary()

    def test_should_end_no_request_dirty_when_the_replica_dies(self, replica_kill: Observed) -> None:
        dirty = [a.to_json() for a in replica_kill.result.attempts if a.to_json()["verdict"] == "dirty"]
        assert dirty == []

    def test_should_keep_the_other_model_answering_when_one_model_loses_its_replica(
        self, replica_kill: Observed
    ) -> None:
        result = replica_kill.result
        assert result.summary()["other_model_errors"] == 0, result.counts(OTHER_MODEL)

    def test_should_report_not_ready_until_a_new_replica_runs_when_the_model_lost_its_replica(
        self, replica_kill: Observed
    ) -> None:
        assert 503 in replica_kill.readiness, replica_kill.readiness
        assert replica_kill.readiness[-1] == 200, replica_kill.readiness

    def test_should_run_a_new_replica_when_the_old_one_was_killed(self, replica_kill: Observed) -> None:
        assert replica_kill.replica_after != replica_kill.replica_before
