"""serve_app.agent: the agent ingress's run endpoint over fake gateway and RAG handles, without Ray."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from ray import serve
from starlette.requests import Request

from serve_app.agent import AgentIngress, AgentRequest
from serve_app.config import AgentArgs
from serve_app.errors import ApiError
from serve_app.vector_store import Chunk, Hit

ARGS = AgentArgs.model_validate({"llm": {"model": "chat"}, "ragApp": "rag", "limits": {"maxSteps": 4}})


class Remote:
    def __init__(self, function) -> None:
        self.function, self.calls = function, []

    async def remote(self, *args):
        self.calls.append(args)
        return self.function(*args)


class FakeGateway:
    """Answers like `OpenAiGateway.chat_completion`: a forced tool gets its call, else an answer."""

    def __init__(self) -> None:
        self.chat_completion = Remote(self._answer)

    @staticmethod
    def _answer(chat: dict, headers: dict, request_id: str) -> dict[str, Any]:
        choice = chat.get("tool_choice")
        if isinstance(choice, dict):
            name = choice["function"]["name"]
            arguments = {"calculator": {"expression": "6 * 7"}, "retrieve": {"query": "refunds"}}[name]
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps(arguments)},
                    }
                ],
            }
        else:
            results = [json.loads(m["content"]) for m in chat["messages"] if m["role"] == "tool"]
            message = {"role": "assistant", "content": f"answer from {results}"}
        return {
            "backend": "tiny",
            "completion": {"choices": [{"message": message}], "usage": {"total_tokens": 5}},
        }


class FakeRag:
    def __init__(self) -> None:
        self.search = Remote(self._search)

    @staticmethod
    def _search(query: str, top_k: int) -> list:
        return [
            Hit(Chunk(id="d1-0", doc_id="d1", source="refunds.md", text="Refunds take five days."), score=0.9)
        ]


def request(headers: dict[str, str] | None = None) -> Request:
    raw = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "method": "POST", "path": "/run", "headers": raw})


@pytest.fixture
def agent(monkeypatch: pytest.MonkeyPatch) -> tuple[AgentIngress, FakeGateway, FakeRag]:
    gateway, rag = FakeGateway(), FakeRag()
    handles = {"OpenAiGateway": gateway, "RagIngress": rag}
    monkeypatch.setattr(serve, "get_deployment_handle", lambda name, app_name: handles[name])
    return AgentIngress(ARGS), gateway, rag


def run(ingress: AgentIngress, headers: dict[str, str] | None = None, **body) -> dict[str, Any]:
    return asyncio.run(ingress.run(AgentRequest.model_validate(body), request(headers)))


class TestAgentRun:
    def test_should_run_the_plan_then_answer_with_a_trace_when_tools_are_forced(self, agent) -> None:
        ingress, gateway, rag = agent
        result = run(
            ingress,
            task="How long do refunds take, times 6 * 7?",
            plan=["retrieve", "calculator"],
            then="none",
        )
        assert (result["status"], result["model"]) == ("completed", "chat")
        assert [(s["kind"], s.get("tool")) for s in result["steps"]] == [
            ("model", None), ("tool", "retrieve"), ("model", None), ("tool", "calculator"), ("model", None)
        ]  # fmt: skip
        assert result["steps"][1]["result"][0]["source"] == "refunds.md"
        assert result["steps"][3]["result"] == 42
        assert [call[0].get("tool_choice") for call in gateway.chat_completion.calls] == [
            {"type": "function", "function": {"name": "retrieve"}},
            {"type": "function", "function": {"name": "calculator"}},
            "none",
        ]
        assert rag.search.calls == [("refunds", 4)]

    def test_should_run_the_scripted_calls_before_the_first_model_call_when_calls_are_given(
        self, agent
    ) -> None:
        ingress, gateway, rag = agent
        result = run(
            ingress,
            task="How long do refunds take, in hours?",
            calls=[
                {"tool": "retrieve", "arguments": {"query": "refunds"}},
                {"tool": "calculator", "arguments": {"expression": "5 * 24"}},
            ],
            then="none",
        )
        assert result["status"] == "completed"
        assert [(s["kind"], s.get("tool")) for s in result["steps"]] == [
            ("tool", "retrieve"), ("tool", "calculator"), ("model", None)
        ]  # fmt: skip
        assert [s.get("arguments") for s in result["steps"][:2]] == [
            '{"query": "refunds"}', '{"expression": "5 * 24"}'
        ]  # fmt: skip
        assert result["steps"][1]["result"] == 120 and rag.search.calls == [("refunds", 4)]
        # The model sees the calls as its own turn and their results, once, then must answer.
        ((chat, _, _),) = gateway.chat_completion.calls
        assert chat["tool_choice"] == "none"
        assert [m["role"] for m in chat["messages"]] == ["system", "user", "assistant", "tool", "tool"]
        assert [c["function"]["name"] for c in chat["messages"][2]["tool_calls"]] == [
            "retrieve",
            "calculator",
        ]
        assert [m["tool_call_id"] for m in chat["messages"][3:]] == [
            c["id"] for c in chat["messages"][2]["tool_calls"]
        ]
        assert json.loads(chat["messages"][4]["content"]) == {"result": 120}

    def test_should_send_the_model_and_every_tool_when_calling_the_gateway(self, agent) -> None:
        ingress, gateway, _ = agent
        run(
            ingress,
            task="hi",
            model="tiny-canary",
            then="none",
            headers={"x-user-id": "u1", "authorization": "Bearer k"},
        )
        chat, headers, _ = gateway.chat_completion.calls[0]
        assert chat["model"] == "tiny-canary"
        assert [t["function"]["name"] for t in chat["tools"]] == ["calculator", "clock", "retrieve"]
        assert headers == {"x-user-id": "u1"}  # the sticky header goes on, credentials stay

    def test_should_offer_only_the_named_tools_when_the_request_picks_some(self, agent) -> None:
        ingress, gateway, _ = agent
        run(ingress, task="hi", tools=["clock"], then="none")
        assert [t["function"]["name"] for t in gateway.chat_completion.calls[0][0]["tools"]] == ["clock"]

    def test_should_cap_the_steps_at_the_apps_limit_when_the_request_asks_for_more(self, agent) -> None:
        ingress, _, _ = agent
        result = run(ingress, task="loop", plan=["calculator"] * 10, max_steps=50)
        assert (result["status"], result["detail"]) == ("step_limit", "no answer after 4 model calls")

    @pytest.mark.parametrize(
        ("body", "param"),
        [
            ({"task": "x", "tools": ["shell"]}, "tools"),
            ({"task": "x", "tools": ["clock"], "plan": ["calculator"]}, "plan"),
            ({"task": "x", "calls": [{"tool": "shell"}]}, "calls"),
            ({"task": "x", "tools": ["clock"], "calls": [{"tool": "calculator", "arguments": {}}]}, "calls"),
            ({"task": "x", "calls": [{"tool": "calculator", "arguments": {"expression": 6}}]}, "calls"),
            ({"task": "x", "calls": [{"tool": "clock", "arguments": {"tz": "UTC"}}]}, "calls"),
        ],
    )
    def test_should_answer_400_naming_the_field_when_a_tool_is_unknown_or_not_offered(
        self, agent, body, param
    ) -> None:
        with pytest.raises(ApiError) as err:
            run(agent[0], **body)
        assert (err.value.status, err.value.param) == (400, param)

    def test_should_end_with_model_error_when_the_gateway_fails(self, agent) -> None:
        ingress, gateway, _ = agent

        def unavailable(*_):
            raise ApiError(503, "LLMServer:tiny has no replica", code="upstream_unavailable")

        gateway.chat_completion.function = unavailable
        result = run(ingress, task="hi")
        assert (result["status"], result["detail"]) == ("model_error", "LLMServer:tiny has no replica")


class Recorded:
    """A Ray metric that notes what it was given: (value, tags) per inc or observe."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, dict]] = []

    def inc(self, value: float = 1.0, tags: dict | None = None) -> None:
        self.seen.append((value, tags or {}))

    def observe(self, value: float, tags: dict | None = None) -> None:
        self.seen.append((value, tags or {}))


class TestAgentMetrics:
    def test_should_count_the_run_its_steps_and_each_tool_call_when_a_run_ends(self, agent) -> None:
        ingress = agent[0]
        ingress._runs, ingress._steps = Recorded(), Recorded()
        ingress._tool_calls, ingress._tool_latency = Recorded(), Recorded()
        run(
            ingress,
            task="How long do refunds take?",
            calls=[
                {"tool": "retrieve", "arguments": {"query": "refunds"}},
                {"tool": "calculator", "arguments": {"expression": "1 / 0"}},
            ],
            then="none",
        )
        assert ingress._runs.seen == [(1.0, {"status": "completed"})]
        assert ingress._steps.seen == [(3, {})]
        assert ingress._tool_calls.seen == [
            (1.0, {"tool": "retrieve", "outcome": "ok"}), (1.0, {"tool": "calculator", "outcome": "error"})
        ]  # fmt: skip
        assert [tags for _, tags in ingress._tool_latency.seen] == [
            {"tool": "retrieve"},
            {"tool": "calculator"},
        ]
        assert all(seconds >= 0 for seconds, _ in ingress._tool_latency.seen)
