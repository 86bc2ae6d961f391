"""Overload: past max_ongoing_requests + max_queued_requests the excess gets 503 with Retry-After."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.serve_app.deployment import (
    API_KEY,
    TINY_MAX_ONGOING,
    TINY_MAX_QUEUED,
    TINY_RETRY_AFTER_S,
    Stack,
    chat_body,
)

pytestmark = pytest.mark.ray  # runs against the session's local Ray (conftest.py)

CONCURRENT = 4 * (TINY_MAX_ONGOING + TINY_MAX_QUEUED)
GENERATED = 1000


async def burst(stack: Stack) -> list[httpx.Response]:
    """All requests in flight at once; each holds its slot for seconds, longer than the burst takes
    to arrive even on a loaded machine, so no slot frees up before the excess is shed."""
    body = chat_body("tiny", max_tokens=GENERATED, ignore_eos=True)
    async with httpx.AsyncClient(
        base_url=stack.base_url,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=300,
        limits=httpx.Limits(max_connections=CONCURRENT),
    ) as client:
        return await asyncio.gather(
            *(client.post("/v1/chat/completions", json=body) for _ in range(CONCURRENT))
        )


class TestOverload:
    def test_should_shed_the_excess_with_503_and_retry_after_when_the_queue_is_full(
        self, stack: Stack
    ) -> None:
        responses = asyncio.run(burst(stack))
        statuses = [r.status_code for r in responses]
        served = [r for r in responses if r.status_code == 200]
        shed = [r for r in responses if r.status_code == 503]
        assert len(served) + len(shed) == CONCURRENT, statuses
        # Up to max_ongoing run and max_queued wait; Serve may shed a little early, never late.
        assert TINY_MAX_ONGOING <= len(served) <= TINY_MAX_ONGOING + TINY_MAX_QUEUED, statuses
        assert all(r.json()["usage"]["completion_tokens"] == GENERATED for r in served)
        for response in shed:
            assert response.headers["retry-after"] == str(TINY_RETRY_AFTER_S)
            assert response.json()["error"]["code"] == "overloaded"

    def test_should_serve_again_when_the_burst_is_over(self, stack: Stack) -> None:
        with stack.http() as http:
            assert http.post("/v1/chat/completions", json=chat_body("tiny")).status_code == 200
