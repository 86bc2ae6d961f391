"""Exceptions → OpenAI errors, and the guard middleware, on the real FastAPI app without Ray Serve."""

from __future__ import annotations

import asyncio
import pickle
import time

import pytest
from fastapi import HTTPException, Request
from fastapi.testclient import TestClient
from ray.exceptions import ActorDiedError, RayTaskError
from ray.llm._internal.serve.core.configs.openai_api_models import (
    ChatCompletionRequest,
    EmbeddingRequest,
    OpenAIHTTPException,
)
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

from serve_app.availability import Availability, bounded, is_down
from serve_app.errors import OVERLOAD_RETRY_AFTER_S, ApiError, api_error, api_errors, guard_stream
from serve_app.guard import load_api_keys
from serve_app.routing import UnknownModelError
from serve_app.web import make_api, parse_body

KEYS_ENV = "ERRORS_TEST_KEYS"
TOOL = {"type": "function", "function": {"name": "clock", "parameters": {"type": "object"}}}


def named(name: str) -> dict:
    return {"type": "function", "function": {"name": name}}


MAX_BODY = 4096
AUTH = {"Authorization": "Bearer k1"}


class TestApiError:
    @pytest.mark.parametrize(
        ("exc", "status", "code"),
        [
            (UnknownModelError("gpt-4"), 404, "model_not_found"),
            (BackPressureError(num_queued_requests=4, max_queued_requests=4), 503, "overloaded"),
            (BackPressureError(4, 4, status_code=429, retry_after_s=7), 429, "overloaded"),
            (HTTPException(404, "nope"), 404, "not_found"),
            (OpenAIHTTPException(400, "bad temperature"), 400, "invalid_request"),
            (OpenAIHTTPException(500, "engine died"), 503, "upstream_unavailable"),
            (OpenAIHTTPException(408, "timed out"), 503, "upstream_unavailable"),
            (ActorDiedError(), 503, "upstream_unavailable"),
            (DeploymentUnavailableError("LLMServer:x"), 503, "upstream_unavailable"),
            (TimeoutError(), 503, "upstream_unavailable"),
            (ValueError("messages must not be empty"), 400, "invalid_request"),
            (RuntimeError("a bug"), 503, "upstream_unavailable"),
            (KeyError("a bug"), 503, "upstream_unavailable"),
        ],
    )
    def test_should_map_to_status_and_code_when_an_exception_is_raised(
        self, exc: Exception, status: int, code: str
    ) -> None:
        error = api_error(exc)
        assert (error.status, error.code) == (status, code)
        assert set(error.body()["error"]) == {"message", "type", "param", "code"}

    def test_should_ask_to_retry_after_when_the_server_side_is_at_fault(self) -> None:
        assert api_error(BackPressureError(4, 4)).headers()["Retry-After"] == str(OVERLOAD_RETRY_AFTER_S)
        assert api_error(BackPressureError(4, 4, retry_after_s=6.2)).headers()["Retry-After"] == "7"
        assert "Retry-After" in api_error(ActorDiedError()).headers()
        assert "Retry-After" not in api_error(ValueError("x")).headers()

    def test_should_map_the_cause_when_another_deployment_raised_it(self) -> None:
        cause = ApiError(404, "no such model", code="model_not_found")
        wrapped = RayTaskError("chat_completion", "traceback", cause).as_instanceof_cause()
        assert api_error(wrapped).body() == cause.body()

    def test_should_survive_pickling_when_it_crosses_a_deployment_handle(self) -> None:
        error = pickle.loads(pickle.dumps(ApiError(503, "busy", code="overloaded", retry_after=2)))
        assert (error.status, error.code, error.headers()["Retry-After"]) == (503, "overloaded", "2")

    def test_should_end_a_stream_with_an_error_event_when_upstream_fails(self) -> None:
        async def chunks():
            yield "data: {}\n\n"
            raise ActorDiedError()

        async def collect() -> list[str]:
            return [c async for c in guard_stream(chunks())]

        first, last = asyncio.run(collect())
        assert first == "data: {}\n\n"
        assert '"code": "upstream_unavailable"' in last
        assert last.endswith("data: [DONE]\n\n")


async def _collect(chunks, idle_timeout_s: float | None) -> list[str]:
    return [c async for c in guard_stream(chunks, idle_timeout_s)]


class TestStreamIdleTimeout:
    def test_should_end_with_an_error_event_when_upstream_sends_nothing_for_the_bound(self) -> None:
        closed = asyncio.Event()

        async def stalls():
            try:
                yield "data: {}\n\n"
                await asyncio.sleep(3600)
                yield "never"
            finally:
                closed.set()

        async def run() -> tuple[list[str], bool]:
            return await asyncio.wait_for(_collect(stalls(), 0.05), 5), closed.is_set()

        (first, last), upstream_closed = asyncio.run(run())
        assert first == "data: {}\n\n"
        assert '"code": "upstream_unavailable"' in last and "sent nothing for 0.05 s" in last
        assert last.endswith("data: [DONE]\n\n")
        assert upstream_closed

    def test_should_pass_every_chunk_when_each_gap_is_below_the_bound(self) -> None:
        async def steady():
            for i in range(5):
                await asyncio.sleep(0.01)
                yield f"data: {i}\n\n"

        assert asyncio.run(_collect(steady(), 1.0)) == [f"data: {i}\n\n" for i in range(5)]

    def test_should_wait_without_bound_when_the_timeout_is_none(self) -> None:
        async def slow():
            await asyncio.sleep(0.05)
            yield "data: {}\n\n"

        assert asyncio.run(_collect(slow(), None)) == ["data: {}\n\n"]


def _states(status: str, running: int):
    async def states(deployments: dict[str, str]) -> dict[str, dict]:
        replicas = {"RUNNING": running} if running else {"STARTING": 1}
        return {label: {"status": status, "replicas": replicas} for label in deployments}

    return states


class TestAvailability:
    @pytest.mark.parametrize(
        ("state", "down"),
        [
            ({"status": "UNHEALTHY", "replicas": {"STARTING": 1}}, True),
            ({"status": "DEPLOY_FAILED", "replicas": {}}, True),
            ({"status": "UPDATING", "replicas": {"STARTING": 1}}, True),  # the first deploy: engine not up
            ({"status": "UPDATING", "replicas": {"RUNNING": 1, "STARTING": 1}}, False),  # a rolling update
            ({"status": "UNHEALTHY", "replicas": {"RUNNING": 1, "STARTING": 1}}, False),
            ({"status": "UPSCALING", "replicas": {"STARTING": 1}}, False),  # a cold start from zero
            ({"status": "HEALTHY", "replicas": {"RUNNING": 1}}, False),
            ({}, False),  # unknown: no evidence of a dead model
        ],
    )
    def test_should_call_a_model_down_only_when_starting_or_unhealthy_without_running_replicas(
        self, state: dict, down: bool
    ) -> None:
        assert is_down(state) is down

    def test_should_answer_503_when_the_model_loses_its_last_replica_while_a_request_waits(self) -> None:
        watch = Availability(
            {"tiny": "LLMServer:tiny"}, poll_s=0.01, watch_after_s=0.01, states=_states("UNHEALTHY", 0)
        )
        cancelled = asyncio.Event()

        async def waits_for_a_replica() -> str:
            try:
                await asyncio.sleep(3600)
            finally:
                cancelled.set()
            return "never"

        async def run() -> ApiError:
            with pytest.raises(ApiError) as err:
                await asyncio.wait_for(watch.answer("tiny", waits_for_a_replica(), None), 5)
            assert cancelled.is_set()
            return err.value

        error = asyncio.run(run())
        assert (error.status, error.code, error.headers()["Retry-After"]) == (
            503,
            "upstream_unavailable",
            "5",
        )

    # A LoRA adapter (Ray Serve LLM's `base:adapter`) is down with its base model.
    @pytest.mark.parametrize("model", ["tiny", "tiny:sql"])
    def test_should_answer_503_saying_the_model_is_starting_when_no_replica_of_it_is_up_yet(
        self, model: str
    ) -> None:
        watch = Availability(
            {"tiny": "LLMServer:tiny"}, poll_s=0.01, watch_after_s=0.01, states=_states("UPDATING", 0)
        )

        async def run() -> ApiError:
            with pytest.raises(ApiError) as err:
                await asyncio.wait_for(watch.answer(model, asyncio.sleep(3600), None), 5)
            return err.value

        error = asyncio.run(run())
        assert (error.status, error.headers()["Retry-After"]) == (503, "5")
        assert error.message == "The model 'tiny' is starting: no replica of it is ready yet; retry later."

    def test_should_name_only_the_models_that_cannot_answer_when_asked_which_are_down(self) -> None:
        async def states(_: dict[str, str]) -> dict[str, dict]:
            return {
                "up": {"status": "HEALTHY", "replicas": {"RUNNING": 1}},
                "starting": {"status": "UPDATING", "replicas": {"STARTING": 1}},
                "restarting": {"status": "UNHEALTHY", "replicas": {"STARTING": 1}},
                "from-zero": {"status": "UPSCALING", "replicas": {"STARTING": 1}},
            }

        watch = Availability({name: f"LLMServer:{name}" for name in ("up", "starting")}, states=states)
        assert asyncio.run(watch.down_models()) == {"starting", "restarting"}

    def test_should_leave_out_a_down_models_lora_adapters_when_listing_what_is_reachable(self) -> None:
        async def states(_: dict[str, str]) -> dict[str, dict]:
            return {
                "up": {"status": "HEALTHY", "replicas": {"RUNNING": 1}},
                "starting": {"status": "UPDATING", "replicas": {"STARTING": 1}},
            }

        watch = Availability({name: f"LLMServer:{name}" for name in ("up", "starting")}, states=states)
        listed = ["up", "up:sql", "starting", "starting:sql", "starting-b"]
        assert asyncio.run(watch.reachable(listed)) == ["up", "up:sql", "starting-b"]

    @pytest.mark.parametrize("model", ["tiny", "tiny:sql"])
    def test_should_return_when_the_model_is_up_when_a_caller_waits_for_its_start(self, model: str) -> None:
        seen = ["UPDATING", "UNHEALTHY", "HEALTHY"]

        async def states(deployments: dict[str, str]) -> dict[str, dict]:
            status = seen.pop(0) if len(seen) > 1 else seen[0]
            replicas = {"RUNNING": 1} if status == "HEALTHY" else {"STARTING": 1}
            return {label: {"status": status, "replicas": replicas} for label in deployments}

        watch = Availability({"tiny": "LLMServer:tiny"}, poll_s=0.01, states=states)
        asyncio.run(asyncio.wait_for(watch.until_started(model, 3600), 5))
        assert seen == ["HEALTHY"]  # it asked until the model was up

    @pytest.mark.parametrize(("status", "running"), [("HEALTHY", 1), ("DEPLOY_FAILED", 0)])
    def test_should_not_wait_when_the_model_is_up_or_serve_gave_up_on_it(
        self, status: str, running: int
    ) -> None:
        watch = Availability({"tiny": "LLMServer:tiny"}, poll_s=3600, states=_states(status, running))
        asyncio.run(asyncio.wait_for(watch.until_started("tiny", 3600), 5))

    def test_should_wait_once_per_start_when_the_model_stays_starting(self) -> None:
        asked = []

        async def starting(deployments: dict[str, str]) -> dict[str, dict]:
            asked.append(time.monotonic())
            return await _states("UPDATING", 0)(deployments)

        watch = Availability({"tiny": "LLMServer:tiny"}, poll_s=0.01, states=starting)

        async def run() -> tuple[float, int]:
            began = time.monotonic()
            await asyncio.wait_for(watch.until_started("tiny", 0.2), 5)
            waited = time.monotonic() - began
            asked.clear()
            # A later caller in the same start does not wait again: one look, no sleep.
            await asyncio.wait_for(watch.until_started("tiny", 0.2), 5)
            return waited, len(asked)

        waited, looks = asyncio.run(run())
        assert waited >= 0.2
        assert looks <= 1

    def test_should_fail_at_once_when_the_model_is_already_known_down(self) -> None:
        watch = Availability(
            {"tiny": "LLMServer:tiny"}, poll_s=60, watch_after_s=30, states=_states("UNHEALTHY", 0)
        )

        async def run() -> None:
            assert await watch.down("tiny")  # a waiting request found it down
            with pytest.raises(ApiError):
                # Well below the 30 s grace: the cached answer is used.
                await asyncio.wait_for(watch.answer("tiny", asyncio.sleep(3600), None), 2)

        asyncio.run(run())

    def test_should_return_the_answer_when_the_model_stays_up(self) -> None:
        watch = Availability(
            {"tiny": "LLMServer:tiny"}, poll_s=0.01, watch_after_s=0.01, states=_states("HEALTHY", 1)
        )

        async def answers() -> str:
            await asyncio.sleep(0.1)
            return "answer"

        assert asyncio.run(watch.answer("tiny", answers(), None)) == "answer"

    def test_should_keep_waiting_when_the_controller_cannot_be_asked(self) -> None:
        async def broken(_: dict[str, str]) -> dict[str, dict]:
            raise ConnectionError("controller unreachable")

        watch = Availability({"tiny": "LLMServer:tiny"}, poll_s=0.01, watch_after_s=0.01, states=broken)

        async def answers() -> str:
            await asyncio.sleep(0.1)
            return "answer"

        assert asyncio.run(watch.answer("tiny", answers(), None)) == "answer"

    def test_should_answer_503_when_no_answer_comes_within_the_timeout(self) -> None:
        async def run() -> ApiError:
            with pytest.raises(ApiError) as err:
                await bounded(asyncio.sleep(3600), None, 0.05)
            return err.value

        error = asyncio.run(run())
        assert (error.status, error.code) == (503, "upstream_unavailable")
        assert "within 0.05 s" in error.message

    def test_should_raise_the_calls_own_error_when_it_fails_first(self) -> None:
        async def fails() -> None:
            raise ActorDiedError()

        with pytest.raises(ActorDiedError):
            asyncio.run(bounded(fails(), None, 1.0))


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv(KEYS_ENV, "k1, k2")
    app = make_api(max_body_bytes=MAX_BODY, api_keys_env=KEYS_ENV)

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        return {"bytes": len(await request.body())}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("unexpected")

    @app.post("/chat")
    @api_errors
    async def chat(request: Request) -> dict:
        body = await parse_body(request, ChatCompletionRequest)
        if body.model == "busy":
            raise BackPressureError(num_queued_requests=4, max_queued_requests=4, retry_after_s=3)
        return {"messages": len(body.messages)}

    @app.post("/embed")
    async def embed(request: Request) -> dict:
        return {"kind": type(await parse_body(request, EmbeddingRequest)).__name__}

    return TestClient(app, raise_server_exceptions=False)


class TestGuard:
    def test_should_pass_the_body_through_when_authorized_and_small(self, client: TestClient) -> None:
        response = client.post("/echo", content=b"x" * MAX_BODY, headers={"Authorization": "Bearer k2"})
        assert response.json() == {"bytes": MAX_BODY}

    @pytest.mark.parametrize("authorization", [None, "Bearer k3", "Basic k1", "Bearer", "k1"])
    def test_should_answer_401_when_the_key_is_not_a_configured_bearer(
        self, client: TestClient, authorization: str | None
    ) -> None:
        headers = {"Authorization": authorization} if authorization else {}
        response = client.post("/echo", content=b"{}", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"

    def test_should_answer_413_without_reading_when_content_length_is_too_big(
        self, client: TestClient
    ) -> None:
        response = client.post("/echo", content=b"x" * (MAX_BODY + 1), headers=AUTH)
        assert response.status_code == 413

    def test_should_answer_413_when_a_chunked_body_exceeds_the_limit(self, client: TestClient) -> None:
        response = client.post("/echo", content=iter([b"x" * MAX_BODY, b"x"]), headers=AUTH)
        assert response.status_code == 413

    def test_should_let_probes_in_without_a_key_when_keys_are_required(self, client: TestClient) -> None:
        assert client.get("/healthz").status_code == 200

    def test_should_answer_503_not_500_when_a_handler_fails_unexpectedly(self, client: TestClient) -> None:
        response = client.get("/boom", headers=AUTH)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "upstream_unavailable"

    def test_should_refuse_to_start_when_the_key_variable_is_empty(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(KEYS_ENV, " , ")
        with pytest.raises(RuntimeError, match=KEYS_ENV):
            load_api_keys(KEYS_ENV)


class TestParseBody:
    def test_should_parse_the_body_when_it_is_a_valid_request(self, client: TestClient) -> None:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        assert client.post("/chat", json=body, headers=AUTH).json() == {"messages": 1}

    @pytest.mark.parametrize(
        ("content", "param"),
        [
            (b'{"model": "m", "messages": [', None),
            (b'{"model": "m", "messages": null}', None),
            (b'{"model": "m", "messages": "hi"}', "messages"),
            (b"[" * 1500 + b"]" * 1500, None),
            (b"\xff\xfe", None),
        ],
    )
    def test_should_answer_400_when_the_body_is_malformed(
        self, client: TestClient, content: bytes, param: str | None
    ) -> None:
        response = client.post("/chat", content=content, headers=AUTH)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == param

    @pytest.mark.parametrize(
        ("extra", "param", "says"),
        [
            ({"tool_choice": "required"}, "tool_choice", "`tools` must be set"),
            (
                {"tools": [TOOL], "tool_choice": named("nope")},
                "tool_choice",
                "does not match any of the specified",
            ),
            ({"tools": []}, "tools", "must not be an empty array"),
        ],
    )
    def test_should_name_the_parameter_when_vllm_refuses_a_tool_request(
        self, client: TestClient, extra: dict, param: str, says: str
    ) -> None:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}
        response = client.post("/chat", json=body, headers=AUTH)
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", param)
        assert says in error["message"]

    @pytest.mark.parametrize(
        ("body", "kind"),
        [
            ({"model": "m", "input": ["a", "b"]}, "EmbeddingCompletionRequest"),
            ({"model": "m", "messages": [{"role": "user", "content": "a"}]}, "EmbeddingChatRequest"),
        ],
    )
    def test_should_pick_the_matching_model_when_the_body_type_is_a_union(
        self, client: TestClient, body: dict, kind: str
    ) -> None:
        assert client.post("/embed", json=body, headers=AUTH).json() == {"kind": kind}

    def test_should_answer_openai_json_when_an_endpoint_raises_a_serve_error(
        self, client: TestClient
    ) -> None:
        body = {"model": "busy", "messages": [{"role": "user", "content": "hi"}]}
        response = client.post("/chat", json=body, headers=AUTH)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "3"
        assert response.json()["error"]["code"] == "overloaded"
