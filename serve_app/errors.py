"""OpenAI-shaped errors: one mapping from any exception to a status, a body and headers.

Clients get `{"error": {"message", "type", "param", "code"}}` with a 4xx for their own mistakes and a
503 with `Retry-After` for anything on the serving side (overload, a dead or missing replica, an
engine failure, a bug). No request gets a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

import pydantic
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_app.config import STREAM_IDLE_TIMEOUT_S
from serve_app.routing import UnknownModelError

logger = logging.getLogger("ray.serve")

# Seconds a client should wait before retrying: a full queue drains fast, a replica restarts slowly.
OVERLOAD_RETRY_AFTER_S = 1
UNAVAILABLE_RETRY_AFTER_S = 5


_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
    503: "service_unavailable_error",
}
_CODES = {
    400: "invalid_request",
    401: "invalid_api_key",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "service_unavailable",
}


class ApiError(Exception):
    """An error response; picklable, so it crosses DeploymentHandle calls intact."""

    def __init__(
        self,
        status: int,
        message: str,
        # Positional too: pickling re-creates an exception from its args.
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, message, code, param, retry_after)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "error")
        self.param = param
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        error_type = _TYPES.get(self.status, "invalid_request_error" if self.status < 500 else "server_error")
        return {
            "error": {"message": self.message, "type": error_type, "param": self.param, "code": self.code}
        }

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        if self.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return headers

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(
            self.body(), status_code=self.status, headers={**self.headers(), **(headers or {})}
        )


def upstream_unavailable(message: str) -> ApiError:
    return ApiError(503, message, code="upstream_unavailable", retry_after=UNAVAILABLE_RETRY_AFTER_S)


def from_status(status: int, message: str, param: str | None = None) -> ApiError:
    """An error for a status reported by someone else (Starlette, vLLM): server-side ones become 503."""
    if status >= 500 or status == 408:
        return upstream_unavailable(message)
    return ApiError(status, message, param=param)


def _is_vllm_client_error(exc: BaseException) -> bool:
    """vLLM's errors caused by the request. Looked up, not imported: only processes that run vLLM
    can raise them, and importing vLLM would cost every other replica (RAG) ~700 MB of torch."""
    vllm_exceptions = sys.modules.get("vllm.exceptions")
    return vllm_exceptions is not None and isinstance(exc, vllm_exceptions.VLLMClientError)


def _is_vllm_engine_dead(exc: BaseException) -> bool:
    """vLLM's engine core died under the replica (the replica restarts it via its health check)."""
    engine_exceptions = sys.modules.get("vllm.v1.engine.exceptions")
    return engine_exceptions is not None and isinstance(exc, engine_exceptions.EngineDeadError)


def api_error(exc: BaseException) -> ApiError:
    """The response an exception becomes; unexpected ones are logged with their traceback."""
    if isinstance(exc, RayTaskError) and isinstance(exc.cause, BaseException):
        # Raised in another deployment and re-raised by a DeploymentHandle: map what was raised.
        exc = exc.cause
    match exc:
        case ApiError():
            return exc
        case UnknownModelError():
            return ApiError(
                404, f"The model {exc.name!r} does not exist.", code="model_not_found", param="model"
            )
        case BackPressureError():
            return ApiError(
                exc.status_code,
                "The model is at capacity; retry later.",
                code="overloaded",
                retry_after=exc.retry_after_s or OVERLOAD_RETRY_AFTER_S,
            )
        case StarletteHTTPException():
            return from_status(exc.status_code, str(exc.detail))
        case _ if isinstance(getattr(exc, "status_code", None), int):
            # Errors that carry their HTTP status, such as Ray Serve LLM's OpenAIHTTPException.
            return from_status(exc.status_code, str(getattr(exc, "message", "") or exc))
        case DeploymentUnavailableError() | RayActorError() | GetTimeoutError() | asyncio.TimeoutError():
            logger.warning("Upstream unavailable: %s", exc)
            return upstream_unavailable("The model replica is unavailable; retry later.")
        case _ if _is_vllm_engine_dead(exc):
            logger.warning("Model engine dead: %s", exc)
            return upstream_unavailable("The model replica is unavailable; retry later.")
        case pydantic.ValidationError():
            return invalid_request(exc.errors())
        case ValueError():
            return ApiError(400, str(exc).splitlines()[0] or "Invalid request.")
        case _ if _is_vllm_client_error(exc):
            return ApiError(400, str(exc) or "Invalid request.")
    logger.error("Unexpected error while serving a request", exc_info=exc)
    return upstream_unavailable("The request could not be served; retry later.")


def invalid_request(errors: Sequence[Mapping[str, Any]]) -> ApiError:
    """A 400 for pydantic's (or FastAPI's) validation errors, naming the first bad parameter."""
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return ApiError(400, "The request body is not valid JSON.")
    param = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
    where = f" (at {param})" if param else ""
    return ApiError(400, f"Invalid request: {first.get('msg', 'invalid value')}{where}", param=param)


async def _validation_handler(_: Request, exc: RequestValidationError) -> JSONResponse:
    return invalid_request(exc.errors()).response()


async def _http_handler(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    return api_error(exc).response(dict(exc.headers or {}))


class ErrorMiddleware:
    """Turns any exception that escapes the app into an OpenAI error, if no response has started."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            await api_error(exc).response()(scope, receive, send)


P = ParamSpec("P")
R = TypeVar("R")


def api_errors(endpoint: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Endpoint decorator: every exception leaves as an ApiError.

    Ray Serve installs its own FastAPI handlers for BackPressureError and DeploymentUnavailableError
    (plain-text bodies) on ingress apps; converting here keeps those errors OpenAI-shaped.
    """

    @functools.wraps(endpoint)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await endpoint(*args, **kwargs)
        except Exception as exc:
            raise api_error(exc) from exc

    return wrapper


def install_error_handling(app: FastAPI) -> None:
    """Call before adding any other middleware: ErrorMiddleware must be the innermost one."""
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_middleware(ErrorMiddleware)


def sse_error(error: ApiError) -> str:
    return f"data: {json.dumps(error.body())}\n\ndata: [DONE]\n\n"


def upstream_stalled(idle_s: float) -> ApiError:
    return upstream_unavailable(f"The model sent nothing for {idle_s:g} s; retry later.")


async def guard_stream(
    chunks: AsyncIterator[str], idle_timeout_s: float | None = STREAM_IDLE_TIMEOUT_S
) -> AsyncIterator[str]:
    """An SSE stream that ends with an error event instead of a cut connection when upstream fails,
    or instead of silence when upstream sends nothing for `idle_timeout_s` (None: no bound)."""
    iterator = aiter(chunks)
    try:
        while True:
            try:
                async with asyncio.timeout(idle_timeout_s):
                    chunk = await anext(iterator)
            except StopAsyncIteration:
                return
            except TimeoutError:
                logger.warning("Upstream stream idle for %s s; ending it with an error", idle_timeout_s)
                yield sse_error(upstream_stalled(idle_timeout_s or 0))
                return
            yield chunk
    except Exception as exc:
        yield sse_error(api_error(exc))
    finally:
        # Releases the upstream call (a handle stream is cancelled on close) when we stop early.
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
