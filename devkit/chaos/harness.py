"""One fault under load: start the load, wait for streams in flight, inject, watch recovery, judge.

The timeline of `run_fault`: load on both models until each answered once (the baseline), then the
fault while `tiny` streams are mid-body, then load until `tiny` answers again (or the recovery
window closes), then the clients finish their last request (each bounded by the idle bound). The
fault's undo (SIGCONT, orphaned vLLM processes) runs in a `finally`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from devkit.chaos import faults, head
from devkit.chaos.classify import VERDICTS, Attempt, classify
from devkit.chaos.load import ClientSpec, LoadBounds, client_loop, http_client
from devkit.local_ray import LocalRay
from serve_app.config import llm_deployment_name

MODEL, OTHER_MODEL = "tiny", "tiny-b"
DEPLOYMENT = llm_deployment_name(MODEL)
# Two replicas of `tiny` on two worker nodes of the `gpu` group; a spare node joins before a node fault.
NODES_OVERLAY = "values/local-cpu-nodes.yaml"
NODE_DRAIN_DEADLINE_S = 120.0  # a spot interruption's two minutes
# The head runs no replica; the models and the gateway run on two worker nodes, each with a proxy.
HEAD_OVERLAY = "values/local-cpu-gcs-ft.yaml"
HEAD_RESTART_AFTER_S = 10.0  # the kubelet restarts a crashed container within seconds


def first_worker_proxy(ray: LocalRay) -> str:
    """The Serve proxy of the first worker node: a client of the cluster reaches the proxies of the
    pods that are up (the Service), and this one outlives the head."""
    return ray.proxy_url(sorted(ray.worker_pids())[0])


@dataclass(frozen=True)
class Fault:
    name: str
    summary: str
    inject: Callable[[LocalRay], faults.Injected]
    overlay: str = ""  # a values file on top of values/local-cpu.yaml that the fault needs
    prepare: Callable[[LocalRay], object] | None = None  # run before the load starts
    undo_after_s: float | None = None  # run the undo this long after the fault (a stall's SIGCONT)
    set_values: tuple[str, ...] = ()  # --set values of the fault's run
    load_url: Callable[[LocalRay], str] | None = None  # where the load goes (default: the head's proxy)


FAULTS = {
    f.name: f
    for f in (
        Fault(
            "replica-kill",
            f"SIGKILL the worker of {DEPLOYMENT}",
            lambda r: faults.kill_replica(r, DEPLOYMENT),
        ),
        Fault(
            "engine-kill",
            f"SIGKILL {faults.ENGINE_CORE} of {DEPLOYMENT}",
            lambda r: faults.kill_engine(r, DEPLOYMENT),
        ),
        Fault(
            "engine-stall",
            f"SIGSTOP {faults.ENGINE_CORE} of {DEPLOYMENT}, SIGCONT after 90 s",
            lambda r: faults.stall_engine(r, DEPLOYMENT),
            undo_after_s=90.0,
        ),
        Fault(
            "gateway-kill",
            "SIGKILL one of two OpenAiGateway replicas",
            lambda r: faults.kill_replica(r, faults.GATEWAY),
            overlay="values/local-cpu-chaos.yaml",
        ),
        Fault(
            "node-drain",
            f"drain the worker node of a {DEPLOYMENT} replica (the chart's preStop), then stop it",
            lambda r: faults.drain_node(r, DEPLOYMENT, NODE_DRAIN_DEADLINE_S),
            overlay=NODES_OVERLAY,
            prepare=faults.add_spare_node,
        ),
        Fault(
            "node-kill",
            f"SIGKILL every process of the worker node of a {DEPLOYMENT} replica",
            lambda r: faults.kill_node(r, DEPLOYMENT),
            overlay=NODES_OVERLAY,
            prepare=faults.add_spare_node,
        ),
        Fault(
            "head-kill",
            f"SIGKILL every process of the head (GCS in Redis), restart it after {HEAD_RESTART_AFTER_S:g} s",
            head.head_fault(MODEL),
            overlay=HEAD_OVERLAY,
            undo_after_s=HEAD_RESTART_AFTER_S,
            load_url=first_worker_proxy,
        ),
        Fault(
            "head-kill-no-ft",
            f"the same without GCS fault tolerance (no Redis), restart it after {HEAD_RESTART_AFTER_S:g} s",
            head.head_fault(MODEL),
            overlay=HEAD_OVERLAY,
            undo_after_s=HEAD_RESTART_AFTER_S,
            set_values=("gcsFaultTolerance.enabled=false",),
            load_url=first_worker_proxy,
        ),
    )
}


@dataclass(frozen=True)
class Plan:
    """The load around a fault; every wait has a bound."""

    clients: tuple[ClientSpec, ...] = (
        ClientSpec(MODEL, stream=True, count=6),
        ClientSpec(MODEL, stream=False, count=2),
        ClientSpec(OTHER_MODEL, stream=True, count=2),
    )
    bounds: LoadBounds = field(default_factory=LoadBounds)
    baseline_timeout_s: float = 120.0
    in_flight_timeout_s: float = 20.0
    recovery_window_s: float = 300.0
    settle_s: float = 5.0  # load kept on after recovery, so late failures are seen too


@dataclass
class FaultResult:
    fault: str
    target: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    fault_at: float = 0.0
    in_flight_at_fault: int = 0
    recovered_s: float | None = None  # None: `tiny` did not answer again within the window
    # Seconds until the replica the fault hit (or whose engine it hit) ended; recovered_s minus this
    # is the replacement's start. None: not ended within the window; "-": the fault hit no replica.
    replica_ended_s: float | str | None = "-"
    note: str = ""
    injected_at: float = 0.0  # wall clock, for what Prometheus saw (fault_at is monotonic)
    alerts: dict[str, dict[str, float | None]] = field(default_factory=dict)  # devkit.chaos.alerts
    measured: dict[str, object] = field(default_factory=dict)  # the fault's own (a head restart)

    def counts(self, model: str | None = None) -> dict[str, int]:
        picked = [a for a in self.attempts if model is None or a.model == model]
        verdicts = [classify(a) for a in picked]
        return {"requests": len(picked), **{v: verdicts.count(v) for v in VERDICTS}}

    def summary(self) -> dict:
        other = self.counts(OTHER_MODEL)
        gap = longest_gap(self.attempts, MODEL, self.fault_at) if self.fault_at else None
        return {
            "fault": self.fault,
            **self.counts(),
            "replica_ended_s": (
                round(self.replica_ended_s, 1)
                if isinstance(self.replica_ended_s, float)
                else self.replica_ended_s
            ),
            "recovered_s": None if self.recovered_s is None else round(self.recovered_s, 1),
            "longest_gap_s": None if gap is None else round(gap, 1),
            "other_model_errors": other["requests"] - other["ok"],
            "in_flight_at_fault": self.in_flight_at_fault,
            "alerts": self.alerts,
            "measured": self.measured,
            "note": self.note,
        }

    def to_json(self) -> dict:
        return {
            **self.summary(),
            "target": self.target,
            "by_model": {m: self.counts(m) for m in (MODEL, OTHER_MODEL)},
            "attempts": [
                {
                    **a.to_json(),
                    "started": round(a.started - self.fault_at, 3),
                    "ended": round(a.ended - self.fault_at, 3),
                }
                for a in self.attempts
            ],
        }


def longest_gap(attempts: list[Attempt], model: str, since: float) -> float | None:
    """The longest time from `since` on during which no request to `model` completed fine: how long
    its clients saw nothing but failures (or waits). None when none completed fine after `since`."""
    ends = sorted(a.ended for a in attempts if a.model == model and a.ended >= since and classify(a) == "ok")
    return max(b - a for a, b in zip([since, *ends], ends, strict=False)) if ends else None


def first_answer_after(attempts: list[Attempt], model: str, since: float) -> float | None:
    """Seconds from `since` until a request to `model` sent after it completed fine."""
    ends = [
        a.ended
        for a in attempts
        if a.model == model and a.started >= since and a.ended and classify(a) == "ok"
    ]
    return min(ends) - since if ends else None


async def _until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval_s)
    return predicate()


def _streams_mid_body(attempts: list[Attempt]) -> list[Attempt]:
    return [a for a in attempts if a.model == MODEL and a.stream and not a.ended and a.first_byte]


async def _replica_end(result: FaultResult, pid: int, interval_s: float = 0.2) -> None:
    """Sets result.replica_ended_s once the process `pid` has ended (None until then)."""
    result.replica_ended_s = None
    while not faults.ended(pid):
        await asyncio.sleep(interval_s)
    result.replica_ended_s = time.monotonic() - result.fault_at


async def run_fault(ray: LocalRay, base_url: str, fault: Fault, plan: Plan, log=print) -> FaultResult:
    """The fault under load; the load's clients are all finished or cancelled when it returns."""
    result = FaultResult(fault.name)
    if fault.prepare is not None:
        await asyncio.to_thread(fault.prepare, ray)
    stop = asyncio.Event()
    connections = sum(c.count for c in plan.clients)
    injected: faults.Injected | None = None
    watch: asyncio.Task | None = None
    async with http_client(base_url, plan.bounds, connections) as client:
        tasks = [
            asyncio.create_task(client_loop(client, spec, plan.bounds, stop, result.attempts))
            for spec in plan.clients
            for _ in range(spec.count)
        ]
        try:
            answered = await _until(
                lambda: all(
                    first_answer_after(result.attempts, m, 0) is not None for m in (MODEL, OTHER_MODEL)
                ),
                plan.baseline_timeout_s,
                0.5,
            )
            if not answered:
                result.note = "no baseline: a model did not answer before the fault"
                return result
            # Streams that already sent bytes: the case where a client is left mid-answer.
            wanted = max(1, plan.clients[0].count // 2)
            await _until(lambda: len(_streams_mid_body(result.attempts)) >= wanted, plan.in_flight_timeout_s)
            result.in_flight_at_fault = sum(1 for a in result.attempts if a.model == MODEL and not a.ended)
            injected = await asyncio.to_thread(fault.inject, ray)
            result.fault_at, result.injected_at = time.monotonic(), time.time()
            result.target = f"{injected.target} pid {injected.pids}"
            log(f"[{fault.name}] injected: {result.target}, {result.in_flight_at_fault} requests in flight")
            result.measured = injected.measured
            if injected.replica_pid is not None:
                watch = asyncio.create_task(_replica_end(result, injected.replica_pid))
            if fault.undo_after_s is not None:
                await asyncio.sleep(fault.undo_after_s)
                # In a thread: a head restart takes a while, and the load goes on meanwhile.
                await asyncio.to_thread(injected.cleanup)
                log(f"[{fault.name}] undone after {fault.undo_after_s:g} s: {injected.measured or 'done'}")
            await _until(
                lambda: first_answer_after(result.attempts, MODEL, result.fault_at) is not None,
                plan.recovery_window_s,
                0.5,
            )
            result.recovered_s = first_answer_after(result.attempts, MODEL, result.fault_at)
            await asyncio.sleep(plan.settle_s)
        finally:
            stop.set()
            if watch is not None:
                watch.cancel()
            _, pending = await asyncio.wait(tasks, timeout=plan.bounds.idle_bound_s + 10)
            for task in pending:
                task.cancel()
            if injected is not None:
                await asyncio.to_thread(injected.cleanup)
    return result
