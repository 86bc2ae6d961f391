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
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from ray.serve.llm.deployment import LLMServer as RayLLMServer

logger = logging.getLogger("ray.serve")

# Seconds the engine core has to answer one probe. Below the chart's default `healthCheckTimeoutS`
# (30 s), so a stalled engine fails the check with this module's message and not with Serve's
# generic "didn't receive health check response". Serve marks a replica unhealthy after 3 failed
# checks in a row (REPLICA_HEALTH_CHECK_UNHEALTHY_THRESHOLD) and starts the next check as soon as a
# failed one ends, so a stalled engine's replica is replaced about healthCheckPeriodS + 3 × 10 s
# after the stall, whatever healthCheckTimeoutS is above this bound (44 s measured by
# `tools/chaos.py --fault engine-stall`). A live engine core answers between two model steps
# (milliseconds; a few seconds for a long prefill under load): 10 s of silence three times in a row
# is not a busy engine.
ENGINE_PROBE_TIMEOUT_S = 10.0


class Engine(Protocol):
    """What the probe needs of Ray Serve LLM's engine (`VLLMEngine` passes it on to `AsyncLLM`)."""

    async def is_sleeping(self) -> bool: ...


class EngineUnresponsiveError(RuntimeError):
    """The engine core did not answer the probe in time: the replica must be replaced."""


async def probe_engine(engine: Engine, timeout_s: float) -> None:
    """Return once the engine core has answered a utility call; raise if it does not within `timeout_s`.

    An error the call itself raises (a dead engine's `EngineDeadError`, a closed socket) propagates.
    """
    deadline = asyncio.timeout(timeout_s)
    try:
        async with deadline:
            await engine.is_sleeping()
    except TimeoutError:
        if not deadline.expired():
            raise  # a TimeoutError of the call itself, not of this bound
        raise EngineUnresponsiveError(f"engine core did not answer within {timeout_s:g} s") from None


class LLMServer(RayLLMServer):
    """Ray Serve LLM's `LLMServer` whose health check also proves the engine core answers.

    Named `LLMServer` on purpose: `build_llm_deployment` names a deployment `<class name>:<model>`,
    and the chart's serveConfigV2, the gateway and the dashboards know them as `LLMServer:<model>`.
    """

    async def check_health(self) -> None:
        await super().check_health()
        if self.engine is None:  # not started: nothing to probe, as the parent says
            return
        try:
            await probe_engine(self.engine, ENGINE_PROBE_TIMEOUT_S)
        except Exception as err:
            logger.error("Engine probe failed in LLMServer.check_health: %s", err)
            raise
