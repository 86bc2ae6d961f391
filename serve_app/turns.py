"""Interactive requests first on a model replica: background requests (batch lines) wait their turn.

vLLM's priority scheduling orders the requests that wait for a slot, but a background request that
already runs keeps its slot and its share of every engine step, and on a busy engine that slows the
interactive requests beside it. So a replica holds a background request before it reaches the engine
while interactive requests are in flight on it, and until none has been for `quiet_s`; at most
`max_hold_s`, so that a batch still moves under steady interactive load (a line per slot per
`max_hold_s`). Per replica: it is the replica's engine that interactive requests share.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator
from typing import TypeVar

T = TypeVar("T")

# The key of a model's `LLMConfig.experimental_configs` that holds Turns' settings (serve_app/llm.py).
TURNS_CONFIG = "interactive_first"


class Turns:
    def __init__(self, quiet_s: float, max_hold_s: float) -> None:
        self._quiet_s = quiet_s
        self._max_hold_s = max_hold_s
        self._interactive = 0
        self._last_end = float("-inf")
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def interactive(self) -> int:
        """Interactive requests in flight on this replica."""
        return self._interactive

    async def track(self, stream: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
        """`stream` (an interactive request's answer), counted in flight from its first item asked for
        to its end or close; closing this closes `stream` (vLLM aborts the request)."""
        self._interactive += 1
        self._idle.clear()
        try:
            async with contextlib.aclosing(stream):
                async for item in stream:
                    yield item
        finally:
            self._interactive -= 1
            self._last_end = time.monotonic()
            if not self._interactive:
                self._idle.set()

    async def wait_turn(self) -> float:
        """Returns once no interactive request has been in flight for `quiet_s`, or after `max_hold_s`;
        the seconds waited."""
        started = time.monotonic()
        deadline = started + self._max_hold_s
        while (now := time.monotonic()) < deadline:
            if self._interactive:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._idle.wait(), deadline - now)
                continue
            quiet_at = self._last_end + self._quiet_s
            if now >= quiet_at:
                break
            await asyncio.sleep(min(quiet_at, deadline) - now)  # then look again: one may have started
        return time.monotonic() - started
