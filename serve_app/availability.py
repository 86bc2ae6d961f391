"""Fail fast for a model that has no live replica, instead of queueing for its replacement.

When the only replica of an `LLMServer` dies, Serve's router keeps every request it had not yet
handed to a replica (and every new one) waiting until a replacement is RUNNING, which for a vLLM
replica is the whole engine start: a minute on the tiny CPU model, many on a large GPU model, with
no byte to the client meanwhile. Serve only fails such requests fast (DeploymentUnavailableError)
once the deployment is terminally failed. This watch asks the controller, only for requests still
waiting after `WATCH_AFTER_S`, whether the model's deployment has no RUNNING replica while Serve is
starting it (UPDATING: the first deploy, an update) or has given up on its replicas (UNHEALTHY,
DEPLOY_FAILED), and if so ends the wait with a 503 and Retry-After: a client that comes early or
during a restart is told to retry instead of getting a minute of silence, and /v1/models leaves such
a model out meanwhile. A deployment scaling up from zero is UPSCALING, so its requests still wait:
they are what makes it scale up.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import NoReturn, TypeVar

from ray.llm._internal.common.utils.lora_utils import get_base_model_id

from serve_app.errors import ApiError, upstream_unavailable
from serve_app.health import deployment_states

logger = logging.getLogger("ray.serve")

# A request answered within this never causes a controller call (the common case costs nothing).
WATCH_AFTER_S = 1.0
# One status call per gateway replica per interval at most, shared by every waiting request.
POLL_S = 2.0
DOWN_STATES = frozenset({"UPDATING", "UNHEALTHY", "DEPLOY_FAILED"})

T = TypeVar("T")
StatesFn = Callable[[dict[str, str]], Awaitable[dict[str, dict]]]


def is_down(state: Mapping) -> bool:
    """Serve is (re)starting the deployment or gave up on its replicas, and none runs: nothing can
    answer until one has started."""
    return state.get("status") in DOWN_STATES and state.get("replicas", {}).get("RUNNING", 0) == 0


def is_starting(state: Mapping) -> bool:
    """Down, and Serve is (re)starting a replica: it has not given up (DEPLOY_FAILED)."""
    return is_down(state) and state.get("status") != "DEPLOY_FAILED"


def unavailable_message(model: str, state: Mapping) -> str:
    if state.get("status") == "UPDATING":
        return f"The model {model!r} is starting: no replica of it is ready yet; retry later."
    return f"The model {model!r} has no running replica (one is being restarted); retry later."


class Availability:
    """Cached view of whether each model's deployment can answer right now."""

    def __init__(
        self,
        deployments: Mapping[str, str],
        *,
        poll_s: float = POLL_S,
        watch_after_s: float = WATCH_AFTER_S,
        states: StatesFn = deployment_states,
    ) -> None:
        self._deployments = dict(deployments)
        self._poll_s = poll_s
        self._watch_after_s = watch_after_s
        self._states_fn = states
        self._states: dict[str, dict] = {}
        self._fetched_at = -math.inf
        self._lock = asyncio.Lock()
        self._starting_since: dict[str, float] = {}  # when waiting callers first saw it starting

    async def _fresh_states(self) -> dict[str, dict]:
        async with self._lock:
            if time.monotonic() - self._fetched_at >= self._poll_s:
                try:
                    self._states = await self._states_fn(self._deployments)
                except Exception as err:
                    # No controller answer is no evidence of a dead model: keep waiting as Serve does.
                    logger.warning("Could not read deployment states: %s", err)
                    self._states = {}
                self._fetched_at = time.monotonic()
                for model in [m for m in self._starting_since if not is_starting(self._states.get(m, {}))]:
                    del self._starting_since[model]
        return self._states

    async def down(self, model: str) -> bool:
        return is_down((await self._fresh_states()).get(model, {}))

    async def down_models(self) -> set[str]:
        """The models that cannot answer now (at most one controller call per poll interval)."""
        return {model for model, state in (await self._fresh_states()).items() if is_down(state)}

    async def reachable(self, model_ids: list[str]) -> list[str]:
        """`model_ids` without those served by a model that cannot answer now: a LoRA adapter
        (`base:adapter`, Ray Serve LLM's naming) goes with its base model."""
        down = await self.down_models()
        return [model_id for model_id in model_ids if get_base_model_id(model_id) not in down]

    def known_down(self, model: str) -> bool:
        """What the last status call (if still fresh) said; costs nothing."""
        fresh = time.monotonic() - self._fetched_at < self._poll_s
        return fresh and is_down(self._states.get(model, {}))

    async def until_started(self, model: str, limit_s: float) -> None:
        """Returns once `model` (a LoRA adapter's: its base) is not starting, or `limit_s` after waiting
        callers first saw this start: a caller that can wait (a batch line) waits out a start instead
        of spending its retries on it, and a start that never ends costs the wait once, not per call."""
        base = get_base_model_id(model)
        if base not in self._deployments:
            return
        while is_starting((await self._fresh_states()).get(base, {})):
            left = self._starting_since.setdefault(base, time.monotonic()) + limit_s - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(self._poll_s, left))

    async def watch(self, model: str) -> NoReturn:
        """Raises a 503 ApiError once `model` is down; never returns otherwise."""
        # While a model is known to be down, new requests fail at once instead of after the grace.
        if not self.known_down(model):
            await asyncio.sleep(self._watch_after_s)
        while not await self.down(model):
            await asyncio.sleep(self._poll_s)
        raise upstream_unavailable(unavailable_message(model, self._states.get(model, {})))

    async def answer(self, model: str | None, call: Awaitable[T], timeout_s: float | None) -> T:
        """`call`'s result, or a 503 when the model (a LoRA adapter's: its base) goes down or `timeout_s`
        passes first."""
        base = get_base_model_id(model) if model else None
        return await bounded(call, self.watch(base) if base in self._deployments else None, timeout_s)


async def bounded(call: Awaitable[T], watch: Awaitable[NoReturn] | None, timeout_s: float | None) -> T:
    """Await `call` while `watch` (which only ever raises) runs beside it; cancel the loser."""
    task = asyncio.ensure_future(call)
    watcher = asyncio.ensure_future(watch) if watch is not None else None
    try:
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.wait(
                    [t for t in (task, watcher) if t is not None], return_when=asyncio.FIRST_COMPLETED
                )
        except TimeoutError:
            raise upstream_unavailable(
                f"The model did not answer within {timeout_s:g} s; retry later."
            ) from None
        if task.done():
            return task.result()
        assert watcher is not None
        raise watcher.exception() or ApiError(503, "The model is unavailable.")
    finally:
        losers = [t for t in (task, watcher) if t is not None and not t.done()]
        for loser in losers:
            loser.cancel()
        # Finished before we return: the caller may close the generator the call was advancing.
        await asyncio.gather(*losers, return_exceptions=True)
