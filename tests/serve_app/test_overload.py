"""Overload: past max_ongoing_requests + max_queued_requests the excess gets 503 with Retry-After.

The slots are filled first and on purpose: `max_ongoing` streaming requests run (their first chunk
has arrived), `max_queued` more wait behind them. Only then come the probes, so whether a probe may
be admitted never depends on how fast the machine is. The running holders ask for the whole context
and are dropped (vLLM aborts them) once every probe is answered: they keep the slots as long as the
probes take, even when the busy engine leaves this client unscheduled for seconds. The queued
holders must then be served: shedding the excess loses nothing that was admitted.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import httpx
import pytest

from tests.serve_app.deployment import (
    API_KEY,
    TINY_MAX_MODEL_LEN,
    TINY_MAX_ONGOING,
    TINY_MAX_QUEUED,
    TINY_RETRY_AFTER_S,
    Stack,
    chat_body,
)

pytestmark = pytest.mark.live  # runs against the session's local Ray (conftest.py)

HOLD_TOKENS = TINY_MAX_MODEL_LEN - 64
QUEUED_TOKENS = 8
PROBES = 3 * (TINY_MAX_ONGOING + TINY_MAX_QUEUED)
FIRST_CHUNK_TIMEOUT_S = 120
QUEUED_TIMEOUT_S = 120


@dataclass
class Held:
    status: int
    completion_tokens: int


@dataclass
class Overload:
    probes: list[httpx.Response]
    # Taken when the last probe was answered.
    running_still_held: list[bool]
    queued_started: list[bool]
    queued: list[Held]


async def hold(client: httpx.AsyncClient, started: asyncio.Event, max_tokens: int) -> Held:
    """Stream one generation; `started` is set when its first chunk arrives (it is running)."""
    body = chat_body(
        "tiny", max_tokens=max_tokens, ignore_eos=True, stream=True, stream_options={"include_usage": True}
    )
    usage, buffer = 0, ""
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        # SSE events end with a blank line; a line iterator would also split the random model's text at
        # the Unicode line breaks JSON leaves unescaped (U+2028, NEL ...), mid-event.
        async for text in response.aiter_text():
            *events, buffer = (buffer + text).split("\n\n")
            for event in events:
                if event.startswith("data: {"):
                    started.set()
                    usage = (json.loads(event[len("data: ") :]).get("usage") or {}).get(
                        "completion_tokens", usage
                    )
        return Held(response.status_code, usage)


async def overload(stack: Stack) -> Overload:
    async with httpx.AsyncClient(
        base_url=stack.base_url,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=600,
        limits=httpx.Limits(max_connections=TINY_MAX_ONGOING + TINY_MAX_QUEUED + PROBES),
    ) as client:
        running_events = [asyncio.Event() for _ in range(TINY_MAX_ONGOING)]
        running = [asyncio.create_task(hold(client, e, HOLD_TOKENS)) for e in running_events]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in running_events)), FIRST_CHUNK_TIMEOUT_S)
        queued_events = [asyncio.Event() for _ in range(TINY_MAX_QUEUED)]
        queued = [asyncio.create_task(hold(client, e, QUEUED_TOKENS)) for e in queued_events]
        # Let the queued holders reach the gateway's router before the probes do.
        await asyncio.sleep(2)
        probes = await asyncio.gather(
            *(client.post("/v1/chat/completions", json=chat_body("tiny")) for _ in range(PROBES))
        )
        running_still_held = [not task.done() for task in running]
        queued_started = [event.is_set() for event in queued_events]
        # Dropping the streams frees the slots (the gateway aborts the generations).
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        return Overload(
            probes,
            running_still_held,
            queued_started,
            await asyncio.wait_for(asyncio.gather(*queued), QUEUED_TIMEOUT_S),
        )


class TestOverload:
    def test_should_shed_the_excess_with_503_and_retry_after_when_the_queue_is_full(
        self, stack: Stack
    ) -> None:
        result = asyncio.run(overload(stack))

        # The slots stayed full until the last probe was answered: every probe met a full queue.
        assert result.running_still_held == [True] * TINY_MAX_ONGOING
        assert result.queued_started == [False] * TINY_MAX_QUEUED
        for response in result.probes:
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == str(TINY_RETRY_AFTER_S)
            assert response.json()["error"]["code"] == "overloaded"
        # The queued requests were kept, not shed, and ran once the slots were free.
        assert [(h.status, h.completion_tokens) for h in result.queued] == [
            (200, QUEUED_TOKENS)
        ] * TINY_MAX_QUEUED

    def test_should_serve_again_when_the_burst_is_over(self, stack: Stack) -> None:
        with stack.http() as http:
            assert http.post("/v1/chat/completions", json=chat_body("tiny")).status_code == 200
