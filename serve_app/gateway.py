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
from typing import Annotated, Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from ray.llm._internal.serve.core.configs.openai_api_models import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    ErrorResponse,
    ModelList,
)
from ray.llm._internal.serve.core.ingress.ingress import DEFAULT_ENDPOINTS
from ray.serve.handle import DeploymentHandle
from ray.serve.llm.ingress import OpenAiIngress
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, Response, StreamingResponse

from serve_app.availability import Availability
from serve_app.config import RESPONSE_TIMEOUT_S, STREAM_IDLE_TIMEOUT_S, RoutingConfig
from serve_app.errors import ApiError, api_error, api_errors, from_status, guard_stream, upstream_unavailable
from serve_app.guard import load_api_keys
from serve_app.health import readiness_response
from serve_app.routing import Route, Router
from serve_app.tool_requests import tool_request_error
from serve_app.web import parse_body, serve_request_id, validate_body

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
# OpenAI's Files and Batches API, served when the gateway has a Batcher.
BATCH_ENDPOINTS = {
    "create_file": lambda app: app.post("/v1/files"),
    "retrieve_file": lambda app: app.get("/v1/files/{file_id}"),
    "file_content": lambda app: app.get("/v1/files/{file_id}/content"),
    "delete_file": lambda app: app.delete("/v1/files/{file_id}"),
    "create_batch": lambda app: app.post("/v1/batches"),
    "list_batches": lambda app: app.get("/v1/batches"),
    "retrieve_batch": lambda app: app.get("/v1/batches/{batch_id}"),
    "cancel_batch": lambda app: app.post("/v1/batches/{batch_id}/cancel"),
}

OpenAiBody = ChatCompletionRequest | CompletionRequest | EmbeddingRequest


class BatchCreate(BaseModel):
    """`POST /v1/batches`'s body; the Batcher checks the values."""

    model_config = ConfigDict(extra="forbid")

    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict[str, Annotated[str, StringConstraints(max_length=512)]] | None = Field(
        default=None, max_length=16
    )


# A batch endpoint → the request model of its lines and Ray Serve LLM's call method.
BATCH_CALLS: dict[str, tuple[Any, str]] = {
    "/v1/chat/completions": (ChatCompletionRequest, "chat"),
    "/v1/completions": (CompletionRequest, "completions"),
    "/v1/embeddings": (EmbeddingRequest, "embeddings"),
}


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
        priority_models: frozenset[str] = frozenset(),
        batcher: DeploymentHandle | None = None,
        batch_wait_s: float = 0.0,
        batch_start_wait_s: float = 0.0,
    ) -> None:
        super().__init__(llm_deployments, model_cards, lora_paths=lora_paths)
        # Fail the replica's start, not its first request, when the key Secret is missing.
        load_api_keys(api_keys_env)
        self._deployment_names = deployment_names
        self._availability = Availability(deployment_names)
        self._stream_idle_timeout_s = stream_idle_timeout_s
        self._response_timeout_s = response_timeout_s
        self._auto_tool_models = frozenset(auto_tool_models)
        self._priority_models = frozenset(priority_models)
        self._batcher = batcher
        self._batch_wait_s = batch_wait_s  # the longest a batch line waits its turn on the model
        self._batch_start_wait_s = batch_start_wait_s  # ... and for its model to start
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

    async def models(self) -> ModelList:
        """The served models a request can reach: one that Serve is starting or restarting with no
        replica running is left out until it can answer (its requests get 503 + Retry-After meanwhile),
        so a client waiting for its model to appear here never sends into a minute of silence."""
        listed = await super().models()
        reachable = set(await self._availability.reachable([card.id for card in listed.data]))
        return ModelList(data=[card for card in listed.data if card.id in reachable])

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
        completion = await self._complete(request, "chat", headers, request_id)
        return {"backend": request.model, "completion": completion}

    async def batch_line(
        self, endpoint: str, body: dict[str, Any], request_id: str, priority: int
    ) -> tuple[int, dict[str, Any]]:
        """One line of a batch (the Batcher's call): (200, the answer) or (status, OpenAI error body),
        never an exception, routed like an HTTP request to `endpoint`; on a model with priority
        scheduling it runs at `priority`, after interactive requests; a line for a model that is
        starting waits for it first (nobody waits on the line interactively)."""
        body_type, call_method = BATCH_CALLS[endpoint]
        try:
            request = validate_body(body, body_type)
            return 200, await self._complete(
                request, call_method, {}, request_id, priority=priority, start_wait_s=self._batch_start_wait_s
            )
        except Exception as exc:
            error = api_error(exc)
            return error.status, error.body()

    async def _complete(
        self,
        request: OpenAiBody,
        call_method: str,
        headers: Mapping[str, str],
        request_id: str,
        priority: int | None = None,
        start_wait_s: float = 0.0,
    ) -> dict[str, Any]:
        """The whole (non-streamed) answer to `request`, routed; `request.model` becomes the served model,
        and `priority` the request's if that model schedules by priority (vLLM refuses it otherwise);
        a model that is starting is waited for up to `start_wait_s` before the request is sent."""
        self._route(request, headers, request_id)
        timeout_s = self._response_timeout_s
        if priority is not None and request.model in self._priority_models:
            request.priority = priority
            # A background request may first wait its turn on the replica (serve_app/turns.py).
            timeout_s = None if timeout_s is None else timeout_s + self._batch_wait_s
        self._refuse_what_the_model_would(request)
        if start_wait_s:
            await self._availability.until_started(request.model, start_wait_s)
        responses = self._get_response(body=request, call_method=call_method)
        try:
            # Not streaming: the first (and only) item is the whole completion.
            first = await self._availability.answer(request.model, anext(responses, None), timeout_s)
        finally:
            await responses.aclose()
        if first is None:
            raise upstream_unavailable("The model returned no response.")
        if isinstance(first, ErrorResponse):
            raise from_status(int(first.error.code), first.error.message, first.error.param)
        return first.model_dump()

    # Files and Batches: the Batcher holds them (BATCH_ENDPOINTS routes here only when there is one).

    @api_errors
    async def create_file(self, request: Request) -> JSONResponse:
        form = await request.form(max_files=1, max_fields=2)
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "a multipart field `file` with the JSONL file is required", param="file")
        if not isinstance(purpose, str):
            raise ApiError(400, "a multipart field `purpose` (batch) is required", param="purpose")
        content = await upload.read()
        return JSONResponse(await self._batcher.create_file.remote(upload.filename or "", purpose, content))

    @api_errors
    async def retrieve_file(self, file_id: str) -> JSONResponse:
        return JSONResponse(await self._batcher.file.remote(file_id))

    @api_errors
    async def file_content(self, file_id: str) -> Response:
        content = await self._batcher.file_content.remote(file_id)
        return Response(content, media_type="application/jsonl")

    @api_errors
    async def delete_file(self, file_id: str) -> JSONResponse:
        return JSONResponse(await self._batcher.delete_file.remote(file_id))

    @api_errors
    async def create_batch(self, request: Request) -> JSONResponse:
        body = await parse_body(request, BatchCreate)
        batch = await self._batcher.create_batch.remote(
            body.input_file_id, body.endpoint, body.completion_window, body.metadata
        )
        return JSONResponse(batch)

    @api_errors
    async def list_batches(self, limit: int = 20, after: str | None = None) -> JSONResponse:
        return JSONResponse(await self._batcher.batches.remote(limit, after))

    @api_errors
    async def retrieve_batch(self, batch_id: str) -> JSONResponse:
        return JSONResponse(await self._batcher.batch.remote(batch_id))

    @api_errors
    async def cancel_batch(self, batch_id: str) -> JSONResponse:
        return JSONResponse(await self._batcher.cancel.remote(batch_id))

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
