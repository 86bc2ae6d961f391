"""`AgentIngress`: runs a task as a loop of model calls and tool calls (agent_loop.py) over the gateway.

The model calls go to the `llm` application's `OpenAiGateway` through a DeploymentHandle, so aliases,
size tiers and canaries resolve as for a chat request; the retrieval tool searches the `rag`
application's collection through its handle. `POST <routePrefix>/run` answers 200 with the run's
status, answer and trace whatever the model does; only a bad request is a 4xx.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any

import httpx
from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field
from ray.serve import metrics
from starlette.responses import JSONResponse

from serve_app.agent_loop import AgentRun, Limits, run_agent
from serve_app.agent_tools import CALCULATOR, CLOCK, Tool, http_tool, retrieval_tool
from serve_app.config import AGENT_DEPLOYMENT, GATEWAY_DEPLOYMENT, RAG_DEPLOYMENT, AgentArgs, RouteName
from serve_app.errors import ApiError, api_errors
from serve_app.guard import PRIVATE_HEADERS, load_api_keys
from serve_app.handles import LazyHandle
from serve_app.health import readiness_response
from serve_app.rag import hit_json
from serve_app.web import serve_request_id

logger = logging.getLogger("ray.serve")

AGENT_ENDPOINTS = {
    "run": lambda app: app.post("/run"),
    "healthz": lambda app: app.get("/healthz"),
}
# Steps and tool latencies of a run on a CPU model take seconds; on a GPU, fractions of one.
STEP_BUCKETS = [1, 2, 3, 4, 6, 8, 12, 16, 32, 64]
LATENCY_BUCKETS_S = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60]


class ScriptedCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class AgentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str = Field(min_length=1, max_length=32_000)
    model: RouteName | None = None  # default: the app's `llm.model`
    tools: list[str] | None = None  # a subset of the app's tools; default: all
    # Forced tools for the first model calls, in order; then `then` ("auto": the model chooses,
    # "none": it must answer). A plan makes a random-weight model's run deterministic.
    plan: list[str] = Field(default_factory=list, max_length=64)
    then: str = Field(default="auto", pattern="^(auto|none)$")
    # Tool calls the agent makes first, with these arguments, before the first model call (a
    # retrieval every run starts with): traced like the model's own calls.
    calls: list[ScriptedCall] = Field(default_factory=list, max_length=16)
    max_steps: int | None = Field(default=None, ge=1)


class AgentIngress:
    def __init__(self, args: AgentArgs) -> None:
        load_api_keys(args.api_keys_env)
        self._args = args
        self._gateway = LazyHandle(GATEWAY_DEPLOYMENT, args.llm.app)
        self._rag = LazyHandle(RAG_DEPLOYMENT, args.rag_app) if args.rag_app else None
        self._tools = self._build_tools()
        self._runs = metrics.Counter("agent_runs", "Agent runs, by how they ended.", tag_keys=("status",))
        self._steps = metrics.Histogram(
            "agent_steps_per_run", "Model and tool steps of an agent run.", boundaries=STEP_BUCKETS
        )
        self._tool_calls = metrics.Counter(
            "agent_tool_calls", "Tool calls of agent runs, by tool and outcome.", tag_keys=("tool", "outcome")
        )
        self._tool_latency = metrics.Histogram(
            "agent_tool_latency_s",
            "Seconds one tool call took.",
            boundaries=LATENCY_BUCKETS_S,
            tag_keys=("tool",),
        )

    def _build_tools(self) -> dict[str, Tool]:
        tools = [CALCULATOR, CLOCK]
        if self._args.rag_app:
            tools.append(retrieval_tool(self._search, self._args.top_k))
        if self._args.http.allowed_hosts:
            tools.append(http_tool(self._http_get, frozenset(self._args.http.allowed_hosts)))
        return {tool.name: tool for tool in tools}

    async def _search(self, query: str, top_k: int) -> list[dict[str, Any]]:
        return [hit_json(hit) for hit in await self._rag.get().search.remote(query, top_k)]

    async def _http_get(self, url: str) -> str:
        limit = self._args.http.max_bytes
        body = b""
        async with (
            httpx.AsyncClient(follow_redirects=False, timeout=self._args.limits.tool_time_s) as client,
            client.stream("GET", url) as response,
        ):
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= limit:
                    break
        return f"HTTP {response.status_code}\n" + body[:limit].decode("utf-8", "replace")

    @api_errors
    async def run(self, body: AgentRequest, request: Request) -> dict[str, Any]:
        tools = self._pick_tools(body)
        limits = Limits(**self._args.limits.model_dump())
        if body.max_steps is not None:
            limits = dataclasses.replace(limits, max_steps=min(body.max_steps, limits.max_steps))
        model = body.model or self._args.llm.model
        headers = {k: v for k, v in request.headers.items() if k not in PRIVATE_HEADERS}
        request_id = serve_request_id(request)

        async def call_model(messages, specs, max_tokens, tool_choice) -> tuple[str, dict[str, Any]]:
            chat = {"model": model, "messages": messages, "max_tokens": max_tokens}
            if specs:
                chat |= {"tools": specs, "tool_choice": tool_choice}
            result = await self._gateway.get().chat_completion.remote(chat, headers, request_id)
            return result["backend"], result["completion"]

        def tool_choice(step: int) -> Any:
            if step < len(body.plan):
                return {"type": "function", "function": {"name": body.plan[step]}}
            return body.then

        messages = [
            {"role": "system", "content": self._args.system_prompt},
            {"role": "user", "content": body.task},
        ]
        started = time.monotonic()
        calls = [(call.tool, json.dumps(call.arguments)) for call in body.calls]
        run = await run_agent(messages, call_model, tools, limits, tool_choice, calls=calls)
        self._record(run)
        logger.info(
            "Agent run %s in %.1f s, %d steps", run.status, time.monotonic() - started, len(run.steps)
        )
        return {"model": model, **run.to_json()}

    def _pick_tools(self, body: AgentRequest) -> dict[str, Tool]:
        """The tools the request offers the model; a 400 naming the field that asks for another."""
        offered = list(self._tools) if body.tools is None else body.tools
        named = {"tools": (body.tools or [], self._tools), "plan": (body.plan, offered)}
        named["calls"] = ([call.tool for call in body.calls], offered)
        for param, (names, allowed) in named.items():
            if unknown := sorted(set(names) - set(allowed)):
                raise ApiError(
                    400,
                    f"unknown or unavailable tools {unknown} in `{param}`; it may name {sorted(allowed)}",
                    param=param,
                )
        tools = {name: self._tools[name] for name in offered}
        for i, call in enumerate(body.calls):
            if problem := tools[call.tool].argument_problem(call.arguments):
                raise ApiError(
                    400, f"calls[{i}].arguments do not fit tool {call.tool!r}: {problem}", param="calls"
                )
        return tools

    def _record(self, run: AgentRun) -> None:
        self._runs.inc(tags={"status": run.status})
        self._steps.observe(len(run.steps))
        for step in run.steps:
            if step.kind == "tool":
                outcome = "error" if step.error else "ok"
                self._tool_calls.inc(tags={"tool": step.tool or "", "outcome": outcome})
                self._tool_latency.observe(step.duration_s, tags={"tool": step.tool or ""})

    async def healthz(self) -> JSONResponse:
        return await readiness_response({"ingress": AGENT_DEPLOYMENT})
