"""The FastAPI app of an ingress deployment: request ids, the guard, OpenAI-shaped errors."""

from __future__ import annotations

from fastapi import FastAPI
from ray.llm._internal.serve.core.ingress.middleware import SetRequestIdMiddleware

from serve_app.errors import install_error_handling
from serve_app.guard import RequestGuard


def make_api(*, max_body_bytes: int, api_keys_env: str) -> FastAPI:
    # No interactive docs: the API is OpenAI's, and the fewer open routes the better.
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    # Middleware added later wraps the earlier ones: errors innermost, then the guard, request ids outermost.
    install_error_handling(app)
    app.add_middleware(RequestGuard, max_body_bytes=max_body_bytes, api_keys_env=api_keys_env)
    app.add_middleware(SetRequestIdMiddleware)
    return app
