"""The OpenAI Files and Batch objects the gateway answers with, a batch's life cycle, and the lines of
its output and error files.

Life cycle (OpenAI's): validating → in_progress → finalizing → completed; validating → failed (with
`errors`); validating / in_progress / finalizing → cancelling → cancelled. Each status sets its
`<status>_at` time once; any other move is refused, so a restarted batch replica cannot undo one.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

from pydantic import BaseModel, Field

from serve_app.batch_input import BatchError

Status = Literal["validating", "failed", "in_progress", "finalizing", "completed", "cancelling", "cancelled"]
FINISHED = frozenset({"failed", "completed", "cancelled"})
_NEXT: dict[str, frozenset[str]] = {
    "validating": frozenset({"in_progress", "failed", "cancelling"}),
    "in_progress": frozenset({"finalizing", "cancelling", "failed"}),
    "finalizing": frozenset({"completed", "cancelling", "failed"}),
    "cancelling": frozenset({"cancelled"}),
}
COMPLETION_WINDOW = "24h"


def new_id(prefix: str) -> str:
    """`file-…`, `batch_…`, `batch_req_…`: OpenAI's prefixes, 24 random hex digits."""
    return f"{prefix}{secrets.token_hex(12)}"


class FileObject(BaseModel):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: Literal["batch", "batch_output"]
    status: Literal["processed"] = "processed"


class RequestCounts(BaseModel):
    total: int = 0
    completed: int = 0
    failed: int = 0


class Errors(BaseModel):
    object: Literal["list"] = "list"
    data: list[dict[str, Any]]


class Batch(BaseModel):
    id: str
    object: Literal["batch"] = "batch"
    endpoint: str
    input_file_id: str
    completion_window: str = COMPLETION_WINDOW
    status: Status = "validating"
    errors: Errors | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    created_at: int
    in_progress_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    expires_at: int | None = None
    request_counts: RequestCounts = Field(default_factory=RequestCounts)
    metadata: dict[str, str] | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def moved_to(self, status: Status, now: int, errors: list[BatchError] | None = None) -> Batch:
        """This batch in `status` at `now`; ValueError for a move its life cycle does not have."""
        if status not in _NEXT.get(self.status, frozenset()):
            raise ValueError(f"a batch cannot go from {self.status} to {status}")
        update: dict[str, Any] = {"status": status, f"{status}_at": now}
        if errors:
            update["errors"] = Errors(data=[e.to_json() for e in errors])
        return self.model_copy(update=update)


def output_line(custom_id: str, request_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A line of the output file: a request that was answered 200."""
    return {
        "id": new_id("batch_req_"),
        "custom_id": custom_id,
        "response": {"status_code": 200, "request_id": request_id, "body": body},
        "error": None,
    }


def error_line(custom_id: str, request_id: str, status: int, error: dict[str, Any]) -> dict[str, Any]:
    """A line of the error file: a request answered with an OpenAI error (`{"message", "code", ...}`)."""
    return {
        "id": new_id("batch_req_"),
        "custom_id": custom_id,
        "response": {"status_code": status, "request_id": request_id, "body": {"error": error}},
        "error": {"code": error.get("code"), "message": error.get("message")},
    }


def page(batches: list[Batch], limit: int, after: str | None) -> dict[str, Any]:
    """`GET /v1/batches`: newest first, `limit` after the batch `after` (ValueError if there is none)."""
    ordered = sorted(batches, key=lambda b: (b.created_at, b.id), reverse=True)
    start = 0 if after is None else [batch.id for batch in ordered].index(after) + 1
    data = ordered[start : start + limit]
    return {
        "object": "list",
        "data": [batch.model_dump() for batch in data],
        "first_id": data[0].id if data else None,
        "last_id": data[-1].id if data else None,
        "has_more": start + limit < len(ordered),
    }
