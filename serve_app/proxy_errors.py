"""Serve's HTTP proxy made to fail like the gateway: OpenAI errors where it would answer in plain text.

When the gateway replica holding a request dies, Ray Serve's proxy sends nothing more: before the
response started, uvicorn then answers a plain-text `500 Internal Server Error`; mid-stream, the
stream ends without its last event. Its own errors (no replica, back-pressure, timeouts) are plain
text too. Ray calls `middlewares` in every proxy when `RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH`
names it (the chart sets it on every Ray container, `serveRuntime.openAiProxyErrors`), and the
middleware turns each of these into what a client of the gateway gets for a dead model replica: a
503 `upstream_unavailable` with Retry-After, or the proxy's status with an OpenAI error body, or an
SSE error event and `[DONE]` at the end of a cut stream. Responses the gateway made pass unchanged.
"""

from __future__ import annotations

import contextlib
import json

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_app.errors import ApiError, from_status, sse_error, upstream_unavailable

# The replica that held the request is gone: what the gateway says for a dead model replica.
REPLICA_LOST = "The server replica handling this request stopped; retry later."


def _header(message: Message, name: bytes) -> str:
    for key, value in message.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def proxy_error(start: Message, body: bytes) -> ApiError:
    """The proxy's plain-text error (its start message and body) as the gateway's OpenAI error, with
    its status (5xx and 408: 503 upstream_unavailable) and its Retry-After."""
    error = from_status(start["status"], body.decode(errors="replace").strip() or REPLICA_LOST)
    retry_after = _header(start, b"retry-after")
    if retry_after.isdigit():
        error.retry_after = float(retry_after)
    return error


async def send_error(send: Send, error: ApiError) -> None:
    headers = {"content-type": "application/json", **{k.lower(): v for k, v in error.headers().items()}}
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(error.body()).encode()})


class ProxyErrorMiddleware:
    """Outermost ASGI layer of Serve's proxy (see the module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = ended = stream = False
        held: Message | None = None  # the start of a plain-text error, sent once its body is known
        text = b""

        async def relay(message: Message) -> None:
            nonlocal started, ended, stream, held, text
            if message["type"] == "http.response.start":
                started = True
                content_type = _header(message, b"content-type")
                stream = content_type.startswith("text/event-stream")
                if (
                    message["status"] >= 400
                    and not content_type.startswith("application/json")
                    and not stream
                ):
                    held = message
                    return
            elif message["type"] == "http.response.body":
                ended = not message.get("more_body", False)
                if held is not None:
                    text += message.get("body", b"")
                    if ended:
                        await send_error(send, proxy_error(held, text))
                    return
            await send(message)

        try:
            await self.app(scope, receive, relay)
        except Exception:
            if ended:
                raise
        if ended:
            return
        # The proxy returned without finishing the response: the replica went away under it. The
        # client may be gone as well (a disconnect ends the proxy the same way); sending is best effort.
        with contextlib.suppress(Exception):
            if not started or held is not None:
                await send_error(send, upstream_unavailable(REPLICA_LOST))
            elif stream:
                body = sse_error(upstream_unavailable(REPLICA_LOST)).encode()
                await send({"type": "http.response.body", "body": body, "more_body": False})
            else:
                await send({"type": "http.response.body", "body": b"", "more_body": False})


def middlewares() -> list[Middleware]:
    """What Ray's proxy callback (RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH) returns."""
    return [Middleware(ProxyErrorMiddleware)]
