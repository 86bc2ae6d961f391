"""serve_app.agent_loop with a scripted model: branching on tool results, limits, failures, the trace."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from serve_app.agent_loop import Limits, run_agent
from serve_app.agent_tools import CALCULATOR, Tool

LIMITS = Limits(max_steps=5, max_tokens=1000, max_tokens_per_call=500, wall_time_s=30, tool_time_s=5)


def tool_call(name: str, arguments: str, call_id: str = "c1") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def completion(content: str | None = None, calls: list | None = None, tokens: int = 10) -> dict[str, Any]:
    message = {"role": "assistant", "content": content, **({"tool_calls": calls} if calls else {})}
    return {"choices": [{"message": message}], "usage": {"total_tokens": tokens}}


class Scripted:
    """A model that answers from a function of the conversation so far."""

    def __init__(self, answer) -> None:
        self.answer, self.seen = answer, []

    async def __call__(self, messages, tools, max_tokens, tool_choice):
        self.seen.append(
            {
                "messages": [dict(m) for m in messages],
                "tools": tools,
                "max_tokens": max_tokens,
                "choice": tool_choice,
            }
        )
        return "tiny", self.answer(messages)


def last_tool_result(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return json.loads(next(m["content"] for m in reversed(messages) if m["role"] == "tool"))


def run(model, limits: Limits = LIMITS, tools=None, clock=None, tool_choice=None, calls=()):
    tools = tools or {CALCULATOR.name: CALCULATOR}
    messages = [{"role": "user", "content": "What is 6 * 7, and is it over 40?"}]
    kwargs = {"clock": clock} if clock else {}
    kwargs |= {"tool_choice": tool_choice} if tool_choice else {}
    kwargs |= {"calls": calls} if calls else {}
    return asyncio.run(run_agent(messages, model, tools, limits, **kwargs)), messages


class TestScriptedCalls:
    def test_should_branch_on_a_scripted_calls_result_when_the_model_answers_after_it(self) -> None:
        model = Scripted(
            lambda messages: completion("yes" if last_tool_result(messages)["result"] > 40 else "no")
        )
        result, _ = run(model, calls=[("calculator", '{"expression": "6 * 7"}')])
        assert (result.status, result.answer) == ("completed", "yes")
        assert [(s.kind, s.tool) for s in result.steps] == [("tool", "calculator"), ("model", None)]
        assert [m["role"] for m in model.seen[0]["messages"]] == ["user", "assistant", "tool"]
        assert model.seen[0]["messages"][1]["tool_calls"] == [
            tool_call("calculator", '{"expression": "6 * 7"}', "call_scripted_0")
        ]

    def test_should_show_the_model_the_error_when_a_scripted_call_fails(self) -> None:
        model = Scripted(lambda messages: completion(json.dumps(last_tool_result(messages))))
        result, _ = run(model, calls=[("calculator", '{"expression": "1 / 0"}')])
        assert result.status == "completed" and "division by zero" in result.steps[0].error
        assert json.loads(result.answer) == {"error": result.steps[0].error}


class TestBranching:
    def test_should_answer_from_the_tool_result_when_the_model_uses_a_tool(self) -> None:
        def answer(messages):
            if messages[-1]["role"] == "user":
                return completion(calls=[tool_call("calculator", '{"expression": "6 * 7"}')])
            result = last_tool_result(messages)["result"]
            return completion("yes" if result > 40 else "no")

        result, messages = run(Scripted(answer))
        assert (result.status, result.answer, result.tokens) == ("completed", "yes", 20)
        assert [s.kind for s in result.steps] == ["model", "tool", "model"]
        assert result.steps[1].result == 42 and result.steps[0].model == "tiny"
        assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
        assert messages[2] == {"role": "tool", "tool_call_id": "c1", "content": '{"result": 42}'}

    def test_should_take_the_other_branch_when_the_tool_result_differs(self) -> None:
        def answer(messages):
            if messages[-1]["role"] == "user":
                return completion(calls=[tool_call("calculator", '{"expression": "6 * 6"}')])
            return completion("yes" if last_tool_result(messages)["result"] > 40 else "no")

        assert run(Scripted(answer))[0].answer == "no"

    def test_should_show_the_model_a_tool_error_and_go_on_when_a_tool_fails(self) -> None:
        def answer(messages):
            if messages[-1]["role"] == "user":
                return completion(
                    calls=[tool_call("weather", "{}"), tool_call("calculator", "not json", "c2")]
                )
            errors = [json.loads(m["content"])["error"] for m in messages if m["role"] == "tool"]
            return completion(f"{len(errors)} tools failed")

        result, _ = run(Scripted(answer))
        assert (result.status, result.answer) == ("completed", "2 tools failed")
        assert [s.error for s in result.steps if s.kind == "tool"] == [
            "unknown tool 'weather'; the tools are ['calculator']",
            "arguments are not a JSON object: 'not json'",
        ]

    def test_should_offer_every_tool_and_the_tokens_left_when_calling_the_model(self) -> None:
        model = Scripted(lambda messages: completion("done", tokens=30))
        run(model)
        assert model.seen[0]["tools"] == [CALCULATOR.spec()]
        assert model.seen[0]["max_tokens"] == LIMITS.max_tokens_per_call
        assert model.seen[0]["choice"] == "auto"

    def test_should_ask_each_call_for_its_planned_tool_choice_when_given_a_plan(self) -> None:
        plan = [{"type": "function", "function": {"name": "calculator"}}, "none"]

        def answer(messages):
            if messages[-1]["role"] == "user":
                return completion(calls=[tool_call("calculator", '{"expression": "2 + 2"}')])
            return completion("four")

        model = Scripted(answer)
        result, _ = run(model, tool_choice=lambda step: plan[step])
        assert [seen["choice"] for seen in model.seen] == plan
        assert result.answer == "four"


class TestLimits:
    def test_should_end_with_step_limit_when_the_model_keeps_calling_tools(self) -> None:
        looping = Scripted(
            lambda messages: completion(calls=[tool_call("calculator", '{"expression": "1"}')])
        )
        result, _ = run(looping)
        assert (result.status, result.detail) == ("step_limit", "no answer after 5 model calls")
        assert len([s for s in result.steps if s.kind == "model"]) == LIMITS.max_steps

    def test_should_end_with_token_limit_when_the_tokens_are_spent(self) -> None:
        spender = Scripted(
            lambda messages: completion(calls=[tool_call("calculator", '{"expression": "1"}')], tokens=600)
        )
        result, _ = run(spender)
        assert (result.status, result.tokens) == ("token_limit", 1200)
        assert spender.seen[1]["max_tokens"] == 400  # what was left after the first call

    def test_should_end_with_time_limit_when_the_model_does_not_answer_in_time(self) -> None:
        async def silent(messages, tools, max_tokens, tool_choice):
            await asyncio.sleep(10)

        result, _ = run(
            silent,
            Limits(max_steps=3, max_tokens=100, max_tokens_per_call=10, wall_time_s=0.05, tool_time_s=1),
        )
        assert result.status == "time_limit" and result.answer is None

    def test_should_end_with_time_limit_when_the_run_spent_its_time_on_tools(self) -> None:
        now = [0.0]

        async def slow_tool() -> str:
            now[0] += 40  # the clock the loop reads moves on while the tool runs
            return "ok"

        tools = {"slow": Tool("slow", "", {"type": "object"}, slow_tool)}
        model = Scripted(lambda messages: completion(calls=[tool_call("slow", "{}")]))
        result, _ = run(model, tools=tools, clock=lambda: now[0])
        assert (result.status, result.detail) == ("time_limit", "the run took its 30 s")

    def test_should_show_the_model_the_timeout_and_go_on_when_a_tool_outlasts_its_time(self) -> None:
        async def hangs() -> str:
            await asyncio.sleep(3600)
            return "never"

        tools = {"hangs": Tool("hangs", "", {"type": "object"}, hangs)}
        model = Scripted(
            lambda messages: (
                completion(f"seen: {last_tool_result(messages)['error']}")
                if any(m["role"] == "tool" for m in messages)
                else completion(calls=[tool_call("hangs", "{}")])
            )
        )
        limits = Limits(
            max_steps=5, max_tokens=1000, max_tokens_per_call=500, wall_time_s=30, tool_time_s=0.05
        )
        result, _ = run(model, limits=limits, tools=tools)
        assert (result.status, result.answer) == ("completed", "seen: hangs took longer than 0.05 s")
        assert [(s.kind, s.error) for s in result.steps] == [
            ("model", None), ("tool", "hangs took longer than 0.05 s"), ("model", None)
        ]  # fmt: skip


class TestFailures:
    def test_should_end_with_model_error_and_keep_the_trace_when_the_model_call_fails(self) -> None:
        async def broken(messages, tools, max_tokens, tool_choice):
            raise ConnectionError("LLMServer:tiny is gone")

        result, _ = run(broken)
        assert (result.status, result.detail) == ("model_error", "LLMServer:tiny is gone")
        assert result.to_json()["steps"] == [
            {
                "kind": "model",
                "duration_s": result.steps[0].duration_s,
                "error": "ConnectionError: LLMServer:tiny is gone",
                "repaired": False,
            }
        ]
