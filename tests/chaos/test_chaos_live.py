"""The replica-kill fault on `make serve`'s local run: every request ends with an answer or a clean error.

One short bounded run of `devkit.chaos` (the harness behind `tools/chaos.py`) on the session's shared
local run, late in its life (tests/conftest.py: SHARED_RUN_ORDER); Serve replaces the replica. Only
the verdicts are asserted; how fast the model answers again depends on the machine and belongs in the
chaos report.
"""

from __future__ import annotations

import asyncio

import pytest

from devkit.chaos.harness import FAULTS, OTHER_MODEL, FaultResult, Plan, run_fault
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


@pytest.fixture(scope="module")
def replica_kill(local_run: LocalRun) -> FaultResult:
    return asyncio.run(run_fault(local_run.ray, local_run.base_url, FAULTS["replica-kill"], PLAN))


class TestReplicaKill:
    def test_should_hit_requests_in_flight_when_the_replica_is_killed(
        self, replica_kill: FaultResult
    ) -> None:
        assert replica_kill.note == ""
        assert replica_kill.in_flight_at_fault >= 1
        assert replica_kill.counts()["clean"] >= 1, replica_kill.summary()

    def test_should_leave_no_request_hung_when_the_replica_dies(self, replica_kill: FaultResult) -> None:
        assert replica_kill.counts()["hung"] == 0, replica_kill.summary()

    def test_should_end_no_request_dirty_when_the_replica_dies(self, replica_kill: FaultResult) -> None:
        dirty = [a.to_json() for a in replica_kill.attempts if a.to_json()["verdict"] == "dirty"]
        assert dirty == []

    def test_should_keep_the_other_model_answering_when_one_model_loses_its_replica(
        self, replica_kill: FaultResult
    ) -> None:
        assert replica_kill.summary()["other_model_errors"] == 0, replica_kill.counts(OTHER_MODEL)
