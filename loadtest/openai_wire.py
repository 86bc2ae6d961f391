"""OpenAI chat-completions wire format: request bodies, server-sent events, token timing.

Pure functions and small classes with explicit timestamps, so the timing logic is testable without a
server. The Locust user feeds raw bytes and `time.perf_counter()` readings in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
DONE_SENTINEL = "[DONE]"


class WireError(ValueError):
    """The server answered, but not with a well-formed, complete chat completion."""


def build_chat_body(
    model: str,
    messages: list[dict],
    *,
    max_tokens: int,
    stream: bool,
    temperature: float = 0.0,
    ignore_eos: bool = False,
) -> dict:
    """The JSON body of one chat completion request."""
    body: dict = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "stream": stream,
    }
    if stream:
        # The final chunk then carries `usage`, the only exact token count of a stream: servers may
        # put several tokens into one chunk (Ray Serve LLM batches stream output).
        body["stream_options"] = {"include_usage": True}
    if ignore_eos:
        # vLLM extension: generate exactly max_tokens, so runs are comparable.
        body["ignore_eos"] = True
    return body


def model_ids(models_response: dict) -> list[str]:
    """Model ids from a `GET /v1/models` response."""
    try:
        return [entry["id"] for entry in models_response["data"]]
    except (KeyError, TypeError) as e:
        raise WireError(f"not a model list: {str(models_response)[:200]}") from e


def context_lengths(models_response: dict) -> dict[str, int | None]:
    """Each listed model's context length in tokens from `GET /v1/models`; None when not given."""
    return dict(zip(model_ids(models_response), map(_context_length, models_response["data"]), strict=True))


def _context_length(card: dict) -> int | None:
    # vLLM's card has `max_model_len`; Ray Serve LLM's has `metadata.max_request_context_length`
    # (the engine's max_model_len when set in its config, else null).
    metadata = card.get("metadata") if isinstance(card.get("metadata"), dict) else {}
    value = card.get("max_model_len") or metadata.get("max_request_context_length")
    return value if type(value) is int and value > 0 else None


class SSEDecoder:
    """Incremental server-sent-events decoder: bytes in, `data` payloads out.

    Events end with a blank line; a payload may span several network reads and one read may hold
    several events, so bytes are buffered until an event is complete.
    """

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data.replace(b"\r\n", b"\n")
        *events, self._buffer = self._buffer.split(b"\n\n")
        return [payload for event in events if (payload := _event_data(event)) is not None]

    @property
    def pending(self) -> bytes:
        """Bytes of an event that has not been terminated yet."""
        return self._buffer


def _event_data(event: bytes) -> str | None:
    """The `data` field of one SSE event (multi-line data joined with newlines), None for comments."""
    lines = [
        line[5:].removeprefix(b" ").decode("utf-8", errors="replace")
        for line in event.split(b"\n")
        if line.startswith(b"data:")
    ]
    return "\n".join(lines) if lines else None


def parse_chunk(payload: str) -> dict:
    """One `data:` payload of a chat completion stream as JSON; an in-stream error raises."""
    try:
        chunk = json.loads(payload)
    except json.JSONDecodeError as e:
        raise WireError(f"chunk is not JSON: {payload[:200]!r}") from e
    if not isinstance(chunk, dict):
        raise WireError(f"chunk is not an object: {payload[:200]!r}")
    if "error" in chunk:
        raise WireError(f"error in stream: {json.dumps(chunk['error'])[:300]}")
    return chunk


def chunk_text(chunk: dict) -> str:
    """Generated text carried by a stream chunk (content or reasoning of the first choice)."""
    choices = chunk.get("choices") or []
    if not choices:
        return ""
    delta = choices[0].get("delta") or {}
    return (delta.get("content") or "") + (delta.get("reasoning_content") or delta.get("reasoning") or "")


def completion_tokens(body: dict) -> int | None:
    """`usage.completion_tokens` of a response or final chunk, if the server sent it."""
    usage = body.get("usage") or {}
    tokens = usage.get("completion_tokens")
    return int(tokens) if tokens is not None else None


@dataclass(frozen=True)
class Completion:
    """What one successful request produced, with perf-counter timestamps in seconds."""

    start: float
    end: float
    output_tokens: int
    first_token: float | None = None  # None for non-streamed requests: no token arrives early
    last_token: float | None = None
    response_bytes: int = 0

    @property
    def e2e_ms(self) -> float:
        return (self.end - self.start) * 1000

    @property
    def ttft_ms(self) -> float | None:
        return None if self.first_token is None else (self.first_token - self.start) * 1000

    @property
    def itl_ms(self) -> float | None:
        """Mean inter-token latency of this request: decode time spread over the tokens after the first."""
        if self.first_token is None or self.last_token is None or self.output_tokens < 2:
            return None
        return (self.last_token - self.first_token) * 1000 / (self.output_tokens - 1)

    @property
    def tokens_per_s(self) -> float:
        """Output tokens per second of this request, end to end (queueing and prefill included)."""
        seconds = self.end - self.start
        return self.output_tokens / seconds if seconds > 0 else 0.0


@dataclass
class StreamReader:
    """Accumulates one streamed chat completion; `finish` checks it ended properly."""

    start: float
    _decoder: SSEDecoder = field(default_factory=SSEDecoder)
    _first_token: float | None = None
    _last_token: float | None = None
    _content_chunks: int = 0
    _usage_tokens: int | None = None
    _done: bool = False
    _bytes: int = 0

    def feed(self, data: bytes, now: float) -> None:
        self._bytes += len(data)
        for payload in self._decoder.feed(data):
            if self._done:
                raise WireError("data after [DONE]")
            if payload.strip() == DONE_SENTINEL:
                self._done = True
                continue
            chunk = parse_chunk(payload)
            if chunk_text(chunk):
                self._content_chunks += 1
                self._last_token = now
                if self._first_token is None:
                    self._first_token = now
            if (tokens := completion_tokens(chunk)) is not None:
                self._usage_tokens = tokens

    def finish(self, now: float) -> Completion:
        if not self._done:
            raise WireError(
                f"stream ended without [DONE] after {self._bytes} bytes"
                + (f"; unterminated: {self._decoder.pending[:120]!r}" if self._decoder.pending else "")
            )
        if self._first_token is None:
            raise WireError("stream carried no generated text")
        tokens = self._usage_tokens if self._usage_tokens is not None else self._content_chunks
        return Completion(
            start=self.start,
            end=now,
            output_tokens=tokens,
            first_token=self._first_token,
            last_token=self._last_token,
            response_bytes=self._bytes,
        )


def read_completion(body: bytes, start: float, end: float) -> Completion:
    """A non-streamed chat completion response."""
    try:
        response = json.loads(body)
    except json.JSONDecodeError as e:
        raise WireError(f"response is not JSON: {body[:200]!r}") from e
    if not isinstance(response, dict) or not response.get("choices"):
        raise WireError(f"response has no choices: {body[:200]!r}")
    tokens = completion_tokens(response)
    if tokens is None:
        raise WireError("response has no usage.completion_tokens")
    return Completion(start=start, end=end, output_tokens=tokens, response_bytes=len(body))
