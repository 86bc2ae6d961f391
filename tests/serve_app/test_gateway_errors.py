"""Error responses over raw HTTP: OpenAI's shape, the right status, never a 500."""

from __future__ import annotations

import httpx
import pytest

from tests.serve_app.deployment import MAX_BODY_BYTES, TINY_MAX_MODEL_LEN, Stack, chat_body

pytestmark = pytest.mark.live  # runs against the session's local Ray (conftest.py)


def assert_openai_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


class TestClientErrors:
    def test_should_answer_400_when_the_body_is_not_json(self, stack: Stack) -> None:
        with stack.http() as http:
            response = http.post(
                "/v1/chat/completions",
                content=b'{"model": "tiny",',
                headers={"content-type": "application/json"},
            )
        assert "not valid JSON" in assert_openai_error(response, 400)["message"]

    @pytest.mark.parametrize(
        ("body", "param"),
        [
            ({"model": "tiny", "messages": "hello"}, "messages"),
            (
                {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": "many"},
                "max_tokens",
            ),
            ({"model": "tiny"}, "messages"),
        ],
    )
    def test_should_answer_400_naming_the_parameter_when_a_type_is_wrong(
        self, stack: Stack, body: dict, param: str
    ) -> None:
        with stack.http() as http:
            response = http.post("/v1/chat/completions", json=body)
        assert assert_openai_error(response, 400)["param"].startswith(param)

    def test_should_answer_404_model_not_found_when_the_model_is_unknown(self, stack: Stack) -> None:
        with stack.http() as http:
            response = http.post("/v1/chat/completions", json=chat_body("gpt-4"))
        error = assert_openai_error(response, 404, "model_not_found")
        assert error["param"] == "model"

    def test_should_answer_413_when_the_body_exceeds_the_limit(self, stack: Stack) -> None:
        with stack.http() as http:
            response = http.post("/v1/completions", json={"model": "tiny", "prompt": "x" * MAX_BODY_BYTES})
        assert_openai_error(response, 413, "request_too_large")

    def test_should_answer_413_when_a_chunked_body_grows_past_the_limit(self, stack: Stack) -> None:
        def chunks():
            yield b'{"model": "tiny", "prompt": "'
            for _ in range(MAX_BODY_BYTES // 1024 + 1):
                yield b"x" * 1024
            yield b'"}'

        with stack.http() as http:
            response = http.post(
                "/v1/completions", content=chunks(), headers={"content-type": "application/json"}
            )
        assert_openai_error(response, 413, "request_too_large")

    def test_should_answer_400_when_the_prompt_is_longer_than_the_context(self, stack: Stack) -> None:
        with stack.http() as http:
            body = {"model": "tiny", "prompt": "a b " * TINY_MAX_MODEL_LEN, "max_tokens": 1}
            response = http.post("/v1/completions", json=body)
        assert "context" in assert_openai_error(response, 400)["message"].lower()

    @pytest.mark.parametrize(
        "sampling", [{"temperature": -1}, {"top_p": 1.5}, {"max_tokens": -3}, {"n": 0}, {"top_k": -7}]
    )
    def test_should_answer_400_when_a_sampling_parameter_is_out_of_range(
        self, stack: Stack, sampling: dict
    ) -> None:
        with stack.http() as http:
            response = http.post("/v1/chat/completions", json={**chat_body(), **sampling})
        assert_openai_error(response, 400)

    def test_should_answer_404_in_openai_shape_when_the_route_is_unknown(self, stack: Stack) -> None:
        with stack.http() as http:
            assert_openai_error(http.get("/v1/nothing-here"), 404)

    def test_should_answer_405_when_the_method_is_wrong(self, stack: Stack) -> None:
        with stack.http() as http:
            assert_openai_error(http.get("/v1/chat/completions"), 405, "method_not_allowed")


class TestApiKeys:
    @pytest.mark.parametrize("api_key", [None, "sk-wrong"])
    def test_should_answer_401_when_the_key_is_missing_or_wrong(
        self, stack: Stack, api_key: str | None
    ) -> None:
        with stack.http(api_key=api_key) as http:
            response = http.post("/v1/chat/completions", json=chat_body())
        assert_openai_error(response, 401, "invalid_api_key")
        assert response.headers["www-authenticate"] == "Bearer"

    def test_should_accept_every_configured_key_when_several_are_set(self, stack: Stack) -> None:
        with stack.http(api_key="sk-second-key") as http:
            assert http.get("/v1/models").status_code == 200

    def test_should_answer_health_probes_without_a_key_when_keys_are_required(self, stack: Stack) -> None:
        with stack.http(api_key=None) as http:
            assert http.get("/healthz").status_code == 200
