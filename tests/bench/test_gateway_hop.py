"""The gateway hop's measurement loops and analysis, with stand-in calls instead of a cluster."""

from __future__ import annotations

import asyncio
import random
from types import SimpleNamespace

import pytest

from bench.gateway_hop import (
    DIRECT,
    GATEWAY_HANDLE,
    GATEWAY_HTTP,
    analyse,
    closed_loop_rps,
    cpu_ms_per_request,
    latencies_ms,
)


class Recorder:
    """Stand-in arms: each call records its arm and takes `delay_s`."""

    def __init__(self, delays: dict[str, float]) -> None:
        self.calls: list[str] = []
        self.delays = delays

    def arms(self) -> dict:
        def make(name: str):
            async def call() -> None:
                self.calls.append(name)
                await asyncio.sleep(self.delays[name])

            return call

        return {name: make(name) for name in self.delays}


class TestLatencies:
    def test_should_time_every_arm_equally_when_interleaved_after_warmup(self):
        recorder = Recorder({"a": 0.0, "b": 0.01})
        samples = asyncio.run(latencies_ms(recorder.arms(), per_arm=5, warmup=2, rng=random.Random(3)))
        assert len(recorder.calls) == 14  # 2 warm-up rounds, then 5 timed rounds of both arms
        assert [len(samples["a"]), len(samples["b"])] == [5, 5]
        assert min(samples["b"]) >= 10
        assert max(samples["a"]) < min(samples["b"])


class TestClosedLoopRps:
    def test_should_count_completions_over_the_whole_time_when_callers_drain(self):
        recorder = Recorder({"a": 0.05})
        rps = asyncio.run(closed_loop_rps(recorder.arms()["a"], concurrency=4, window_s=0.2))
        assert len(recorder.calls) in range(16, 21)
        assert rps == pytest.approx(80, rel=0.25)  # 4 callers, 20 requests/s each


class FakeProcess:
    """Stand-in for psutil.Process: `spend` adds CPU seconds, split between user and system."""

    def __init__(self) -> None:
        self.user = self.system = 0.0

    def spend(self, seconds: float) -> None:
        self.user += seconds * 0.75
        self.system += seconds * 0.25

    def cpu_times(self) -> SimpleNamespace:
        return SimpleNamespace(user=self.user, system=self.system)


class TestCpuPerRequest:
    def test_should_charge_each_process_to_the_arm_that_made_it_work_when_arms_alternate(self):
        proxy, replica = FakeProcess(), FakeProcess()

        async def direct() -> None:
            replica.spend(0.001)

        async def http() -> None:
            proxy.spend(0.002)
            replica.spend(0.001)

        cpu = asyncio.run(
            cpu_ms_per_request(
                {DIRECT: direct, GATEWAY_HTTP: http}, {"proxy": proxy, "replica": replica},
                per_arm=5, rounds=3, rng=random.Random(1),
            )
        )  # fmt: skip
        assert cpu == {
            DIRECT: {"proxy": 0.0, "replica": pytest.approx(1.0)},
            GATEWAY_HTTP: {"proxy": pytest.approx(2.0), "replica": pytest.approx(1.0)},
        }
        assert replica.user + replica.system == pytest.approx(0.030)  # 15 requests per arm


class TestAnalyse:
    def test_should_relate_each_arm_to_the_direct_call_when_summarising(self):
        raw = {
            "latency_samples_ms": {
                DIRECT: [1.0, 2.0, 3.0],
                GATEWAY_HANDLE: [2.0, 3.0, 4.0],
                GATEWAY_HTTP: [4.0, 5, 6],
            },
            "rps_windows": {
                DIRECT: [100.0, 110, 120],
                GATEWAY_HANDLE: [90.0, 90, 90],
                GATEWAY_HTTP: [55.0, 50, 60],
            },
            "cpu_ms_per_request": {
                DIRECT: {"proxy": 0.0, "replica": 1.5},
                GATEWAY_HTTP: {"proxy": 2.25, "replica": 1.5},
            },
        }
        found = analyse(raw)
        assert found["added_latency_ms"] == {
            GATEWAY_HANDLE: {"p50": 1.0, "p99": 1.0},
            GATEWAY_HTTP: {"p50": 3.0, "p99": 3.0},
        }
        assert found["rps_ratio_to_direct"] == {
            GATEWAY_HANDLE: pytest.approx(90 / 110, abs=1e-4),
            GATEWAY_HTTP: 0.5,
        }
        assert found["max_rps"][DIRECT]["p50"] == 110
        assert found["cpu_ms_per_request"][GATEWAY_HTTP] == {"proxy": 2.25, "replica": 1.5, "total": 3.75}
