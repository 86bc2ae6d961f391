"""The Files and Batches API over a store: what `POST /v1/files`, `/v1/batches` ... do, and the run of a
batch from `validating` to a finished status.

One instance owns the batch records (the batch deployment has one replica): every change is made on
its in-memory copy, within one event loop, then written whole to the store, so a cancel and a run's
progress never overwrite each other. After a restart, `unfinished()` names the batches to run again:
a run resumes from its journal of answered lines.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from serve_app.batch_input import ENDPOINTS, BatchLine, read_batch_input
from serve_app.batch_records import COMPLETION_WINDOW, Batch, FileObject, RequestCounts, new_id, page
from serve_app.batch_run import DEFAULT_RETRY, LineCall, Retry, read_journal, run_lines
from serve_app.batch_store import Store
from serve_app.errors import ApiError


@dataclass(frozen=True)
class BatchLimits:
    max_file_bytes: int = 100 * 2**20
    max_lines: int = 50_000
    max_in_progress: int = 4
    concurrency: int = 4  # lines of one batch at a time


def _not_found(kind: str, object_id: str, param: str) -> ApiError:
    return ApiError(404, f"no {kind} with id {object_id!r}", param=param, code="not_found")


class BatchService:
    def __init__(self, store: Store, limits: BatchLimits, clock: Callable[[], float] = time.time) -> None:
        self._store, self._limits, self._clock = store, limits, clock
        self._batches = {
            batch.id: batch
            for batch in (Batch.model_validate_json(store.get(key)) for key in store.keys("batches"))
        }

    def _now(self) -> int:
        return int(self._clock())

    # Files

    def create_file(self, filename: str, purpose: str, content: bytes) -> FileObject:
        """An upload (`POST /v1/files`): batch input only, within the size limit."""
        if purpose != "batch":
            raise ApiError(400, f"purpose must be 'batch', not {purpose!r}", param="purpose")
        if len(content) > self._limits.max_file_bytes:
            raise ApiError(
                413, f"the file has {len(content)} bytes; the limit is {self._limits.max_file_bytes}"
            )
        return self._write_file(filename, purpose, content)

    def _write_file(self, filename: str, purpose: str, content: bytes) -> FileObject:
        record = FileObject(
            id=new_id("file-"), bytes=len(content), created_at=self._now(), filename=filename, purpose=purpose
        )
        self._store.put(f"file_data/{record.id}", content)
        self._store.put(f"files/{record.id}.json", record.model_dump_json().encode())
        return record

    def file(self, file_id: str) -> FileObject:
        try:
            return FileObject.model_validate_json(self._store.get(f"files/{file_id}.json"))
        except (FileNotFoundError, ValueError):
            raise _not_found("file", file_id, "file_id") from None

    def file_content(self, file_id: str) -> bytes:
        self.file(file_id)
        return self._store.get(f"file_data/{file_id}")

    def delete_file(self, file_id: str) -> dict[str, Any]:
        self.file(file_id)
        self._store.delete(f"file_data/{file_id}")
        self._store.delete(f"files/{file_id}.json")
        return {"id": file_id, "object": "file", "deleted": True}

    # Batches

    def _save(self, batch: Batch) -> Batch:
        self._batches[batch.id] = batch
        self._store.put(f"batches/{batch.id}.json", batch.model_dump_json().encode())
        return batch

    def create_batch(
        self,
        input_file_id: str,
        endpoint: str,
        completion_window: str,
        metadata: dict[str, str] | None = None,
    ) -> Batch:
        if endpoint not in ENDPOINTS:
            raise ApiError(
                400, f"endpoint must be one of {list(ENDPOINTS)}, not {endpoint!r}", param="endpoint"
            )
        if completion_window != COMPLETION_WINDOW:
            raise ApiError(400, f"completion_window must be {COMPLETION_WINDOW!r}", param="completion_window")
        if self.file(input_file_id).purpose != "batch":
            raise ApiError(400, f"file {input_file_id!r} was not uploaded for a batch", param="input_file_id")
        if len(self.unfinished()) >= self._limits.max_in_progress:
            raise ApiError(
                429,
                f"{self._limits.max_in_progress} batches are already running; retry when one has finished",
            )
        now = self._now()
        return self._save(
            Batch(
                id=new_id("batch_"), endpoint=endpoint, input_file_id=input_file_id, created_at=now,
                expires_at=now + 24 * 3600, metadata=metadata,
            )
        )  # fmt: skip

    def batch(self, batch_id: str) -> Batch:
        if batch_id not in self._batches:
            raise _not_found("batch", batch_id, "batch_id")
        return self._batches[batch_id]

    def batches(self, limit: int = 20, after: str | None = None) -> dict[str, Any]:
        if not 1 <= limit <= 100:
            raise ApiError(400, "limit must be between 1 and 100", param="limit")
        try:
            return page(list(self._batches.values()), limit, after)
        except ValueError:
            raise _not_found("batch", after or "", "after") from None

    def cancel(self, batch_id: str) -> Batch:
        batch = self.batch(batch_id)
        if batch.finished or batch.status == "cancelling":
            raise ApiError(409, f"cannot cancel a batch with status {batch.status!r}", code="conflict")
        return self._save(batch.moved_to("cancelling", self._now()))

    def unfinished(self) -> list[str]:
        """The batches a run must still take to a finished status, oldest first."""
        return [b.id for b in sorted(self._batches.values(), key=lambda b: b.created_at) if not b.finished]

    # A batch's run

    async def run(self, batch_id: str, call: LineCall, retry: Retry = DEFAULT_RETRY) -> Batch:
        """Takes the batch from where it is (a restart included) to completed, failed or cancelled."""
        batch = self.batch(batch_id)
        content = self.file_content(batch.input_file_id)
        lines, errors = read_batch_input(content, batch.endpoint, self._limits.max_lines)
        if batch.status == "validating" and errors:
            return self._save(batch.moved_to("failed", self._now(), errors))
        if batch.status == "validating":
            batch = self._save(
                batch.moved_to("in_progress", self._now()).model_copy(
                    update={"request_counts": RequestCounts(total=len(lines))}
                )
            )
        journal_key = f"journals/{batch_id}.jsonl"
        answered = read_journal(self._journal(journal_key))
        # Counted once here, then per answered line: a recount per line is quadratic in the batch.
        counts = self._counts(lines, answered)

        def journal(item: dict[str, Any]) -> None:
            self._store.append(journal_key, json.dumps(item).encode() + b"\n")
            answered[item["custom_id"]] = item
            if item["error"] is None:
                counts.completed += 1
            else:
                counts.failed += 1
            self._save(self.batch(batch_id).model_copy(update={"request_counts": counts.model_copy()}))

        if batch.status == "in_progress":
            remaining = [line for line in lines if line.custom_id not in answered]
            await run_lines(
                remaining, call, journal, concurrency=self._limits.concurrency, retry=retry,
                cancelled=lambda: self.batch(batch_id).status == "cancelling",
            )  # fmt: skip
            if self.batch(batch_id).status == "in_progress":
                self._save(self.batch(batch_id).moved_to("finalizing", self._now()))
        return self._finish(batch_id, lines, answered)

    def _journal(self, key: str) -> bytes:
        try:
            return self._store.get(key)
        except FileNotFoundError:
            return b""

    @staticmethod
    def _counts(lines: list[BatchLine], answered: dict[str, dict[str, Any]]) -> RequestCounts:
        failed = sum(1 for item in answered.values() if item["error"] is not None)
        return RequestCounts(total=len(lines), completed=len(answered) - failed, failed=failed)

    def _finish(self, batch_id: str, lines: list[BatchLine], answered: dict[str, dict[str, Any]]) -> Batch:
        """The output and error files, in input order, then the finished status."""
        batch = self.batch(batch_id)
        ordered = [answered[line.custom_id] for line in lines if line.custom_id in answered]
        files: dict[str, str | None] = {}
        for field, name, items in (
            ("output_file_id", "output", [i for i in ordered if i["error"] is None]),
            ("error_file_id", "error", [i for i in ordered if i["error"] is not None]),
        ):
            content = b"".join(json.dumps(item).encode() + b"\n" for item in items)
            files[field] = (
                self._write_file(f"{batch_id}_{name}.jsonl", "batch_output", content).id if items else None
            )
        status = "cancelled" if batch.status == "cancelling" else "completed"
        return self._save(batch.model_copy(update=files).moved_to(status, self._now()))
