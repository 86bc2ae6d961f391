"""A model replica's health check that makes the vLLM engine core answer, so a stalled engine is replaced.

Ray Serve LLM's `LLMServer.check_health` only calls the engine's `check_health`, and vLLM's
`AsyncLLM.check_health` only reads a flag that is set once the engine-core process has died or
raised. An engine core that stops answering without dying (a step that never returns, a wedged
worker, a SIGSTOPped process) reads as healthy forever: Serve keeps routing to the replica and every
request waits for the gateway's idle timeout.

The probe is vLLM's `is_sleeping` utility call (`AsyncLLM.is_sleeping` → `EngineCoreClient.
is_sleeping_async`): one small message over the engine core's input socket, answered by the engine
core's busy loop between two model steps (with data parallelism, by every engine). It reads two
flags there (scheduler paused, executor asleep) and touches neither the workers nor the GPU, so it
neither waits for nor slows running requests; it is answered while the engine sleeps or is paused,
so neither reads as a failure. Its answer proves what a stall breaks: the engine core's loop turns
and its sockets carry messages both ways. (`get_supported_tasks` is cached by `AsyncLLM` after the
first call and would not reach the engine core; `collective_rpc` goes on to the workers; a 1-token
generation would take a batch slot.)

A replica whose engine is dead (vLLM's flag) or silent for the whole limit cannot serve again: it ends
its own process, engine first, and Serve replaces it at once, as after a crash. Serve's own rule (three
failed checks in a row, `healthCheckPeriodS` apart) would leave it in the routing table half a minute
longer, answering every request with an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import NoReturn, Protocol

import psutil

logger = logging.getLogger("ray.serve")

# One health check waits at most this long for the engine core's answer: below the chart's default
# `healthCheckTimeoutS` (30 s), so a stalled engine fails the check with this module's message and not
# with Serve's generic "didn't receive health check response".
ENGINE_PROBE_TIMEOUT_S = 10.0
# The engine core may leave one probe unanswered this long. The checks after a failed one share the
# probe that is still out: a stalled engine fails the first check after 10 s, and the next one ends the
# replica (end_replica) when the probe is 20 s old, 20-30 s after the stall (the first probe goes out
# with the first check after it): Serve then replaces it as after a crash, not after three failed
# checks healthCheckPeriodS apart. A live engine core answers between two model steps (milliseconds;
# a few seconds for a long prefill under load): 20 s of silence is not a busy engine. Not shorter:
# VLLMEngineStalled, with `make chaos`'s 20 s window, must be able to fire before the replica ends.
ENGINE_SILENCE_LIMIT_S = 20.0


class Engine(Protocol):
    """What the probe needs of Ray Serve LLM's engine (`VLLMEngine` passes it on to `AsyncLLM`)."""

    async def is_sleeping(self) -> bool: ...


class EngineUnresponsiveError(RuntimeError):
    """The engine core did not answer the probe in time: the replica must be replaced. `exhausted`:
    the probe has been out the whole silence limit (a stall, not a slow step)."""

    def __init__(self, message: str, exhausted: bool) -> None:
        super().__init__(message)
        self.exhausted = exhausted


class EngineProbe:
    """The engine core's answer to one utility call at a time, shared by consecutive health checks.

    A check sends a probe when none is out, then waits for the answer at most `wait_s`, and no longer
    than until the probe is `silence_s` old: a check that finds the probe older than that fails at
    once. An answer that comes late (a long model step) clears the probe, and the next check passes.
    """

    def __init__(self, engine: Engine, wait_s: float, silence_s: float) -> None:
        self._engine, self._wait_s, self._silence_s = engine, wait_s, silence_s
        self._probe: asyncio.Future[bool] | None = None
        self._sent = 0.0

    async def check(self) -> None:
        """Return once the engine core has answered; raise EngineUnresponsiveError if it has not in
        time. An error the call itself raised (a dead engine's `EngineDeadError`, a closed socket, its
        own TimeoutError) propagates."""
        if self._probe is None:
            self._probe, self._sent = asyncio.ensure_future(self._engine.is_sleeping()), time.monotonic()
        probe = self._probe
        left_s = self._silence_s - (time.monotonic() - self._sent)
        if left_s > 0:
            await asyncio.wait({probe}, timeout=min(self._wait_s, left_s))
        if not probe.done():
            silent_s = time.monotonic() - self._sent
            raise EngineUnresponsiveError(
                f"engine core has not answered a probe for {silent_s:.1f} s", exhausted=left_s <= self._wait_s
            )
        self._probe = None
        probe.result()


def end_replica(reason: str) -> NoReturn:
    """End this replica's process at once, its engine processes first (they would outlive it, holding
    the accelerator's memory). Serve sees the actor die, marks the replica unhealthy at once and starts
    a replacement, instead of waiting for three failed health checks `healthCheckPeriodS` apart; the
    requests in flight on it end as on a killed replica (the gateway answers them with a 503)."""
    logger.error("Ending the replica: %s", reason)
    engine_processes = psutil.Process().children(recursive=True)
    for process in engine_processes:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(engine_processes, timeout=10)
    os._exit(1)


class EngineHealth:
    """A replica's engine check: the parent's (vLLM's dead flag), then the probe, kept across checks."""

    def __init__(self) -> None:
        self._probe: EngineProbe | None = None  # made by the first check that finds a started engine

    async def check(self, engine: Engine | None, parent_check: Callable[[], Awaitable[None]]) -> None:
        try:
            await parent_check()  # raises once vLLM has marked the engine dead: for good
        except Exception as err:
            end_replica(f"its engine died ({type(err).__name__}: {err})")
        if engine is None:  # not started: nothing to probe, as the parent says
            return
        if self._probe is None:
            self._probe = EngineProbe(engine, ENGINE_PROBE_TIMEOUT_S, ENGINE_SILENCE_LIMIT_S)
        try:
            await self._probe.check()
        except Exception as err:
            if isinstance(err, EngineUnresponsiveError) and err.exhausted:
                end_replica(f"its {err}")
            logger.error("Engine probe failed in LLMServer.check_health: %s", err)
            raise
