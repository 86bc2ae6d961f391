"""serve_app.batch_service over a real directory store and a scripted model: the Files and Batches API,
a batch's run to each finished status, a restart mid-run, and every bad input's OpenAI answer."""

from __future__ import annotations

import asyncio
import json

import pytest

from serve_app.batch_run import Retry
from serve_app.batch_service import BatchLimits, BatchService
from serve_app.batch_store import LocalStore, open_store
from serve_app.errors import ApiError

CHAT = "/v1/chat/completions"
LIMITS = BatchLimits(max_file_bytes=10_000, max_lines=50, max_in_progress=2, concurrency=2)
NO_RETRY = Retry(attempts=1)


def jsonl(*models: str, url: str = CHAT) -> bytes:
    rows = [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": url,
            "body": {"model": m, "messages": [{"role": "user", "content": str(i)}]},
        }
        for i, m in enumerate(models, start=1)
    ]
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


async def model(line):
    """`tiny` answers; any other model is unknown (404), as the gateway's router says."""
    if line.body["model"] != "tiny":
        error = {
            "message": f"model {line.body['model']!r} is not served",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
        return 404, {"error": error}, f"req-{line.custom_id}"
    return (
        200,
        {"object": "chat.completion", "content": line.body["messages"][0]["content"]},
        f"req-{line.custom_id}",
    )


@pytest.fixture
def service(tmp_path) -> BatchService:
    return BatchService(LocalStore(tmp_path), LIMITS, clock=lambda: 1000)


def read_lines(service: BatchService, file_id: str | None) -> list[dict]:
    return [json.loads(row) for row in service.file_content(file_id).splitlines()] if file_id else []


def submit(service: BatchService, content: bytes, endpoint: str = CHAT):
    upload = service.create_file("in.jsonl", "batch", content)
    return service.create_batch(upload.id, endpoint, "24h", {"job": "nightly"})


class TestFiles:
    def test_should_keep_the_bytes_and_describe_the_file_when_uploaded(self, service) -> None:
        upload = service.create_file("in.jsonl", "batch", jsonl("tiny"))
        assert (upload.filename, upload.purpose, upload.bytes, upload.created_at) == (
            "in.jsonl",
            "batch",
            len(jsonl("tiny")),
            1000,
        )
        assert service.file(upload.id) == upload and service.file_content(upload.id) == jsonl("tiny")

    def test_should_forget_the_file_when_deleted(self, service) -> None:
        upload = service.create_file("in.jsonl", "batch", b"x")
        assert service.delete_file(upload.id) == {"id": upload.id, "object": "file", "deleted": True}
        with pytest.raises(ApiError) as err:
            service.file_content(upload.id)
        assert (err.value.status, err.value.param) == (404, "file_id")

    @pytest.mark.parametrize(
        ("purpose", "content", "status", "param"),
        [("fine-tune", b"x", 400, "purpose"), ("batch", b"x" * 10_001, 413, None)],
    )
    def test_should_refuse_the_upload_when_its_purpose_or_size_is_wrong(
        self, service, purpose, content, status, param
    ) -> None:
        with pytest.raises(ApiError) as err:
            service.create_file("in.jsonl", purpose, content)
        assert (err.value.status, err.value.param) == (status, param)


class TestRun:
    def test_should_complete_with_an_output_and_an_error_file_when_one_line_names_an_unknown_model(
        self, service
    ) -> None:
        batch = submit(service, jsonl("tiny", "nope", "tiny"))
        assert batch.status == "validating"
        done = asyncio.run(service.run(batch.id, model, NO_RETRY))
        assert (done.status, done.request_counts.model_dump()) == (
            "completed",
            {"total": 3, "completed": 2, "failed": 1},
        )
        assert (done.in_progress_at, done.finalizing_at, done.completed_at) == (1000, 1000, 1000)
        output, errors = read_lines(service, done.output_file_id), read_lines(service, done.error_file_id)
        assert [
            (o["custom_id"], o["response"]["status_code"], o["response"]["body"]["content"]) for o in output
        ] == [("r1", 200, "1"), ("r3", 200, "3")]
        assert [(e["custom_id"], e["response"]["status_code"], e["error"]["code"]) for e in errors] == [
            ("r2", 404, "model_not_found")
        ]
        assert service.file(done.output_file_id).purpose == "batch_output"

    def test_should_fail_with_every_problem_and_run_nothing_when_the_file_is_invalid(self, service) -> None:
        bad = jsonl("tiny") + jsonl("tiny") + b"{oops\n"  # r1 twice, then not JSON
        calls = []

        async def spy(line):
            calls.append(line)
            return await model(line)

        failed = asyncio.run(service.run(submit(service, bad).id, spy, NO_RETRY))
        assert (failed.status, failed.failed_at, calls) == ("failed", 1000, [])
        assert [(e["code"], e["line"]) for e in failed.errors.data] == [
            ("duplicate_custom_id", 2),
            ("invalid_json_line", 3),
        ]

    def test_should_resume_without_rerunning_answered_lines_when_the_replica_restarts(self, storage) -> None:
        first = BatchService(open_store(storage), LIMITS, clock=lambda: 1000)
        batch = submit(first, jsonl(*["tiny"] * 6))
        answered = []

        async def dies_after_three(line):
            if len(answered) == 3:
                raise asyncio.CancelledError  # the replica goes away mid-run
            answered.append(line.custom_id)
            return await model(line)

        with pytest.raises(asyncio.CancelledError):
            asyncio.run(first.run(batch.id, dies_after_three, NO_RETRY))
        restarted = BatchService(open_store(storage), LIMITS, clock=lambda: 2000)
        assert restarted.unfinished() == [batch.id] and restarted.batch(batch.id).status == "in_progress"
        assert restarted.batch(batch.id).request_counts.model_dump() == {
            "total": 6,
            "completed": 3,
            "failed": 0,
        }
        rerun = []

        async def counts(line):
            rerun.append(line.custom_id)
            return await model(line)

        done = asyncio.run(restarted.run(batch.id, counts, NO_RETRY))
        assert done.status == "completed" and sorted(rerun + answered) == [f"r{i}" for i in range(1, 7)]
        assert done.request_counts.model_dump() == {"total": 6, "completed": 6, "failed": 0}
        assert [o["custom_id"] for o in read_lines(restarted, done.output_file_id)] == [
            f"r{i}" for i in range(1, 7)
        ]

    def test_should_stop_and_keep_what_was_answered_when_cancelled_mid_run(self, service) -> None:
        batch = submit(service, jsonl(*["tiny"] * 10))

        async def cancels_at_the_third(line):
            if line.custom_id == "r3":
                service.cancel(batch.id)
            return await model(line)

        done = asyncio.run(service.run(batch.id, cancels_at_the_third, NO_RETRY))
        assert (done.status, done.cancelling_at, done.cancelled_at) == ("cancelled", 1000, 1000)
        output = read_lines(service, done.output_file_id)
        assert 3 <= len(output) < 10 and done.request_counts.completed == len(output)

    def test_should_cancel_without_running_when_cancelled_while_validating(self, service) -> None:
        batch = submit(service, jsonl("tiny"))
        service.cancel(batch.id)
        done = asyncio.run(service.run(batch.id, model, NO_RETRY))
        assert (done.status, done.output_file_id, done.error_file_id) == ("cancelled", None, None)


class TestBadRequests:
    @pytest.mark.parametrize(
        ("endpoint", "window", "param"),
        [("/v1/images/generations", "24h", "endpoint"), (CHAT, "1h", "completion_window")],
    )
    def test_should_answer_400_naming_the_field_when_the_batch_is_malformed(
        self, service, endpoint, window, param
    ) -> None:
        upload = service.create_file("in.jsonl", "batch", jsonl("tiny"))
        with pytest.raises(ApiError) as err:
            service.create_batch(upload.id, endpoint, window)
        assert (err.value.status, err.value.param) == (400, param)

    def test_should_answer_404_when_the_input_file_or_batch_is_unknown(self, service) -> None:
        for action, param in (
            (lambda: service.create_batch("file-nope", CHAT, "24h"), "file_id"),
            (lambda: service.batch("batch_nope"), "batch_id"),
        ):
            with pytest.raises(ApiError) as err:
                action()
            assert (err.value.status, err.value.param) == (404, param)

    def test_should_answer_409_when_the_batch_has_finished(self, service) -> None:
        done = asyncio.run(service.run(submit(service, jsonl("tiny")).id, model, NO_RETRY))
        with pytest.raises(ApiError) as err:
            service.cancel(done.id)
        assert err.value.status == 409 and "completed" in err.value.message

    def test_should_answer_429_when_too_many_batches_are_unfinished(self, service) -> None:
        submit(service, jsonl("tiny"))
        submit(service, jsonl("tiny"))
        with pytest.raises(ApiError) as err:
            submit(service, jsonl("tiny"))
        assert err.value.status == 429

    def test_should_page_the_batches_when_listed(self, service) -> None:
        ids = [submit(service, jsonl("tiny")).id for _ in range(2)]
        listed = service.batches(limit=1)
        assert listed["has_more"] and listed["data"][0]["id"] in ids
        with pytest.raises(ApiError) as err:
            service.batches(limit=0)
        assert (err.value.status, err.value.param) == (400, "limit")
