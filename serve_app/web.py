"""The FastAPI app of an ingress (the guard, OpenAI-shaped errors) and reading its requests."""

from __future__ import annotations

import json
from typing import TypeVar

import pydantic
from fastapi import FastAPI, Request

from serve_app.errors import ApiError, install_error_handling, invalid_request
from serve_app.guard import RequestGuard

M = TypeVar("M", bound=pydantic.BaseModel)
# Ray Serve's proxy puts it on every request it forwards (and on the response).
REQUEST_ID_HEADER = "x-request-id"


def make_api(*, max_body_bytes: int, api_keys_env: str) -> FastAPI:
    # No interactive docs: the API is OpenAI's, and the fewer open routes the better.
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    # Middleware added later wraps the earlier ones: the guard runs before the error handling.
    install_error_handling(app)
    app.add_middleware(RequestGuard, max_body_bytes=max_body_bytes, api_keys_env=api_keys_env)
    return app


def serve_request_id(request: Request) -> str:
    return request.headers.get(REQUEST_ID_HEADER, "")


async def parse_body(request: Request, model: type[M]) -> M:
    """The JSON body as `model`; anything that fails while validating the client's body is a 400."""
    try:
        data = json.loads(await request.body())
    except (ValueError, RecursionError):
        raise ApiError(400, "The request body is not valid JSON.") from None
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as err:
        raise invalid_request(err.errors()) from None
    except Exception as err:
        # vLLM's request validators assume a well-formed shape; on others they raise TypeError & co.
        raise ApiError(400, f"Invalid request body: {err}") from None
