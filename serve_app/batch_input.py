"""A batch's input file: JSON lines of `{custom_id, method, url, body}`, checked the way the OpenAI
Batch API checks them while a batch is `validating`.

A file with any bad line fails the whole batch with the list of problems (`errors`, each with its
1-based line); nothing of it runs. What only the run can tell (an unknown model, a body the model
refuses) is a line of the error file instead, and the other lines still run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")
# A file with thousands of bad lines reports the first ones: enough to fix the generator.
MAX_ERRORS = 100
MAX_CUSTOM_ID = 512  # characters, as OpenAI's own limit on custom_id
_FIELDS = ("custom_id", "method", "url", "body")


@dataclass(frozen=True)
class BatchLine:
    line: int  # 1-based, in the input file
    custom_id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class BatchError:
    """One entry of a failed batch's `errors.data`."""

    code: str
    message: str
    line: int | None = None
    param: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _line_problem(number: int, text: str, endpoint: str) -> tuple[BatchLine | None, BatchError | None]:
    def error(code: str, message: str, param: str | None = None) -> tuple[None, BatchError]:
        return None, BatchError(code, f"line {number}: {message}", number, param)

    try:
        item = json.loads(text)
    except ValueError as err:
        return error("invalid_json_line", f"not valid JSON ({err.msg})")
    if not isinstance(item, dict):
        return error("invalid_json_line", "not a JSON object")
    missing = [name for name in _FIELDS if name not in item]
    if missing:
        return error("missing_required_parameter", f"missing {', '.join(missing)}", missing[0])
    unknown = sorted(set(item) - set(_FIELDS))
    if unknown:
        return error("invalid_request", f"unknown fields {unknown}; a line has {list(_FIELDS)}", unknown[0])
    custom_id, body = item["custom_id"], item["body"]
    if not isinstance(custom_id, str) or not 0 < len(custom_id) <= MAX_CUSTOM_ID:
        return error(
            "invalid_request", f"custom_id must be a string of 1 to {MAX_CUSTOM_ID} characters", "custom_id"
        )
    if item["method"] != "POST":
        return error("invalid_method", f"method must be POST, not {item['method']!r}", "method")
    if item["url"] != endpoint:
        return error("invalid_url", f"url {item['url']!r} is not the batch's endpoint {endpoint}", "url")
    if not isinstance(body, dict):
        return error("invalid_request", "body must be a JSON object", "body")
    if not isinstance(body.get("model"), str) or not body["model"]:
        return error("missing_required_parameter", "body.model must name a model", "body.model")
    if body.get("stream"):
        return error("invalid_request", "a batch request cannot stream", "body.stream")
    return BatchLine(number, custom_id, body), None


def read_batch_input(
    content: bytes, endpoint: str, max_lines: int
) -> tuple[list[BatchLine], list[BatchError]]:
    """The requests of an input file, or the problems that fail its batch (at most MAX_ERRORS)."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as err:
        return [], [BatchError("invalid_file", f"the file is not UTF-8 text (byte {err.start})")]
    rows = text.split("\n")
    if rows and rows[-1] == "":
        rows.pop()  # the newline that ends the last line
    if not rows:
        return [], [BatchError("empty_file", "the file has no requests")]
    if len(rows) > max_lines:
        return [], [
            BatchError("too_many_requests", f"the file has {len(rows)} requests; the limit is {max_lines}")
        ]
    lines: list[BatchLine] = []
    errors: list[BatchError] = []
    first_line: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        line, problem = _line_problem(number, row.rstrip("\r"), endpoint)
        if line is not None and line.custom_id in first_line:
            message = (
                f"line {number}: custom_id {line.custom_id!r} is already on line {first_line[line.custom_id]}"
            )
            line, problem = None, BatchError("duplicate_custom_id", message, number, "custom_id")
        if problem is not None:
            errors.append(problem)
            if len(errors) == MAX_ERRORS:
                break
        else:
            first_line[line.custom_id] = number
            lines.append(line)
    return ([] if errors else lines), errors
