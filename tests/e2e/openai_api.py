"""The OpenAI API both modes serve the same way, run by the e2e module of each mode against its local run:
models, chat, streaming, completions, and OpenAI-shaped 404 and 400 errors."""

from __future__ import annotations

import httpx
import openai
import pytest


class OpenAiApiContract:
    """Needs the fixtures `client` (openai.OpenAI on the run, with its key), `base_url`, `auth_headers`
    (the key as a header, for raw requests) and `model_names`."""

    def test_should_list_every_configured_model_when_asked_for_models(self, client, model_names):
        ids = {m.id for m in client.models.list().data}
        assert set(model_names) <= ids

    def test_should_answer_a_chat_when_not_streamed(self, client, model_names):
        resp = client.chat.completions.create(
            model=model_names[0], messages=[{"role": "user", "content": "Hello"}], max_tokens=8
        )
        assert resp.choices[0].message.role == "assistant"
        assert resp.usage.completion_tokens >= 1
        assert resp.model == model_names[0]

    def test_should_stream_chunks_when_stream_is_true(self, client, model_names):
        chunks = list(
            client.chat.completions.create(
                model=model_names[0],
                messages=[{"role": "user", "content": "Hello"}],
                max_tokens=8,
                stream=True,
            )
        )
        assert len(chunks) >= 2
        assert chunks[-1].choices == [] or chunks[-1].choices[0].finish_reason in {"length", "stop"}

    def test_should_complete_a_prompt_when_using_completions(self, client, model_names):
        resp = client.completions.create(model=model_names[0], prompt="Ray Serve", max_tokens=8)
        assert resp.choices[0].text is not None
        assert resp.usage.completion_tokens >= 1

    def test_should_return_an_openai_error_when_the_model_is_unknown(self, client):
        with pytest.raises(openai.NotFoundError) as err:
            client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
        assert err.value.body["message"]
        assert err.value.status_code == 404

    def test_should_return_400_when_the_body_is_not_json(self, base_url, auth_headers):
        resp = httpx.post(
            f"{base_url}/v1/chat/completions",
            content=b"{not json",
            headers={"Content-Type": "application/json", **auth_headers},
            timeout=30,
        )
        assert resp.status_code == 400
        assert set(resp.json()["error"]) >= {"message", "type", "param", "code"}
