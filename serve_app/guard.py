"""Bearer-key check and body-size limit, applied before FastAPI parses a request.

Both run as plain ASGI middleware so that an oversized or unauthenticated body is never parsed, and
so that streaming responses and client disconnects pass through untouched.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.routing import get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_app.errors import ApiError

# Probes (kubelet, load balancers) carry no credentials.
OPEN_PATHS = frozenset({"/healthz"})
# Request headers an ingress never passes on to another deployment (a canary's sticky header goes on).
PRIVATE_HEADERS = frozenset({"authorization", "cookie"})


def load_api_keys(env: str) -> frozenset[str]:
    """Comma-separated keys from the variable `env` (filled from a Secret); "" means no auth."""
    if not env:
        return frozenset()
    keys = frozenset(k.strip() for k in os.environ.get(env, "").split(",") if k.strip())
    if not keys:
        # Failing here beats serving an open endpoint when the Secret did not reach the pod.
        raise RuntimeError(f"apiKeysEnv is {env!r} but the environment variable {env} holds no keys")
    return keys


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        api_keys_env: str,
        path_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Paths that take bigger bodies than the rest (file uploads), by exact path.
        self.path_limits = dict(path_limits or {})
        self.api_keys_env = api_keys_env
        self._keys: frozenset[str] | None = None

    def _authorized(self, headers: Headers) -> bool:
        if self._keys is None:
            # Read in the replica, on first use: the app object is built (and pickled) elsewhere.
            self._keys = load_api_keys(self.api_keys_env)
        if not self._keys:
            return True
        scheme, _, token = headers.get("authorization", "").partition(" ")
        presented = token.strip().encode()
        return scheme.lower() == "bearer" and any(
            hmac.compare_digest(presented, k.encode()) for k in self._keys
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if get_route_path(scope) not in OPEN_PATHS and not self._authorized(headers):
            await ApiError(401, "Missing or invalid API key (Authorization: Bearer <key>).").response()(
                scope, receive, send
            )
            return
        limit = self.path_limits.get(get_route_path(scope), self.max_body_bytes)
        body = await self._read_body(headers, receive, limit)
        if body is None:
            await ApiError(
                413, f"The request body exceeds {limit} bytes.", code="request_too_large"
            ).response()(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    async def _read_body(headers: Headers, receive: Receive, limit: int) -> bytes | None:
        """The whole body, or None as soon as it is known to exceed `limit` bytes."""
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client left before sending the whole body; the app sees the same disconnect.
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The buffered body as one message, then the real channel (disconnects reach the app)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
