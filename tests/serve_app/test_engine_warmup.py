"""serve_app.engine_warmup: the logprob kernel compiled at start, for one row and then for many."""

from __future__ import annotations

import asyncio

import pytest

from serve_app.engine_warmup import warm_up
from tests.serve_app.bare_server import bare_server


class FakeEngineClient:
    """vLLM's AsyncLLM as the warm-up uses it: the tasks it supports and `generate`."""

    def __init__(self, tasks: tuple[str, ...]) -> None:
        self.tasks, self.requests = tasks, []

    async def get_supported_tasks(self) -> tuple[str, ...]:
        return self.tasks

    async def generate(self, prompt, sampling_params, request_id):
        self.requests.append((prompt, sampling_params, request_id))
        for _ in range(sampling_params.n):
            yield object()


class TestWarmUp:
    def test_should_ask_one_then_two_sequences_with_logprobs_when_the_model_generates(self) -> None:
        client = FakeEngineClient(("generate",))
        asyncio.run(warm_up(client))
        assert [(p["prompt_token_ids"], s.n, s.max_tokens, s.logprobs) for p, s, _ in client.requests] == [
            ([0], 1, 1, 1),
            ([0], 2, 1, 1),
        ]
        assert len({request_id for _, _, request_id in client.requests}) == 2

    @pytest.mark.parametrize("client", [FakeEngineClient(("embed",)), None], ids=["pooling", "no-engine"])
    def test_should_send_nothing_when_the_model_cannot_generate(self, client) -> None:
        asyncio.run(warm_up(client))
        assert client is None or client.requests == []


class TestServerStart:
    def test_should_warm_the_engine_up_when_the_parent_has_started_it(self, monkeypatch) -> None:
        from ray.serve.llm.deployment import LLMServer as RayLLMServer

        client = FakeEngineClient(("generate",))
        started = []

        async def parent_start(self) -> None:
            started.append(len(client.requests))  # nothing sent before the engine runs
            self.engine = type("VLLMEngine", (), {"_engine_client": client})()

        monkeypatch.setattr(RayLLMServer, "start", parent_start)
        server = bare_server()
        asyncio.run(server.start())
        assert started == [0] and len(client.requests) == 2
