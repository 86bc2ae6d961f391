"""The FastAPI app of an ingress (the guard, OpenAI-shaped errors) and reading its requests."""

from __future__ import annotations

import functools
import json
from typing import Any, TypeVar

import pydantic
from fastapi import FastAPI, Request

from serve_app.errors import ApiError, install_error_handling, invalid_request
from serve_app.guard import RequestGuard

T = TypeVar("T")
# Ray Serve's proxy puts it on every request it forwards (and on the response).
REQUEST_ID_HEADER = "x-request-id"


def make_api(*, max_body_bytes: int, api_keys_env: str, path_limits: dict[str, int] | None = None) -> FastAPI:
    # No interactive docs: the API is OpenAI's, and the fewer open routes the better.
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    # Middleware added later wraps the earlier ones: the guard runs before the error handling.
    install_error_handling(app)
    app.add_middleware(
        RequestGuard, max_body_bytes=max_body_bytes, api_keys_env=api_keys_env, path_limits=path_limits
    )
    return app


def serve_request_id(request: Request) -> str:
    return request.headers.get(REQUEST_ID_HEADER, "")


@functools.cache
def _adapter(body_type: Any) -> pydantic.TypeAdapter:
    return pydantic.TypeAdapter(body_type)


async def parse_body(request: Request, body_type: type[T]) -> T:
    """The JSON body as `body_type` (a model or a union of models, like EmbeddingRequest).

    Anything that fails while validating the client's body is a 400.
    """
    try:
        data = json.loads(await request.body())
    except (ValueError, RecursionError):
        raise ApiError(400, "The request body is not valid JSON.") from None
    return validate_body(data, body_type)


def validate_body(data: Any, body_type: type[T]) -> T:
    """`data` (parsed JSON) as `body_type`; anything that fails while validating it is a 400."""
    try:
        return _adapter(body_type).validate_python(data)
    except pydantic.ValidationError as err:
        raise invalid_request(err.errors()) from None
    except Exception as err:
        # vLLM's request validators raise their own errors (naming the parameter they refuse), and on
        # an unexpected shape TypeError & co.
        raise ApiError(400, f"Invalid request body: {err}", param=getattr(err, "parameter", None)) from None
