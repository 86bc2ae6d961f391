"""devkit/batches.py: the wait on a batch, against a client whose batches move through given states."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from openai.types import Batch

from devkit.batches import BatchWaitFailed, wait_batch


def batch(status: str, completed: int = 0) -> Batch:
    return Batch.model_validate(
        {"id": "batch_1", "object": "batch", "endpoint": "/v1/chat/completions", "input_file_id": "file_1",
         "completion_window": "24h", "status": status, "created_at": 1,
         "request_counts": {"total": 4, "completed": completed, "failed": 0}}
    )  # fmt: skip


def client_of(*states: Batch):
    """A client whose `batches.retrieve` answers each state in turn, then the last one for ever."""
    seen = list(states)

    def retrieve(batch_id: str) -> Batch:
        return seen.pop(0) if len(seen) > 1 else seen[0]

    return SimpleNamespace(batches=SimpleNamespace(retrieve=retrieve))


class TestWaitBatch:
    def test_should_return_the_finished_batch_when_it_finishes(self) -> None:
        client = client_of(batch("validating"), batch("in_progress", 2), batch("completed", 4))
        assert wait_batch(client, "batch_1", 5, poll_s=0).status == "completed"

    def test_should_return_as_soon_as_the_condition_holds_when_one_is_given(self) -> None:
        client = client_of(batch("in_progress"), batch("in_progress", 1), batch("completed", 4))
        found = wait_batch(client, "batch_1", 5, until=lambda b: b.request_counts.completed >= 1, poll_s=0)
        assert (found.status, found.request_counts.completed) == ("in_progress", 1)

    def test_should_fail_naming_the_status_when_it_finishes_without_the_condition(self) -> None:
        client = client_of(batch("in_progress"), batch("failed"))
        with pytest.raises(BatchWaitFailed, match="batch batch_1 is failed"):
            wait_batch(client, "batch_1", 5, until=lambda b: b.status == "completed", poll_s=0)

    def test_should_fail_when_the_time_is_up(self) -> None:
        with pytest.raises(BatchWaitFailed, match="is in_progress"):
            wait_batch(client_of(batch("in_progress")), "batch_1", 0, poll_s=0)
