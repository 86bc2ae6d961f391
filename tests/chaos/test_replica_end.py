"""When the replica a fault hit ended (devkit.chaos): a real child process stands in for the replica."""

from __future__ import annotations

import asyncio
import subprocess
import time

import psutil

from devkit.chaos import faults
from devkit.chaos.harness import FaultResult, _replica_end
from devkit.chaos.report import markdown


def child() -> subprocess.Popen:
    return subprocess.Popen(["sleep", "60"])


class TestEnded:
    def test_should_find_a_running_process_alive_when_asked(self) -> None:
        proc = child()
        try:
            assert not faults.ended(proc.pid)
        finally:
            proc.kill()
            proc.wait()

    def test_should_find_a_killed_process_ended_when_it_is_not_reaped_yet(self) -> None:
        proc = child()
        proc.kill()
        try:
            # Dead, and a zombie until wait() below reaps it.
            assert faults.wait_for(
                lambda: psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE, 30, 0.05
            )
            assert faults.ended(proc.pid)
        finally:
            proc.wait()

    def test_should_find_a_reaped_process_ended_when_it_is_gone(self) -> None:
        proc = child()
        proc.kill()
        proc.wait()
        assert faults.ended(proc.pid)


class TestReplicaEnd:
    def test_should_note_the_seconds_from_the_fault_when_the_replica_ends(self) -> None:
        proc = child()

        async def scenario() -> FaultResult:
            result = FaultResult("engine-stall", fault_at=time.monotonic())
            watch = asyncio.create_task(_replica_end(result, proc.pid, interval_s=0.05))
            await asyncio.sleep(0.3)
            assert result.replica_ended_s is None  # still running
            proc.kill()
            await asyncio.wait_for(watch, 30)
            return result

        try:
            result = asyncio.run(scenario())
        finally:
            proc.wait()
        assert result.replica_ended_s >= 0.3 and result.summary()["replica_ended_s"] >= 0.3

    def test_should_show_a_dash_when_the_fault_hit_no_replica(self) -> None:
        assert FaultResult("node-kill").summary()["replica_ended_s"] == "-"


class TestReplicaEndColumn:
    def test_should_show_when_the_replica_ended_beside_the_recovery_when_reported(self) -> None:
        row = {"fault": "engine-stall", "requests": 9, "ok": 5, "clean": 4, "dirty": 0, "hung": 0,
               "replica_ended_s": 24.1, "recovered_s": 88.0, "other_model_errors": 0, "alerts": {},
               "measured": {}}  # fmt: skip
        assert "| engine-stall | 9 | 5 | 4 | 0 | 0 | 24.1 | 88.0 | 0 | none |" in markdown([row])
