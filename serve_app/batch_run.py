"""Running a batch's lines: a bounded number at a time, each answer journaled as it comes, so a batch
replica that restarts resumes with the lines not yet answered; cancel stops new lines from starting.

A line the serving side cannot take now (503 overloaded or unavailable, 429) waits and is tried again
a bounded number of times: a batch gives way to interactive traffic instead of failing its lines.
(A line for a model that is starting waits for it in the gateway first: serve_app/availability.py.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from serve_app.batch_input import BatchLine
from serve_app.batch_records import error_line, output_line

# A line's call: (status, body, request id); the body is the answer, or `{"error": {...}}`.
LineCall = Callable[[BatchLine], Awaitable[tuple[int, dict[str, Any], str]]]
RETRYABLE = frozenset({429, 503})


@dataclass(frozen=True)
class Retry:
    attempts: int = 5  # calls per line, the first included
    wait_s: float = 2.0  # doubled after each refusal


DEFAULT_RETRY = Retry()


def journal_line(line: BatchLine, status: int, body: dict[str, Any], request_id: str) -> dict[str, Any]:
    """The output-file line (200) or error-file line (anything else) of an answered request."""
    if status == 200:
        return output_line(line.custom_id, request_id, body)
    return error_line(line.custom_id, request_id, status, body.get("error") or {"message": str(body)})


def read_journal(data: bytes) -> dict[str, dict[str, Any]]:
    """custom_id → its journaled line; a last line cut by a crash is dropped (that request reruns)."""
    answered = {}
    for row in data.split(b"\n"):
        try:
            item = json.loads(row)
        except ValueError:
            continue
        answered[item["custom_id"]] = item
    return answered


async def _answer(line: BatchLine, call: LineCall, retry: Retry, sleep) -> dict[str, Any]:
    wait_s = retry.wait_s
    for attempt in range(1, retry.attempts + 1):
        try:
            status, body, request_id = await call(line)
        except Exception as err:  # the call maps errors to statuses; anything else must not lose the line
            status, body, request_id = (
                503,
                {"error": {"message": f"{type(err).__name__}: {err}", "code": "service_unavailable"}},
                "",
            )
        if status not in RETRYABLE or attempt == retry.attempts:
            return journal_line(line, status, body, request_id)
        await sleep(wait_s)
        wait_s *= 2
    raise AssertionError("unreachable: the last attempt returns")


async def run_lines(
    lines: Iterable[BatchLine],
    call: LineCall,
    journal: Callable[[dict[str, Any]], None],
    *,
    concurrency: int,
    cancelled: Callable[[], bool],
    retry: Retry = DEFAULT_RETRY,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """Answers `lines` (`concurrency` at a time), journaling each answer; False when a cancel left
    some unanswered. Lines already started finish and are journaled; none starts once `cancelled()`."""
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task] = set()
    skipped = False

    async def one(line: BatchLine) -> None:
        nonlocal skipped
        try:
            if cancelled():  # the cancel came while this task waited to start
                skipped = True
            else:
                journal(await _answer(line, call, retry, sleep))
        finally:
            slots.release()

    for line in lines:
        await slots.acquire()
        if cancelled():
            slots.release()
            skipped = True
            break
        task = asyncio.create_task(one(line))
        running.add(task)
        task.add_done_callback(running.discard)
    await asyncio.gather(*running)
    return not skipped
