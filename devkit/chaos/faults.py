"""The faults: which process of the local run each one hits, and how.

Processes are found by the title Ray and vLLM give them (`ray::ServeReplica:<app>:<deployment>`,
`VLLM::EngineCore`), only among the local run's own process tree. Each fault returns an undo that
the harness runs in a `finally`: a stopped process gets SIGCONT, and vLLM processes orphaned by a
killed replica (they outlive their parent and leave the run's tree) are killed by pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

from devkit.local_ray import HOST, LocalRay, process_tree
from devkit.processes import ENGINE_CORE, descendants, engine_cores, has_title

LLM_APP = "llm"
GATEWAY = "OpenAiGateway"


class FaultTargetMissing(RuntimeError):
    """The process a fault should hit is not in the local run's tree."""


def replica_title(deployment: str, app: str = LLM_APP) -> str:
    return f"ray::ServeReplica:{app}:{deployment}"


def replicas(ray: LocalRay, deployment: str, app: str = LLM_APP) -> list[psutil.Process]:
    name = replica_title(deployment, app)
    return sorted((p for p in ray.processes() if has_title(p, name)), key=lambda p: p.pid)


def kill_all(procs: list[psutil.Process]) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(procs, timeout=10)


@dataclass
class Injected:
    """What a fault hit, and how to undo what it left behind."""

    target: str
    pids: list[int]
    undo: list[Callable[[], None]] = field(default_factory=list)
    measured: dict[str, object] = field(default_factory=dict)  # what the undo saw (a head restart)
    replica_pid: int | None = None  # the replica process the fault hit or lives under: watched for its end

    def cleanup(self) -> None:
        for step in self.undo:
            with contextlib.suppress(Exception):
                step()


def _one(procs: list[psutil.Process], what: str) -> psutil.Process:
    if not procs:
        raise FaultTargetMissing(f"no {what} process in the local run")
    return procs[0]


def kill_replica(ray: LocalRay, deployment: str) -> Injected:
    """SIGKILL the worker process hosting a replica of `deployment` (fault a; d with the gateway)."""
    replica = _one(replicas(ray, deployment), replica_title(deployment))
    orphans = descendants(replica)  # vLLM's engine processes outlive the replica
    os.kill(replica.pid, signal.SIGKILL)
    return Injected(
        replica_title(deployment), [replica.pid], [lambda: kill_all(orphans)], replica_pid=replica.pid
    )


def kill_engine(ray: LocalRay, deployment: str) -> Injected:
    """SIGKILL the vLLM engine-core process of a replica; the replica's actor stays alive (fault b)."""
    replica = _one(replicas(ray, deployment), replica_title(deployment))
    engine = _one(engine_cores(replica), f"{ENGINE_CORE} under {replica_title(deployment)}")
    workers = descendants(engine)
    os.kill(engine.pid, signal.SIGKILL)
    return Injected(ENGINE_CORE, [engine.pid], [lambda: kill_all(workers)], replica_pid=replica.pid)


def stall_engine(ray: LocalRay, deployment: str) -> Injected:
    """SIGSTOP the engine core (and its workers); the undo sends SIGCONT (fault c)."""
    replica = _one(replicas(ray, deployment), replica_title(deployment))
    engine = _one(engine_cores(replica), f"{ENGINE_CORE} under {replica_title(deployment)}")
    stopped = [engine, *descendants(engine)]
    for proc in stopped:
        proc.send_signal(signal.SIGSTOP)

    def resume() -> None:
        for proc in stopped:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGCONT)

    return Injected(ENGINE_CORE, [p.pid for p in stopped], [resume], replica_pid=replica.pid)


def ended(pid: int) -> bool:
    """Whether the process is gone (or a zombie: dead, not yet reaped)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_for(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


def worker_hosting(ray: LocalRay, deployment: str) -> str:
    """The first worker node (by name) whose process tree holds a replica of `deployment`."""
    hosted = {p.pid for p in replicas(ray, deployment)}
    for name, pid in sorted(ray.worker_pids().items()):
        if hosted & {p.pid for p in process_tree(pid)}:
            return name
    raise FaultTargetMissing(f"no worker node of the local run holds {replica_title(deployment)}")


def add_spare_node(ray: LocalRay) -> str:
    """One more node of the first worker node's group, idle: the node Karpenter brings up for the
    replacement replica. Joined before the load starts: under load a joining raylet can miss the 30 s
    Ray gives it to register."""
    names = sorted(ray.worker_pids())
    if not names:
        raise FaultTargetMissing("the local run has no worker node (values/local-cpu-nodes.yaml)")
    node = ray.worker_node(names[0])
    index = len(list(ray.nodes_dir.glob("*.json")))
    return ray.start_worker(f"{node['group']}-{index}", node["group"], node["num_cpus"])


def drain_node(ray: LocalRay, deployment: str, deadline_s: float) -> Injected:
    """The preStop of a preempted worker pod (`python -m serve_app.node_drain`, as the chart runs it)
    on the node hosting a replica of `deployment`, then the node's end (its processes stopped)."""
    name = worker_hosting(ray, deployment)
    node_id, pid = ray.worker_node(name)["node_id"], ray.worker_pids()[name]
    drained = subprocess.run(
        [sys.executable, "-m", "serve_app.node_drain", "--address", f"{HOST}:{ray.ports.gcs}",
         "--node-id", node_id, "--deadline-s", str(deadline_s)],
        env=ray.environment(), capture_output=True, text=True, timeout=deadline_s + 60,
    )  # fmt: skip
    ray.stop_worker(name)  # the pod's end; Ray may have ended the emptied node already
    outcome = (drained.stdout.strip().splitlines() or [drained.stderr.strip()[-300:]])[-1]
    return Injected(f"worker node {name} (drain exit {drained.returncode}: {outcome})", [pid])


def kill_node(ray: LocalRay, deployment: str) -> Injected:
    """SIGKILL every process of the worker node hosting a replica of `deployment`: a node lost
    without notice (hardware failure, a spot reclaim the drain did not cover)."""
    name = worker_hosting(ray, deployment)
    pid = ray.worker_pids()[name]
    ray.stop_worker(name, kill=True)
    return Injected(f"worker node {name}", [pid])
