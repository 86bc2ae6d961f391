"""The agent's loop: the model picks tools, the loop runs them, their results go back to the model, and
the model's next answer decides the next step, until it answers without a tool call or a limit ends
the run. Every step is traced; a limit or a failed model call ends the run with a status, never a hang.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from serve_app.agent_tools import Tool, run_tool

# A model call: (messages, tool specs, max_tokens, tool_choice) → (the served model that answered,
# the chat completion as OpenAI's dict).
ModelCall = Callable[
    [list[dict[str, Any]], list[dict[str, Any]], int, Any], Awaitable[tuple[str, dict[str, Any]]]
]

STATUSES = ("completed", "step_limit", "token_limit", "time_limit", "model_error")


@dataclass(frozen=True)
class Limits:
    max_steps: int  # model calls per run
    max_tokens: int  # prompt + completion tokens over every model call
    max_tokens_per_call: int  # completion tokens of one call (the model's context bounds it too)
    wall_time_s: float  # the whole run
    tool_time_s: float  # one tool call


@dataclass
class Step:
    kind: str  # "model" or "tool"
    duration_s: float
    model: str | None = None  # the served model that answered (a model step)
    tool_calls: int | None = None  # how many tools it asked for (a model step)
    tool: str | None = None  # a tool step
    arguments: str | None = None
    result: Any = None
    error: str | None = None
    repaired: bool = False


@dataclass
class AgentRun:
    status: str = "completed"
    answer: str | None = None
    detail: str = ""  # why a run that did not complete ended
    tokens: int = 0
    steps: list[Step] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "steps": [{k: v for k, v in asdict(s).items() if v is not None} for s in self.steps],
        }


async def run_agent(
    messages: list[dict[str, Any]],
    call_model: ModelCall,
    tools: Mapping[str, Tool],
    limits: Limits,
    tool_choice: Callable[[int], Any] = lambda step: "auto",
    clock: Callable[[], float] = time.monotonic,
    calls: Sequence[tuple[str, str]] = (),
) -> AgentRun:
    """Runs a task given as chat messages; `messages` grows with the run's turns. `tool_choice(i)` is
    the i-th model call's `tool_choice` (a plan of forced tools). `calls` (tool name, JSON arguments)
    run first, in order, as if the model had asked for them: steps the caller scripts (a retrieval
    every run starts with), deterministic whatever the model."""
    run, started = AgentRun(), clock()
    specs = [tool.spec() for tool in tools.values()]
    if calls:
        scripted = [
            {
                "id": f"call_scripted_{i}",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
            for i, (name, arguments) in enumerate(calls)
        ]
        await _run_calls(run, messages, scripted, tools, limits, clock)
    for step in range(limits.max_steps):
        left_s = limits.wall_time_s - (clock() - started)
        if left_s <= 0:
            return _ended(run, "time_limit", f"the run took its {limits.wall_time_s:g} s")
        if run.tokens >= limits.max_tokens:
            return _ended(run, "token_limit", f"the run used {run.tokens} of {limits.max_tokens} tokens")
        step_started = clock()
        try:
            model, completion = await asyncio.wait_for(
                call_model(
                    messages,
                    specs,
                    min(limits.max_tokens - run.tokens, limits.max_tokens_per_call),
                    tool_choice(step),
                ),
                left_s,
            )
        except TimeoutError:
            return _ended(
                run, "time_limit", f"the model did not answer within the run's {limits.wall_time_s:g} s"
            )
        except Exception as err:  # the run ends with the reason; the caller answers 200 with the trace
            detail = getattr(err, "message", None) or str(err)  # an ApiError of the gateway has one
            run.steps.append(Step("model", clock() - step_started, error=f"{type(err).__name__}: {detail}"))
            return _ended(run, "model_error", detail)
        run.tokens += int((completion.get("usage") or {}).get("total_tokens") or 0)
        message = completion["choices"][0]["message"]
        calls = message.get("tool_calls") or []
        run.steps.append(Step("model", clock() - step_started, model=model, tool_calls=len(calls)))
        if not calls:
            run.answer = message.get("content") or ""
            return run
        await _run_calls(run, messages, calls, tools, limits, clock, content=message.get("content"))
    return _ended(run, "step_limit", f"no answer after {limits.max_steps} model calls")


async def _run_calls(
    run: AgentRun,
    messages: list[dict[str, Any]],
    calls: list[dict[str, Any]],
    tools: Mapping[str, Tool],
    limits: Limits,
    clock: Callable[[], float],
    content: str | None = None,
) -> None:
    """The assistant turn that asked for `calls`, then each call run, traced, its result a tool turn."""
    messages.append({"role": "assistant", "content": content, "tool_calls": calls})
    for call in calls:
        function = call.get("function") or {}
        tool_started = clock()
        outcome = await run_tool(
            tools, function.get("name", ""), function.get("arguments") or "", limits.tool_time_s
        )
        run.steps.append(
            Step(
                "tool", clock() - tool_started, tool=function.get("name", ""),
                arguments=function.get("arguments"), result=outcome.result, error=outcome.error,
                repaired=outcome.repaired,
            )
        )  # fmt: skip
        messages.append(
            {"role": "tool", "tool_call_id": call.get("id", ""), "content": outcome.message_content()}
        )


def _ended(run: AgentRun, status: str, detail: str) -> AgentRun:
    run.status, run.detail = status, detail
    return run
