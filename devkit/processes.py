"""The local run's processes by the titles Ray and vLLM give them: Ray sets argv[0] of an actor's
worker to `ray::<actor>` (`.<method>` appended while a task runs), vLLM its engine's to
`VLLM::EngineCore`. Used by the chaos faults and the benchmarks. And the one way a dev server is
stopped (`terminate`): the local Ray, the standalone vLLM, Redis and the S3 server."""

from __future__ import annotations

import contextlib
import time

import psutil

ENGINE_CORE = "VLLM::EngineCore"
SPAWNED = "from multiprocessing.spawn import spawn_main"  # a spawned child's `python -c` argument


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


def is_vllm_process(proc: psutil.Process, parent: psutil.Process, name: str) -> bool:
    """Titled `name` by vLLM, or the process `multiprocessing` spawned right under `parent`.
    setproctitle silently sets no title at all when the process's first environment variable was
    changed before it ran (it finds argv from there), and which variable comes first varies from
    run to run: once in a clean-clone run the engine and its worker kept the interpreter's argv."""
    if has_title(proc, name):
        return True
    with contextlib.suppress(psutil.Error):
        return proc.ppid() == parent.pid and any(SPAWNED in arg for arg in proc.cmdline())
    return False


def is_engine_core(proc: psutil.Process, server: psutil.Process) -> bool:
    """vLLM's engine core under a server (an LLMServer replica or vLLM's API server)."""
    return is_vllm_process(proc, server, ENGINE_CORE)


def engine_cores(server: psutil.Process) -> list[psutil.Process]:
    """The vLLM engine-core processes under a server (an LLMServer replica or vLLM's API server)."""
    return [p for p in descendants(server) if is_engine_core(p, server)]


def engine_core(server: psutil.Process, timeout_s: float = 120) -> psutil.Process:
    """The one engine core under a server, waited for: a replica Serve has just started or replaced
    spawns it late."""
    deadline = time.monotonic() + timeout_s
    while True:
        cores = engine_cores(server)
        if len(cores) == 1:
            return cores[0]
        if time.monotonic() > deadline:
            found = [(p.pid, title(p)) for p in descendants(server)]
            raise LookupError(f"expected one {ENGINE_CORE} under pid {server.pid}, found: {found}")
        time.sleep(1)


def terminate(procs: list[psutil.Process], timeout_s: float) -> None:
    """SIGTERM, then SIGKILL what is left after `timeout_s`."""
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout_s)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=10)
