"""Overload: past max_ongoing_requests + max_queued_requests the excess gets 503 with Retry-After.

The slots are filled first and on purpose: `max_ongoing` streaming requests run (their first chunk
has arrived) and ask for the whole context, so they keep the slots as long as the test needs. Then
`max_queued` + the probes arrive at once, all alike: whichever order they reach the gateway's router
in, exactly `max_queued` of them find a queue place and the others are shed at once. So the verdict
never depends on how fast the machine is or on who comes first: the first answers must be the shed
ones, all 503, while the running holders still hold the slots. Only then are the holders dropped (vLLM
aborts them), and the admitted requests must be served: shedding the excess loses nothing admitted.
"""

from __future__ import annotations

import asyncio
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
ADMITTED_TOKENS = 8
CONTENDERS = TINY_MAX_QUEUED + 3 * (TINY_MAX_ONGOING + TINY_MAX_QUEUED)
SHED = CONTENDERS - TINY_MAX_QUEUED
FIRST_CHUNK_TIMEOUT_S = 120
SHED_TIMEOUT_S = 120
ADMITTED_TIMEOUT_S = 120


@dataclass
class Overload:
    # The contenders that had an answer once `SHED` of them had one.
    first_answers: list[httpx.Response]
    # Taken at the same moment.
    running_still_held: list[bool]
    # The other contenders, answered once the running holders were dropped.
    admitted: list[httpx.Response]


async def hold(client: httpx.AsyncClient, started: asyncio.Event) -> None:
    """Stream a whole-context generation; `started` is set when its first chunk arrives (it runs)."""
    body = chat_body("tiny", max_tokens=HOLD_TOKENS, ignore_eos=True, stream=True)
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        seen = ""  # the stream's last bytes: an event's start may be split between two reads
        async for text in response.aiter_text():
            seen = seen[-8:] + text
            if "data: {" in seen:
                started.set()


async def first_answers(contenders: list[asyncio.Task], count: int) -> set[asyncio.Task]:
    """The contenders answered when at least `count` of them are."""
    done: set[asyncio.Task] = set()
    pending = set(contenders)
    while len(done) < count:
        new, pending = await asyncio.wait(
            pending, timeout=SHED_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        if not new:
            raise AssertionError(f"{len(done)} of {count} contenders answered after {SHED_TIMEOUT_S} s")
        done |= new
    return done


async def overload(stack: Stack) -> Overload:
    async with httpx.AsyncClient(
        base_url=stack.base_url,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=600,
        limits=httpx.Limits(max_connections=TINY_MAX_ONGOING + CONTENDERS),
    ) as client:
        running_events = [asyncio.Event() for _ in range(TINY_MAX_ONGOING)]
        running = [asyncio.create_task(hold(client, e)) for e in running_events]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in running_events)), FIRST_CHUNK_TIMEOUT_S)
        body = chat_body("tiny", max_tokens=ADMITTED_TOKENS, ignore_eos=True)
        contenders = [
            asyncio.create_task(client.post("/v1/chat/completions", json=body)) for _ in range(CONTENDERS)
        ]
        answered = await first_answers(contenders, SHED)
        running_still_held = [not task.done() for task in running]
        # Dropping the streams frees the slots (the gateway aborts the generations).
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        rest = [task for task in contenders if task not in answered]
        return Overload(
            [task.result() for task in answered],
            running_still_held,
            await asyncio.wait_for(asyncio.gather(*rest), ADMITTED_TIMEOUT_S),
        )


class TestOverload:
    def test_should_shed_the_excess_with_503_and_retry_after_when_the_queue_is_full(
        self, stack: Stack
    ) -> None:
        result = asyncio.run(overload(stack))

        # The slots stayed full while the excess was shed: the first answers are the shed ones.
        assert result.running_still_held == [True] * TINY_MAX_ONGOING
        assert len(result.first_answers) == SHED
        for response in result.first_answers:
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == str(TINY_RETRY_AFTER_S)
            assert response.json()["error"]["code"] == "overloaded"
        # The queued requests were kept, not shed, and ran once the slots were free.
        assert [(r.status_code, r.json()["usage"]["completion_tokens"]) for r in result.admitted] == [
            (200, ADMITTED_TOKENS)
        ] * TINY_MAX_QUEUED

    def test_should_serve_again_when_the_burst_is_over(self, stack: Stack) -> None:
        with stack.http() as http:
            assert http.post("/v1/chat/completions", json=chat_body("tiny")).status_code == 200
