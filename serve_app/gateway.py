"""`OpenAiGateway`: Ray Serve LLM's OpenAI ingress plus routing, readiness and OpenAI-shaped errors.

The OpenAI endpoints, streaming and the calls into each `LLMServer` are Ray Serve LLM's own
(`OpenAiIngress`); this subclass only decides which served model a request goes to, reports that
model in the `x-backend-model` response header, refuses tool requests the resolved model would refuse
(tool_requests.py), turns failures into OpenAI errors (errors.py) and answers `/healthz`. The API-key
check and body limit run before it, in the app's middleware (web.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import Request
from ray.llm._internal.serve.core.configs.openai_api_models import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    ErrorResponse,
)
from ray.llm._internal.serve.core.ingress.ingress import DEFAULT_ENDPOINTS
from ray.serve.handle import DeploymentHandle
from ray.serve.llm.ingress import OpenAiIngress
from starlette.responses import JSONResponse, Response, StreamingResponse

from serve_app.availability import Availability
from serve_app.config import RESPONSE_TIMEOUT_S, STREAM_IDLE_TIMEOUT_S, RoutingConfig
from serve_app.errors import api_errors, from_status, guard_stream, upstream_unavailable
from serve_app.guard import load_api_keys
from serve_app.health import readiness_response
from serve_app.routing import Route, Router
from serve_app.tool_requests import tool_request_error
from serve_app.web import parse_body, serve_request_id

logger = logging.getLogger("ray.serve")

BACKEND_HEADER = "x-backend-model"

# Ray Serve LLM's route declarations for the OpenAI endpoints this gateway serves, plus /healthz.
GATEWAY_ENDPOINTS = {
    **{
        name: DEFAULT_ENDPOINTS[name]
        for name in ("models", "model_data", "completions", "chat", "embeddings")
    },
    "healthz": lambda app: app.get("/healthz"),
}

OpenAiBody = ChatCompletionRequest | CompletionRequest | EmbeddingRequest


class OpenAiGateway(OpenAiIngress):
    def __init__(
        self,
        llm_deployments: dict[str, DeploymentHandle],
        model_cards: dict[str, Any],
        *,
        lora_paths: dict[str, str] | None = None,
        deployment_names: dict[str, str],
        api_keys_env: str = "",
        stream_idle_timeout_s: float | None = STREAM_IDLE_TIMEOUT_S,
        response_timeout_s: float | None = RESPONSE_TIMEOUT_S,
        auto_tool_models: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(llm_deployments, model_cards, lora_paths=lora_paths)
        # Fail the replica's start, not its first request, when the key Secret is missing.
        load_api_keys(api_keys_env)
        self._deployment_names = deployment_names
        self._availability = Availability(deployment_names)
        self._stream_idle_timeout_s = stream_idle_timeout_s
        self._response_timeout_s = response_timeout_s
        self._auto_tool_models = frozenset(auto_tool_models)
        self._router = Router(RoutingConfig(), model_cards)
        self._routing_applied = False
        self._routing_error: str | None = None

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Serve calls this with the deployment's `user_config` at start and on every change.

        An invalid first routing fails the replica (and so the deploy). An invalid update keeps the
        last good routing and is reported by /healthz: raising would make Serve replace every gateway
        replica with ones that fail the same way, taking the whole API down.
        """
        try:
            router = Router(RoutingConfig.model_validate(user_config), self._model_cards)
        except ValueError as err:
            if not self._routing_applied:
                raise
            logger.error("Routing update rejected, the previous routing stays: %s", err)
            self._routing_error = str(err)
            return
        self._router, self._routing_applied, self._routing_error = router, True, None

    async def healthz(self) -> JSONResponse:
        routing = {"routing": {"error": self._routing_error}} if self._routing_error else {}
        return await readiness_response(self._deployment_names, extra=routing)

    # The bodies are parsed here, not by FastAPI: vLLM's request models raise more than validation
    # errors on malformed input, and every one of those is the client's 400.
    @api_errors
    async def chat(self, request: Request) -> Response:
        return await self._routed(await parse_body(request, ChatCompletionRequest), request, super().chat)

    @api_errors
    async def completions(self, request: Request) -> Response:
        return await self._routed(await parse_body(request, CompletionRequest), request, super().completions)

    @api_errors
    async def embeddings(self, request: Request) -> Response:
        return await self._routed(await parse_body(request, EmbeddingRequest), request, super().embeddings)

    async def chat_completion(
        self, body: dict[str, Any], headers: Mapping[str, str], request_id: str
    ) -> dict:
        """A non-streaming chat completion for other deployments (the RAG and agent apps) via a
        DeploymentHandle.

        Same routing as HTTP callers; returns `{"backend": <served model>, "completion": <response>}`.
        """
        request = ChatCompletionRequest.model_validate({**body, "stream": False})
        self._route(request, headers, request_id)  # request.model is now the served model
        self._refuse_what_the_model_would(request)
        responses = self._get_response(body=request, call_method="chat")
        try:
            # Not streaming: the first (and only) item is the whole completion.
            first = await self._availability.answer(
                request.model, anext(responses, None), self._response_timeout_s
            )
        finally:
            await responses.aclose()
        if first is None:
            raise upstream_unavailable("The model returned no response.")
        if isinstance(first, ErrorResponse):
            raise from_status(int(first.error.code), first.error.message, first.error.param)
        return {"backend": request.model, "completion": first.model_dump()}

    def _route(self, body: OpenAiBody, headers: Mapping[str, str], request_id: str) -> Route | None:
        """Rewrites `body.model` to the served model; None when the client named no model."""
        if body.model is None:
            return None
        route = self._router.resolve(body.model, headers, request_id)
        body.model = route.model
        return route

    def _refuse_what_the_model_would(self, body: OpenAiBody) -> None:
        """The client's 400 for a tool request the resolved model would refuse (tool_requests.py)."""
        if body.model is not None and (error := tool_request_error(body, body.model, self._auto_tool_models)):
            raise error

    async def _routed(
        self, body: OpenAiBody, request: Request, handler: Callable[[Any, Request], Awaitable[Response]]
    ) -> Response:
        route = self._route(body, request.headers, serve_request_id(request))
        self._refuse_what_the_model_would(body)
        # Until the response starts (a stream's first chunk, a whole non-streamed completion): a model
        # that loses its last replica gets a 503 at once instead of a wait for the replacement.
        streaming = bool(getattr(body, "stream", False))
        timeout_s = self._stream_idle_timeout_s if streaming else self._response_timeout_s
        response = await self._availability.answer(body.model, handler(body, request), timeout_s)
        if isinstance(response, StreamingResponse):
            response.body_iterator = guard_stream(response.body_iterator, self._stream_idle_timeout_s)
        if route is not None:
            response.headers[BACKEND_HEADER] = route.model
        return response
