"""What became of one request: the record a load client fills in, and its verdict.

A request ends in exactly one of four ways. `ok`: a 200 with a complete body (a stream ends with
`data: [DONE]` and carries no error event). `clean`: the serving side failed and said so the way
the API promises, a 503 with an OpenAI-shaped JSON error and `Retry-After`, or for a stream that
had already started an SSE `data: {"error": {...}}` event followed by `data: [DONE]`. `hung`: no
byte for longer than the client's bound. `dirty`: everything else (a reset, a stream cut without an
error event, a non-JSON error body, a 5xx without the OpenAI shape).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal

Verdict = Literal["ok", "clean", "dirty", "hung"]
VERDICTS: tuple[Verdict, ...] = ("ok", "clean", "dirty", "hung")
DONE = "[DONE]"


@dataclass
class Attempt:
    """One request as the client saw it; times are seconds on the harness's monotonic clock."""

    model: str
    stream: bool
    started: float
    ended: float = 0.0  # 0 while in flight
    first_byte: float = 0.0  # when the first body byte arrived; 0 if none did
    status: int | None = None  # None: no response head arrived
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""  # a non-streamed body, or the raw SSE text of a stream
    transport_error: str = ""  # the exception that ended the exchange, if any
    timed_out: bool = False  # the client's idle bound passed without a byte

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "stream": self.stream,
            "started": round(self.started, 3),
            "ended": round(self.ended, 3),
            "status": self.status,
            "verdict": classify(self),
            "why": explain(self),
            # The end of what came back, for judging a failure by eye.
            **({} if classify(self) == "ok" else {"tail": self.body[-300:], "error": self.transport_error}),
        }


def is_openai_error(payload: object) -> bool:
    """`{"error": {"message": str, ...}}`: the shape the OpenAI clients parse."""
    return (
        isinstance(payload, dict)
        and isinstance(payload.get("error"), dict)
        and isinstance(payload["error"].get("message"), str)
    )


def sse_data(text: str) -> list[str]:
    """The `data:` payloads of an SSE text, in order (comments and other fields left out)."""
    # SSE ends lines with \r\n, \r or \n only; str.splitlines() would also split on U+2028 and
    # friends, which a (random-weight) model may emit unescaped inside a JSON string.
    lines = re.split(r"\r\n|\r|\n", text)
    return [line[5:].strip() for line in lines if line.startswith("data:")]


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _stream_verdict(events: list[str]) -> tuple[Verdict, str]:
    if not events or events[-1] != DONE:
        return "dirty", "stream ended without data: [DONE]"
    payloads = [_json(e) for e in events[:-1]]
    if any(p is None for p in payloads):
        return "dirty", "a stream event is not JSON"
    errors = [i for i, p in enumerate(payloads) if isinstance(p, dict) and "error" in p]
    if not errors:
        return "ok", ""
    # The error must be the last event before [DONE] and OpenAI-shaped: clients stop reading there.
    if errors == [len(payloads) - 1] and is_openai_error(payloads[-1]):
        return "clean", "SSE error event then [DONE]"
    return "dirty", "malformed or misplaced error event"


def _error_verdict(attempt: Attempt) -> tuple[Verdict, str]:
    payload = _json(attempt.body)
    if not is_openai_error(payload):
        return "dirty", f"HTTP {attempt.status} without an OpenAI-shaped JSON error"
    if attempt.status == 503 and "retry-after" not in attempt.headers:
        return "dirty", "503 without Retry-After"
    if attempt.status == 503:
        return "clean", f"503 {payload['error'].get('code')}"
    if attempt.status is not None and attempt.status >= 500:
        return "dirty", f"HTTP {attempt.status} (the API promises 503 for serving-side failures)"
    # A 4xx the harness caused would be a harness bug, not a serving fault.
    return "dirty", f"HTTP {attempt.status} {payload['error'].get('code')}"


def judge(attempt: Attempt) -> tuple[Verdict, str]:
    """The verdict and a short reason."""
    if attempt.timed_out:
        return "hung", "no byte within the idle bound"
    if attempt.status is None:
        return "dirty", f"no response: {attempt.transport_error or 'connection closed'}"
    if attempt.status != 200:
        if attempt.transport_error:
            return "dirty", f"HTTP {attempt.status}, then {attempt.transport_error}"
        return _error_verdict(attempt)
    if attempt.stream:
        verdict, why = _stream_verdict(sse_data(attempt.body))
        if attempt.transport_error and verdict != "ok":
            why = f"{why} ({attempt.transport_error})"
        return verdict, why
    if attempt.transport_error:
        return "dirty", f"body cut: {attempt.transport_error}"
    payload = _json(attempt.body)
    if isinstance(payload, dict) and payload.get("choices"):
        return "ok", ""
    return "dirty", "200 without a completion body"


def classify(attempt: Attempt) -> Verdict:
    return judge(attempt)[0]


def explain(attempt: Attempt) -> str:
    return judge(attempt)[1]
