"""serve_app.batch_records: the batch life cycle, the output and error lines, the list's pages."""

from __future__ import annotations

import openai.types
import pytest

from serve_app.batch_input import BatchError
from serve_app.batch_records import Batch, FileObject, error_line, new_id, output_line, page


def batch(created_at: int = 100, **fields) -> Batch:
    return Batch(
        id=new_id("batch_"),
        endpoint="/v1/chat/completions",
        input_file_id="file-1",
        created_at=created_at,
        **fields,
    )


class TestLifeCycle:
    def test_should_stamp_each_status_once_when_a_batch_completes(self) -> None:
        done = batch().moved_to("in_progress", 101).moved_to("finalizing", 102).moved_to("completed", 103)
        assert (done.status, done.in_progress_at, done.finalizing_at, done.completed_at) == (
            "completed",
            101,
            102,
            103,
        )
        assert done.finished

    def test_should_carry_the_errors_when_validation_fails_it(self) -> None:
        failed = batch().moved_to("failed", 101, [BatchError("invalid_url", "line 2: ...", 2, "url")])
        assert failed.errors.model_dump() == {
            "object": "list",
            "data": [{"code": "invalid_url", "message": "line 2: ...", "line": 2, "param": "url"}],
        }

    @pytest.mark.parametrize(
        ("path", "refused"),
        [
            (["in_progress", "finalizing", "completed"], "cancelling"),
            (["failed"], "in_progress"),
            (["cancelling", "cancelled"], "cancelling"),
            (["in_progress"], "completed"),
            (["in_progress"], "validating"),
        ],
    )
    def test_should_refuse_a_move_when_the_life_cycle_lacks_it(self, path, refused) -> None:
        current = batch()
        for status in path:
            current = current.moved_to(status, 1)
        with pytest.raises(ValueError, match=f"from {current.status} to {refused}"):
            current.moved_to(refused, 2)

    def test_should_parse_as_the_openai_clients_types_when_dumped(self) -> None:
        cancelled = batch(metadata={"k": "v"}).moved_to("cancelling", 1).moved_to("cancelled", 2)
        parsed = openai.types.Batch.model_validate(cancelled.model_dump())
        assert (parsed.status, parsed.cancelled_at, parsed.request_counts.total) == ("cancelled", 2, 0)
        upload = FileObject(id=new_id("file-"), bytes=10, created_at=1, filename="in.jsonl", purpose="batch")
        assert openai.types.FileObject.model_validate(upload.model_dump()).purpose == "batch"


class TestLines:
    def test_should_wrap_the_answer_like_openai_when_a_request_succeeds(self) -> None:
        item = output_line("r1", "req-1", {"object": "chat.completion"})
        assert item["id"].startswith("batch_req_") and item["error"] is None
        assert item["response"] == {
            "status_code": 200,
            "request_id": "req-1",
            "body": {"object": "chat.completion"},
        }

    def test_should_keep_the_status_and_the_openai_error_when_a_request_fails(self) -> None:
        error = {
            "message": "model 'x' is not served",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
        item = error_line("r2", "req-2", 404, error)
        assert item["response"] == {"status_code": 404, "request_id": "req-2", "body": {"error": error}}
        assert item["error"] == {"code": "model_not_found", "message": "model 'x' is not served"}


class TestPages:
    def test_should_list_newest_first_and_page_after_a_cursor_when_there_are_more(self) -> None:
        batches = [batch(created_at=t) for t in (1, 3, 2, 4)]
        first = page(batches, limit=2, after=None)
        assert [b["created_at"] for b in first["data"]] == [4, 3] and first["has_more"]
        second = page(batches, limit=2, after=first["last_id"])
        assert [b["created_at"] for b in second["data"]] == [2, 1] and not second["has_more"]
        assert (second["first_id"], second["last_id"]) == (second["data"][0]["id"], second["data"][1]["id"])

    def test_should_answer_an_empty_page_when_there_is_no_batch(self) -> None:
        assert page([], 20, None) == {
            "object": "list",
            "data": [],
            "first_id": None,
            "last_id": None,
            "has_more": False,
        }

    def test_should_raise_when_the_cursor_is_unknown(self) -> None:
        with pytest.raises(ValueError):
            page([batch()], 20, "batch_nope")
