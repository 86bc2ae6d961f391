"""A class as a Serve FastAPI ingress: its methods on the routes of an endpoint map, behind the app's
guard (API keys, body limit) and OpenAI-shaped errors.

Ray Serve LLM's `make_fastapi_ingress` does the same, but its module imports vLLM (~10 s of CPU per
process): the RAG and agent applications, which never touch vLLM, would pay that in their build task
and in every replica.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from ray import serve

from serve_app.web import make_api

# Method name → a function of the FastAPI app that returns the route decorator, e.g.
# {"query": lambda app: app.post("/query")} (the shape Ray Serve LLM's endpoint maps have).
EndpointMap = dict[str, Callable[[FastAPI], Callable]]


def fastapi_ingress(
    cls: type,
    endpoints: EndpointMap,
    *,
    max_body_bytes: int,
    api_keys_env: str,
    path_limits: dict[str, int] | None = None,
) -> type:
    """A subclass of `cls` whose `endpoints` methods are routes of a guarded FastAPI app, as an ingress."""
    app = make_api(max_body_bytes=max_body_bytes, api_keys_env=api_keys_env, path_limits=path_limits)
    routes = {name: route(app)(getattr(cls, name)) for name, route in endpoints.items()}
    # Same name as `cls`: logs and the Serve status name the class the user wrote.
    routed = type(cls.__name__, (cls,), routes)
    routed.__qualname__ = cls.__qualname__
    return serve.ingress(app)(routed)
