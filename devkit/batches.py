"""Waiting on a batch through the `openai` client: the one polling loop of the bench, the monitoring
harness and the batch tests."""

from __future__ import annotations

import time
from collections.abc import Callable

import openai
from openai.types import Batch

from serve_app.batch_records import FINISHED


class BatchWaitFailed(RuntimeError):
    """The batch finished without reaching the state waited for, or did not reach it in time."""


def is_finished(batch: Batch) -> bool:
    return batch.status in FINISHED


def wait_batch(
    client: openai.OpenAI,
    batch_id: str,
    timeout_s: float,
    until: Callable[[Batch], bool] = is_finished,
    poll_s: float = 0.5,
) -> Batch:
    """The batch as soon as `until` holds for it."""
    deadline = time.monotonic() + timeout_s
    while not until(batch := client.batches.retrieve(batch_id)):
        if is_finished(batch) or time.monotonic() > deadline:
            raise BatchWaitFailed(
                f"batch {batch_id} is {batch.status} after {timeout_s} s or less: {batch.model_dump_json()}"
            )
        time.sleep(poll_s)
    return batch
