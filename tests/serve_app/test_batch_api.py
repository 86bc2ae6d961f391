"""The OpenAI Files and Batches API on the gateway, with the official `openai` client, on the suite's
local Ray: batches run through the same models as interactive requests, each line's `model` resolved
like an interactive request's (here the alias `chat` and the unknown `no-such-model`)."""

from __future__ import annotations

import io
import json

import openai
import pytest

from devkit.batch_check import file_lines, run_batch_check
from devkit.batches import wait_batch
from tests.serve_app.deployment import BUCKET, STACK_PREFIX, Stack

pytestmark = pytest.mark.live  # runs against the session's local Ray (conftest.py)

CHAT = "/v1/chat/completions"
BATCH_TIMEOUT_S = 300


def jsonl(rows: list[dict]) -> io.BytesIO:
    return io.BytesIO(b"".join(json.dumps(row).encode() + b"\n" for row in rows))


def chat_line(custom_id: str, model: str, url: str = CHAT) -> dict:
    body = {"model": model, "messages": [{"role": "user", "content": custom_id}], "max_tokens": 4}
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": body}


def finished(client: openai.OpenAI, batch_id: str):
    return wait_batch(client, batch_id, BATCH_TIMEOUT_S)


@pytest.fixture(scope="module")
def client(stack: Stack) -> openai.OpenAI:
    return stack.openai()


@pytest.fixture(scope="module")
def mixed(client: openai.OpenAI):
    """A finished batch of 20 chat lines: 18 through the alias `chat`, 2 naming an unknown model."""
    rows = [chat_line(f"r{i}", "no-such-model" if i in (5, 13) else "chat") for i in range(20)]
    upload = client.files.create(file=("in.jsonl", jsonl(rows)), purpose="batch")
    created = client.batches.create(
        input_file_id=upload.id, endpoint=CHAT, completion_window="24h", metadata={"job": "t"}
    )
    return upload, created, finished(client, created.id)


class TestBatchRun:
    def test_should_complete_with_one_line_per_request_when_some_name_an_unknown_model(
        self, client, mixed
    ) -> None:
        upload, created, done = mixed
        assert (created.status, created.input_file_id, created.metadata) == (
            "validating",
            upload.id,
            {"job": "t"},
        )
        assert done.status == "completed"
        assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (
            20,
            18,
            2,
        )
        output, errors = file_lines(client, done.output_file_id), file_lines(client, done.error_file_id)
        assert sorted(o["custom_id"] for o in output) == sorted(
            f"r{i}" for i in range(20) if i not in (5, 13)
        )
        assert all(o["response"]["status_code"] == 200 for o in output)
        assert {o["response"]["body"]["model"] for o in output} == {"tiny"}  # `chat` → tiny
        assert [(e["custom_id"], e["response"]["status_code"], e["error"]["code"]) for e in errors] == [
            ("r5", 404, "model_not_found"),
            ("r13", 404, "model_not_found"),
        ]

    def test_should_describe_and_list_the_files_and_batch_when_asked(self, client, mixed) -> None:
        upload, _, done = mixed
        assert client.files.retrieve(upload.id).purpose == "batch"
        assert client.files.retrieve(done.output_file_id).purpose == "batch_output"
        assert done.id in [b.id for b in client.batches.list(limit=100)]

    def test_should_run_embeddings_when_the_batch_endpoint_is_embeddings(self, client) -> None:
        rows = [
            {
                "custom_id": "e1",
                "method": "POST",
                "url": "/v1/embeddings",
                "body": {"model": "tiny-embed", "input": "hi"},
            }
        ]
        upload = client.files.create(file=("e.jsonl", jsonl(rows)), purpose="batch")
        done = finished(
            client,
            client.batches.create(
                input_file_id=upload.id, endpoint="/v1/embeddings", completion_window="24h"
            ).id,
        )
        [line] = file_lines(client, done.output_file_id)
        assert line["response"]["body"]["data"][0]["embedding"]

    def test_should_keep_files_records_and_journal_in_s3_when_the_storage_is_an_s3_prefix(
        self, mixed, s3
    ) -> None:
        upload, created, done = mixed
        objects = set(s3.objects(BUCKET, f"{STACK_PREFIX}/"))
        assert {
            f"{STACK_PREFIX}/files/{upload.id}.json",
            f"{STACK_PREFIX}/batches/{created.id}.json",
        } <= objects
        assert {
            f"{STACK_PREFIX}/file_data/{done.output_file_id}",
            f"{STACK_PREFIX}/file_data/{done.error_file_id}",
        } <= objects
        parts = [
            key for key in objects if key.startswith(f"{STACK_PREFIX}/journals/{created.id}.jsonl.parts/")
        ]
        assert len(parts) == 20  # one object per answered line

    def test_should_pass_every_check_when_the_batch_check_tool_runs(self, client) -> None:
        check = run_batch_check(
            client, "chat", lines=12, unknown_every=4, max_tokens=4, timeout_s=BATCH_TIMEOUT_S
        )
        assert check.problems == [] and (check.status, check.completed, check.failed) == ("completed", 9, 3)


class TestBatchFailures:
    def test_should_fail_the_batch_with_its_errors_when_lines_are_invalid(self, client) -> None:
        rows = [chat_line("a", "chat"), chat_line("a", "chat"), chat_line("b", "chat", url="/v1/completions")]
        upload = client.files.create(file=("bad.jsonl", jsonl(rows)), purpose="batch")
        done = finished(
            client, client.batches.create(input_file_id=upload.id, endpoint=CHAT, completion_window="24h").id
        )
        assert done.status == "failed" and done.output_file_id is None
        assert [(e.code, e.line) for e in done.errors.data] == [
            ("duplicate_custom_id", 2),
            ("invalid_url", 3),
        ]

    def test_should_cancel_and_keep_what_was_answered_when_cancelled_while_running(self, client) -> None:
        rows = [
            chat_line(f"c{i}", "tiny")
            | {
                "body": {
                    "model": "tiny",
                    "messages": [{"role": "user", "content": "x"}],
                    "max_tokens": 64,
                    "ignore_eos": True,
                }
            }
            for i in range(40)
        ]
        upload = client.files.create(file=("long.jsonl", jsonl(rows)), purpose="batch")
        created = client.batches.create(input_file_id=upload.id, endpoint=CHAT, completion_window="24h")
        cancelling = client.batches.cancel(created.id)
        done = finished(client, created.id)
        assert cancelling.status == "cancelling" and done.status == "cancelled"
        assert done.request_counts.completed == len(file_lines(client, done.output_file_id)) < 40
        with pytest.raises(openai.ConflictError):
            client.batches.cancel(created.id)

    @pytest.mark.parametrize(
        ("call", "error"),
        [
            (lambda c: c.files.retrieve("file-nope"), openai.NotFoundError),
            (lambda c: c.batches.retrieve("batch_nope"), openai.NotFoundError),
            (
                lambda c: c.batches.create(input_file_id="file-nope", endpoint=CHAT, completion_window="24h"),
                openai.NotFoundError,
            ),
            (
                lambda c: c.files.create(file=("x.jsonl", io.BytesIO(b"{}\n")), purpose="fine-tune"),
                openai.BadRequestError,
            ),
            (
                lambda c: c.files.create(file=("x.jsonl", io.BytesIO(b"x" * 300_000)), purpose="batch"),
                openai.APIStatusError,
            ),
        ],
    )
    def test_should_answer_an_openai_error_when_the_request_is_wrong(self, client, call, error) -> None:
        with pytest.raises(error) as err:
            call(client)
        if error is openai.APIStatusError:
            assert err.value.status_code == 413
