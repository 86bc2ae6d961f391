"""The local run's processes by the titles Ray and vLLM give them: Ray sets argv[0] of an actor's
worker to `ray::<actor>` (`.<method>` appended while a task runs), vLLM its engine's to
`VLLM::EngineCore`. Used by the chaos faults and the benchmarks."""

from __future__ import annotations

import contextlib
import time

import psutil

ENGINE_CORE = "VLLM::EngineCore"


def title(proc: psutil.Process) -> str:
    """The process title (argv[0], else the name); empty once the process has gone."""
    with contextlib.suppress(psutil.Error):
        cmdline = proc.cmdline()
        return cmdline[0] if cmdline else proc.name()
    return ""


def has_title(proc: psutil.Process, name: str) -> bool:
    """Exactly `name`, or `name.<method>` while an actor task runs: `...:tiny` must not match `...:tiny-b`."""
    found = title(proc).strip()
    return found == name or found.startswith(f"{name}.")


def descendants(proc: psutil.Process) -> list[psutil.Process]:
    with contextlib.suppress(psutil.NoSuchProcess):
        return proc.children(recursive=True)
    return []


def engine_cores(server: psutil.Process) -> list[psutil.Process]:
    """The vLLM engine-core processes under a server (an LLMServer replica or vLLM's API server)."""
    return [p for p in descendants(server) if has_title(p, ENGINE_CORE)]


def engine_core(server: psutil.Process, timeout_s: float = 120) -> psutil.Process:
    """The one engine core under a server, waited for: a replica Serve has just started or replaced
    spawns it late, and it takes its title only once it has imported vLLM."""
    deadline = time.monotonic() + timeout_s
    while True:
        cores = engine_cores(server)
        if len(cores) == 1:
            return cores[0]
        if time.monotonic() > deadline:
            found = [(p.pid, title(p)) for p in descendants(server)]
            raise LookupError(f"expected one {ENGINE_CORE} under pid {server.pid}, found: {found}")
        time.sleep(1)
