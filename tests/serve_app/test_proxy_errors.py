"""serve_app.proxy_errors around an ASGI app that behaves like Ray Serve's proxy: it ends without a
response (the gateway replica died), cuts a stream, or answers Ray's own plain-text errors (built with
Ray's `convert_object_to_asgi_messages`, as the proxy builds them). No Ray cluster."""

from __future__ import annotations

import asyncio
import json

from ray.serve._private.http_util import convert_object_to_asgi_messages, retry_after_headers
from starlette.middleware import Middleware

from serve_app.errors import UNAVAILABLE_RETRY_AFTER_S
from serve_app.proxy_errors import REPLICA_LOST, ProxyErrorMiddleware, middlewares

CHUNK = b'data: {"choices": [{"delta": {"content": "hi"}}]}\n\n'
SSE_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/event-stream")],
}


def through_middleware(messages: list[dict], scope_type: str = "http") -> list[dict]:
    """What a client is sent when the wrapped app sends `messages` and returns."""

    async def app(scope, receive, send):
        for message in messages:
            await send(message)

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.disconnect"}

    asyncio.run(ProxyErrorMiddleware(app)({"type": scope_type}, receive, send))
    return sent


def response(sent: list[dict]) -> tuple[int, dict[str, str], bytes]:
    start, *bodies = sent
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, b"".join(b.get("body", b"") for b in bodies)


class TestReplicaLost:
    def test_should_answer_503_with_retry_after_when_the_proxy_sends_nothing(self):
        status, headers, body = response(through_middleware([]))
        assert (status, headers["content-type"]) == (503, "application/json")
        assert headers["retry-after"] == str(int(UNAVAILABLE_RETRY_AFTER_S))
        assert json.loads(body)["error"] == {
            "message": REPLICA_LOST,
            "type": "service_unavailable_error",
            "param": None,
            "code": "upstream_unavailable",
        }

    def test_should_end_a_cut_stream_with_an_error_event_and_done_when_the_replica_dies_mid_body(self):
        sent = through_middleware(
            [SSE_START, {"type": "http.response.body", "body": CHUNK, "more_body": True}]
        )
        _, _, body = response(sent)
        events = body.decode().split("\n\n")
        assert json.loads(events[1].removeprefix("data: "))["error"]["code"] == "upstream_unavailable"
        assert events[2:] == ["data: [DONE]", ""] and sent[-1]["more_body"] is False


class TestProxyOwnErrors:
    def test_should_keep_the_status_and_retry_after_in_an_openai_body_when_the_proxy_sheds_load(self):
        plain = convert_object_to_asgi_messages(
            "Request dropped due to backpressure", status_code=503, extra_headers=retry_after_headers(7)
        )
        status, headers, body = response(through_middleware(plain))
        assert (status, headers["retry-after"]) == (503, "7")
        assert json.loads(body)["error"]["message"] == "Request dropped due to backpressure"

    def test_should_answer_a_json_404_when_the_proxy_finds_no_route(self):
        plain = convert_object_to_asgi_messages("Path '/nope' not found.", status_code=404)
        status, _, body = response(through_middleware(plain))
        assert status == 404
        assert json.loads(body)["error"]["message"] == "Path '/nope' not found."


class TestPassThrough:
    def test_should_pass_a_complete_stream_unchanged_when_it_ends(self):
        messages = [
            SSE_START,
            {"type": "http.response.body", "body": CHUNK, "more_body": True},
            {"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False},
        ]
        assert through_middleware(messages) == messages

    def test_should_pass_the_gateways_json_errors_unchanged_when_answered(self):
        messages = convert_object_to_asgi_messages({"error": {"message": "bad"}}, status_code=400)
        assert through_middleware(messages) == messages

    def test_should_leave_other_protocols_alone_when_not_http(self):
        assert through_middleware([], scope_type="lifespan") == []

    def test_should_give_rays_proxy_callback_a_list_of_starlette_middlewares_when_called(self):
        (middleware,) = middlewares()
        assert isinstance(middleware, Middleware) and middleware.cls is ProxyErrorMiddleware
