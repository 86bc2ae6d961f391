"""serve_app.batch.Batcher with a fake gateway handle: the API calls, background runs through the
gateway's `batch_line`, and a restarted replica taking up what its predecessor left."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest
from ray import serve

from serve_app.batch import Batcher
from serve_app.config import BatchArgs

CHAT = "/v1/chat/completions"


def jsonl(n: int, model: str = "chat") -> bytes:
    rows = [
        {"custom_id": f"r{i}", "method": "POST", "url": CHAT, "body": {"model": model, "messages": []}}
        for i in range(1, n + 1)
    ]
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


class FakeGateway:
    """`OpenAiGateway.batch_line`: (status, body) for one line; `gate` holds the answers back."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict, str, int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.batch_line = self

    async def remote(self, endpoint: str, body: dict, request_id: str, priority: int):
        self.lines.append((endpoint, body, request_id, priority))
        await self.gate.wait()
        return 200, {"object": "chat.completion", "model": "tiny"}


@pytest.fixture
def gateway(monkeypatch) -> FakeGateway:
    fake = FakeGateway()
    monkeypatch.setattr(serve, "get_replica_context", lambda: SimpleNamespace(app_name="llm"))
    monkeypatch.setattr(
        serve,
        "get_deployment_handle",
        lambda name, app_name: {("OpenAiGateway", "llm"): fake}[name, app_name],
    )
    return fake


def args(storage) -> BatchArgs:
    return BatchArgs.model_validate({"storage": str(storage), "concurrency": 2})


async def until_finished(batcher: Batcher, batch_id: str) -> dict:
    for _ in range(1000):
        batch = await batcher.batch(batch_id)
        if batch["status"] in ("completed", "failed", "cancelled"):
            return batch
        await asyncio.sleep(0)
    raise AssertionError(f"batch still {batch['status']}")


class TestBatcher:
    def test_should_run_every_line_through_the_gateway_when_a_batch_is_created(
        self, storage, gateway
    ) -> None:
        async def scenario():
            batcher = Batcher(args(storage))
            upload = await batcher.create_file("in.jsonl", "batch", jsonl(3))
            created = await batcher.create_batch(upload["id"], CHAT, "24h", None)
            done = await until_finished(batcher, created["id"])
            return created, done, await batcher.file_content(done["output_file_id"])

        created, done, output = asyncio.run(scenario())
        assert created["status"] == "validating"
        assert (done["status"], done["request_counts"]) == (
            "completed",
            {"total": 3, "completed": 3, "failed": 0},
        )
        # The alias as sent, at the batch priority (BatchArgs' default: after interactive requests' 0).
        assert [(e, b["model"], p) for e, b, _, p in gateway.lines] == [(CHAT, "chat", 10)] * 3
        assert [json.loads(row)["response"]["request_id"] for row in output.splitlines()] == [
            f"{created['id']}-{i}" for i in (1, 2, 3)
        ]

    def test_should_take_up_an_unfinished_batch_when_a_new_replica_starts(self, storage, gateway) -> None:
        gateway.gate.clear()  # the first replica's lines never get an answer

        async def first_replica() -> str:
            batcher = Batcher(args(storage))
            upload = await batcher.create_file("in.jsonl", "batch", jsonl(2))
            batch_id = (await batcher.create_batch(upload["id"], CHAT, "24h", None))["id"]
            await asyncio.sleep(0.01)
            return batch_id  # the loop ends: the replica is gone, its runs with it

        batch_id = asyncio.run(first_replica())
        gateway.gate.set()

        async def second_replica() -> dict:
            batcher = Batcher(args(storage))
            await batcher.check_health()  # Serve's periodic health check starts the run
            return await until_finished(batcher, batch_id)

        assert asyncio.run(second_replica())["status"] == "completed"
