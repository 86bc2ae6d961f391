"""Overload: past max_ongoing_requests + max_queued_requests the excess gets 503 with Retry-After.

The slots are filled first and on purpose: `max_ongoing` streaming requests run (their first chunk
has arrived), `max_queued` more wait behind them. Only then come the probes, so whether a probe may
be admitted never depends on how fast the machine is: until the first holder finishes, none may.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import httpx
import pytest

from tests.serve_app.deployment import (
    API_KEY,
    MAX_MODEL_LEN,
    TINY_MAX_ONGOING,
    TINY_MAX_QUEUED,
    TINY_RETRY_AFTER_S,
    Stack,
    chat_body,
)

pytestmark = pytest.mark.ray  # runs against the session's local Ray (conftest.py)

# As long as the context allows, so the holders outlast the probes by far.
HOLD_TOKENS = MAX_MODEL_LEN - 64
PROBES = 3 * (TINY_MAX_ONGOING + TINY_MAX_QUEUED)
FIRST_CHUNK_TIMEOUT_S = 120


@dataclass
class Held:
    status: int
    completion_tokens: int
    finished_at: float


@dataclass
class Probe:
    response: httpx.Response
    answered_at: float


async def hold(client: httpx.AsyncClient, started: asyncio.Event) -> Held:
    """Stream one long generation; `started` is set when its first chunk arrives (it is running)."""
    body = chat_body(
        "tiny", max_tokens=HOLD_TOKENS, ignore_eos=True, stream=True, stream_options={"include_usage": True}
    )
    usage = 0
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: {"):
                started.set()
                usage = (json.loads(line[len("data: ") :]).get("usage") or {}).get("completion_tokens", usage)
        return Held(response.status_code, usage, time.monotonic())


async def probe(client: httpx.AsyncClient) -> Probe:
    response = await client.post("/v1/chat/completions", json=chat_body("tiny"))
    return Probe(response, time.monotonic())


async def overload(stack: Stack) -> tuple[list[Held], list[Probe], list[bool]]:
    async with httpx.AsyncClient(
        base_url=stack.base_url,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=600,
        limits=httpx.Limits(max_connections=TINY_MAX_ONGOING + TINY_MAX_QUEUED + PROBES),
    ) as client:
        running = [asyncio.Event() for _ in range(TINY_MAX_ONGOING)]
        holders = [asyncio.create_task(hold(client, event)) for event in running]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in running)), FIRST_CHUNK_TIMEOUT_S)
        queued = [asyncio.Event() for _ in range(TINY_MAX_QUEUED)]
        holders += [asyncio.create_task(hold(client, event)) for event in queued]
        # Let the queued holders reach the gateway's router before the probes do.
        await asyncio.sleep(2)
        probes = await asyncio.gather(*(probe(client) for _ in range(PROBES)))
        started_while_full = [event.is_set() for event in queued]
        return await asyncio.gather(*holders), probes, started_while_full


class TestOverload:
    def test_should_shed_the_excess_with_503_and_retry_after_when_the_queue_is_full(
        self, stack: Stack
    ) -> None:
        held, probes, started_while_full = asyncio.run(overload(stack))
        first_freed = min(h.finished_at for h in held)
        while_full = [p.response for p in probes if p.answered_at < first_freed]

        assert [(h.status, h.completion_tokens) for h in held] == [(200, HOLD_TOKENS)] * len(held)
        # The queued holders waited: nothing beyond max_ongoing ran while the slots were full.
        assert started_while_full == [False] * TINY_MAX_QUEUED
        # Every probe answered while all slots were held was shed, and there were such probes.
        assert len(while_full) == PROBES, [
            (p.response.status_code, p.answered_at - first_freed) for p in probes
        ]
        for response in while_full:
            assert response.status_code == 503
            assert response.headers["retry-after"] == str(TINY_RETRY_AFTER_S)
            assert response.json()["error"]["code"] == "overloaded"

    def test_should_serve_again_when_the_burst_is_over(self, stack: Stack) -> None:
        with stack.http() as http:
            assert http.post("/v1/chat/completions", json=chat_body("tiny")).status_code == 200
