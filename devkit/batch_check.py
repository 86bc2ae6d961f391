"""A batch run end to end through the `openai` client, checked line by line: what `tools/batch_check.py`
runs against a local run (the 1,000-line proof) and the live batch tests run small.

The batch has `lines` chat lines; every `unknown_every`-th names a model no one serves, so the error
file must hold exactly those (404 model_not_found) and the output file every other one, in input order.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import asdict, dataclass, field

import openai

from devkit.batches import wait_batch

CHAT = "/v1/chat/completions"
UNKNOWN_MODEL = "no-such-model"


@dataclass
class BatchCheck:
    batch_id: str
    status: str
    lines: int
    completed: int
    failed: int
    seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> dict:
        return asdict(self) | {"ok": self.ok}


def batch_input(lines: int, model: str, unknown_every: int, max_tokens: int) -> tuple[bytes, set[str]]:
    """The JSONL input and the custom_ids of the lines that name an unknown model."""
    rows, unknown = [], set()
    for i in range(lines):
        custom_id = f"line-{i}"
        line_model = model
        if unknown_every and i % unknown_every == unknown_every - 1:
            line_model = UNKNOWN_MODEL
            unknown.add(custom_id)
        body = {
            "model": line_model,
            "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": custom_id}],
        }
        rows.append(json.dumps({"custom_id": custom_id, "method": "POST", "url": CHAT, "body": body}))
    return ("\n".join(rows) + "\n").encode(), unknown


def file_lines(client: openai.OpenAI, file_id: str | None) -> list[dict]:
    """The JSON lines of a file of the Files API (a batch's output or error file); none without one."""
    return [json.loads(row) for row in client.files.content(file_id).text.splitlines()] if file_id else []


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 300 else f"{text[:300]}... ({len(text)} characters)"


def run_batch_check(
    client: openai.OpenAI, model: str, lines: int, unknown_every: int, max_tokens: int, timeout_s: float
) -> BatchCheck:
    data, unknown = batch_input(lines, model, unknown_every, max_tokens)
    start = time.monotonic()
    upload = client.files.create(file=("batch-check.jsonl", io.BytesIO(data)), purpose="batch")
    created = client.batches.create(input_file_id=upload.id, endpoint=CHAT, completion_window="24h")
    done = wait_batch(client, created.id, timeout_s, poll_s=2.0)
    counts = done.request_counts
    check = BatchCheck(
        created.id, done.status, lines, counts.completed if counts else 0, counts.failed if counts else 0,
        round(time.monotonic() - start, 1),
    )  # fmt: skip
    order = [f"line-{i}" for i in range(lines)]
    good, bad = [c for c in order if c not in unknown], [c for c in order if c in unknown]
    output, errors = file_lines(client, done.output_file_id), file_lines(client, done.error_file_id)
    totals = (counts.total, counts.completed, counts.failed) if counts else None
    not_found = (404, "model_not_found")
    expected = {
        "status": (done.status, "completed"),
        "request_counts": (totals, (lines, len(good), len(bad))),
        "output custom_ids in input order": ([o["custom_id"] for o in output], good),
        "output lines not 200 or without choices": (
            [
                o["custom_id"]
                for o in output
                if o["response"]["status_code"] != 200 or not o["response"]["body"]["choices"]
            ],
            [],
        ),
        "error custom_ids in input order": ([e["custom_id"] for e in errors], bad),
        "error lines not 404 model_not_found": (
            [
                e["custom_id"]
                for e in errors
                if (e["response"]["status_code"], e["error"]["code"]) != not_found
            ],
            [],
        ),
    }
    check.problems = [
        f"{name}: {_short(got)} != {_short(want)}" for name, (got, want) in expected.items() if got != want
    ]
    return check
