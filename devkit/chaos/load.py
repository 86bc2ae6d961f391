"""Bounded chat load with a light client: streamed and non-streamed requests, every one recorded.

Each client is a loop of one request at a time, bounded by a request count and by the caller's stop
event; each request is bounded by an idle timeout (no byte for `idle_bound_s` ends it as hung) and a
total one. Everything goes to the local run on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from devkit.chaos.classify import Attempt, classify

PROMPT = "Write a long story about a lighthouse keeper."


@dataclass(frozen=True)
class ClientSpec:
    """`count` clients that each send `stream` (or non-streamed) requests to `model` in a loop."""

    model: str
    stream: bool
    count: int


@dataclass(frozen=True)
class LoadBounds:
    max_tokens: int = 48
    idle_bound_s: float = 90.0  # longer than the gateway's own idle timeout: that one must win
    total_bound_s: float = 300.0
    max_requests_per_client: int = 400
    pause_after_failure_s: float = 0.5  # a fast 503 must not turn a client into a busy loop


def chat_body(model: str, stream: bool, max_tokens: int) -> dict:
    # ignore_eos: the tiny random model would otherwise stop at a random early token.
    return {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
        "stream": stream,
        "ignore_eos": True,
    }


async def send(client: httpx.AsyncClient, spec: ClientSpec, bounds: LoadBounds, attempt: Attempt) -> None:
    """One request, recorded in `attempt` as it goes, whatever happens to it."""
    body = chat_body(spec.model, spec.stream, bounds.max_tokens)
    try:
        async with (
            asyncio.timeout(bounds.total_bound_s),
            client.stream("POST", "/v1/chat/completions", json=body) as response,
        ):
            attempt.status = response.status_code
            attempt.headers = {k.lower(): v for k, v in response.headers.items()}
            async for text in response.aiter_text():
                attempt.first_byte = attempt.first_byte or time.monotonic()
                attempt.body += text
    except (httpx.ReadTimeout, TimeoutError):
        attempt.timed_out = True
    except httpx.HTTPError as err:
        attempt.transport_error = f"{type(err).__name__}: {err}"[:300]
    attempt.ended = time.monotonic()


async def client_loop(
    client: httpx.AsyncClient, spec: ClientSpec, bounds: LoadBounds, stop: asyncio.Event, out: list[Attempt]
) -> None:
    for _ in range(bounds.max_requests_per_client):
        if stop.is_set():
            return
        # Listed before it is sent: the harness times a fault by the requests in flight.
        attempt = Attempt(model=spec.model, stream=spec.stream, started=time.monotonic())
        out.append(attempt)
        await send(client, spec, bounds, attempt)
        if classify(attempt) != "ok":
            await asyncio.sleep(bounds.pause_after_failure_s)


def http_client(base_url: str, bounds: LoadBounds, connections: int) -> httpx.AsyncClient:
    timeout = httpx.Timeout(connect=10.0, read=bounds.idle_bound_s, write=10.0, pool=bounds.total_bound_s)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    # trust_env=False: no proxy variable may route loopback traffic elsewhere.
    return httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits, trust_env=False)
