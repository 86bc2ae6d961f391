"""The OpenAI API through the official `openai` client: chat, completions, models, streaming, embeddings."""

from __future__ import annotations

import httpx
import pytest

from tests.serve_app.deployment import BACKEND_HEADER, Stack, chat_body

pytestmark = pytest.mark.live  # runs against the session's local Ray (conftest.py)


class TestOpenAiEndpoints:
    def test_should_list_every_served_model_when_models_are_requested(self, stack: Stack) -> None:
        ids = {m.id for m in stack.openai().models.list().data}
        assert ids == {"tiny", "tiny-v2", "tiny-embed"}

    def test_should_return_a_chat_completion_when_a_model_is_named(self, stack: Stack) -> None:
        completion = stack.openai().chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": "Hello"}],
            max_tokens=5,
            # Random weights can sample end-of-text early; the exact count needs vLLM's ignore_eos.
            extra_body={"ignore_eos": True},
        )
        assert completion.model == "tiny"
        assert completion.choices[0].message.role == "assistant"
        assert completion.usage.completion_tokens == 5

    def test_should_return_a_text_completion_when_a_prompt_is_sent(self, stack: Stack) -> None:
        completion = stack.openai().completions.create(
            model="tiny-v2", prompt="The quick brown", max_tokens=3, extra_body={"ignore_eos": True}
        )
        assert completion.model == "tiny-v2"
        assert completion.usage.completion_tokens == 3
        assert isinstance(completion.choices[0].text, str)

    def test_should_stream_chunks_when_stream_is_true(self, stack: Stack) -> None:
        stream = stack.openai().chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": "Hi"}],
            max_tokens=6,
            stream=True,
            extra_body={"ignore_eos": True},
        )
        chunks = list(stream)
        assert len(chunks) >= 2
        assert chunks[-1].choices[0].finish_reason == "length"

    def test_should_end_the_sse_stream_with_done_when_streaming(self, stack: Stack) -> None:
        with (
            stack.http() as http,
            http.stream(
                "POST",
                "/v1/completions",
                json={"model": "tiny", "prompt": "Ray", "max_tokens": 4, "stream": True},
            ) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers[BACKEND_HEADER] == "tiny"
            events = [line for line in response.iter_lines() if line]
        assert all(e.startswith("data: ") for e in events)
        assert events[-1] == "data: [DONE]"

    def test_should_return_vectors_when_the_embedding_model_is_asked(self, stack: Stack) -> None:
        result = stack.openai().embeddings.create(model="tiny-embed", input=["hello", "world"])
        assert [len(d.embedding) for d in result.data] == [128, 128]

    def test_should_answer_400_when_a_generation_model_is_asked_for_embeddings(self, stack: Stack) -> None:
        with stack.http() as http:
            response = http.post("/v1/embeddings", json={"model": "tiny", "input": "hello"})
        assert response.status_code == 400
        assert response.json()["error"]["message"]


class TestHealth:
    def test_should_report_every_model_ready_when_all_replicas_run(self, stack: Stack) -> None:
        response = httpx.get(f"{stack.base_url}/healthz", timeout=30)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert set(body["deployments"]) == {"tiny", "tiny-v2", "tiny-embed"}
        assert all(
            d["status"] == "HEALTHY" and d["replicas"] == {"RUNNING": 1} for d in body["deployments"].values()
        )


@pytest.mark.parametrize("model", ["chat", "small"])
def test_should_report_the_backend_in_a_header_when_a_routing_name_is_used(stack: Stack, model: str) -> None:
    with stack.http() as http:
        response = http.post("/v1/chat/completions", json=chat_body(model))
    assert response.status_code == 200
    assert response.headers[BACKEND_HEADER] == "tiny"
