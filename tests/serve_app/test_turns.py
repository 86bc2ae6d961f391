"""serve_app/turns.py and its use by LLMServer: background requests wait while interactive ones run.

Real time with short settings; every check is a lower bound on a wait or holds whatever the machine's
speed (a waiter cannot return while an interactive request runs and its longest wait is far off), and
each wait for a waiter to return has a generous bound.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from serve_app.config import BatchArgs
from serve_app.llm_server import LLMServer
from serve_app.turns import TURNS_CONFIG, Turns
from tests.serve_app.bare_server import bare_server

QUIET_S = 0.2
FAR_S = 600.0  # a longest wait no test reaches
RETURNS_WITHIN_S = 30.0


async def stream(*items, closed: list | None = None):
    """An answer stream like the engine's; notes when it is closed."""
    try:
        for item in items:
            yield item
    finally:
        if closed is not None:
            closed.append(True)


async def returned(task: asyncio.Task) -> float:
    return await asyncio.wait_for(task, RETURNS_WITHIN_S)


class TestTurns:
    def test_should_not_wait_when_no_interactive_request_ran(self) -> None:
        async def scenario() -> float:
            return await Turns(quiet_s=QUIET_S, max_hold_s=FAR_S).wait_turn()

        assert asyncio.run(scenario()) < RETURNS_WITHIN_S

    def test_should_wait_while_an_interactive_request_runs_and_then_for_the_quiet_when_it_ends(self) -> None:
        async def scenario():
            turns = Turns(quiet_s=QUIET_S, max_hold_s=FAR_S)
            answer = turns.track(stream("a", "b"))
            assert await anext(answer) == "a" and turns.interactive == 1
            waiter = asyncio.ensure_future(turns.wait_turn())
            await asyncio.sleep(2 * QUIET_S)
            held = not waiter.done()
            before_end = time.monotonic()
            assert [item async for item in answer] == ["b"] and turns.interactive == 0
            await returned(waiter)
            return held, time.monotonic() - before_end

        held, after_end_s = asyncio.run(scenario())
        assert held and after_end_s >= QUIET_S

    def test_should_run_anyway_after_the_longest_wait_when_interactive_requests_never_stop(self) -> None:
        async def scenario():
            turns = Turns(quiet_s=QUIET_S, max_hold_s=0.5)
            answer = turns.track(stream("a", "b"))
            await anext(answer)
            waited = await returned(asyncio.ensure_future(turns.wait_turn()))
            still_running = turns.interactive
            await answer.aclose()
            return waited, still_running

        waited, still_running = asyncio.run(scenario())
        assert waited >= 0.5 and still_running == 1

    def test_should_close_the_engine_stream_and_stop_counting_when_the_client_goes(self) -> None:
        closed: list = []

        async def scenario() -> int:
            turns = Turns(quiet_s=QUIET_S, max_hold_s=FAR_S)
            answer = turns.track(stream("a", "b", "c", closed=closed))
            await anext(answer)
            await answer.aclose()  # the client went away: Serve closes the stream
            return turns.interactive

        assert asyncio.run(scenario()) == 0 and closed == [True]

    def test_should_count_nothing_when_the_stream_is_never_read(self) -> None:
        turns = Turns(quiet_s=QUIET_S, max_hold_s=FAR_S)
        turns.track(stream("a"))
        assert turns.interactive == 0


class Parent:
    """The parent class's chat/completions/embeddings: records the calls, answers a stream."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, request, raw_request_info=None):
        self.calls.append(request.name)
        return stream(f"answer to {request.name}")


def server_with(turns: dict | None) -> LLMServer:
    """`_in_turn` reads only the LLMConfig's experimental_configs."""
    return bare_server(
        _llm_config=SimpleNamespace(experimental_configs={TURNS_CONFIG: turns} if turns else {})
    )


def request(name: str, priority: int) -> SimpleNamespace:
    return SimpleNamespace(name=name, priority=priority)


class TestLLMServerTurns:
    def test_should_hold_a_background_request_while_an_interactive_one_runs_when_turns_are_set(self) -> None:
        async def scenario():
            server, parent = server_with({"quiet_s": QUIET_S, "max_hold_s": FAR_S}), Parent()
            interactive = await server._in_turn(parent, request("chat", 0), None)
            assert await anext(interactive) == "answer to chat"
            line = asyncio.ensure_future(server._in_turn(parent, request("line", 10), None))
            await asyncio.sleep(2 * QUIET_S)
            calls_while_held = list(parent.calls)
            await interactive.aclose()
            answer = await returned(line)
            return calls_while_held, parent.calls, [item async for item in answer]

        calls_while_held, calls, answer = asyncio.run(scenario())
        assert calls_while_held == ["chat"] and calls == ["chat", "line"] and answer == ["answer to line"]

    def test_should_pass_every_request_straight_on_when_turns_are_not_set(self) -> None:
        async def scenario():
            server, parent = server_with(None), Parent()
            interactive = await server._in_turn(parent, request("chat", 0), None)
            await anext(interactive)
            await asyncio.wait_for(server._in_turn(parent, request("line", 10), None), RETURNS_WITHIN_S)
            return parent.calls

        assert asyncio.run(scenario()) == ["chat", "line"]


class TestBatchArgsTurns:
    def test_should_give_the_settings_when_lines_wait(self) -> None:
        args = BatchArgs.model_validate({"storage": "/tmp/b", "yieldQuietS": 2, "yieldMaxS": 30})
        assert args.turns() == {"quiet_s": 2, "max_hold_s": 30}

    def test_should_give_none_when_lines_never_wait(self) -> None:
        assert BatchArgs.model_validate({"storage": "/tmp/b", "yieldMaxS": 0}).turns() is None

    @pytest.mark.parametrize("field", ["yieldQuietS", "yieldMaxS"])
    def test_should_refuse_a_negative_wait_when_validated(self, field: str) -> None:
        with pytest.raises(ValueError, match=field):
            BatchArgs.model_validate({"storage": "/tmp/b", field: -1})
