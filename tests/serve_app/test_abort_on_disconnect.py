"""A client that drops a stream stops its generation: vLLM's counters stop and nothing keeps running."""

from __future__ import annotations

import json
import time

import pytest

from tests.serve_app.deployment import MAX_MODEL_LEN, Stack, chat_body

pytestmark = pytest.mark.live  # runs against the session's local Ray (conftest.py)

TOKENS = "ray_vllm_generation_tokens_total"
RUNNING = "ray_vllm_num_requests_running"
MAX_TOKENS = MAX_MODEL_LEN - 64


def settled_tokens(stack: Stack, model: str, timeout_s: float = 30) -> float:
    """The generated-token counter once it stops moving (metrics arrive every second)."""
    deadline, last = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        value = stack.metric(TOKENS, model_name=model)
        if value == last:
            return value
        last = value
        time.sleep(2.5)
    raise AssertionError(f"{TOKENS} of {model} still moving after {timeout_s} s")


class TestAbortOnDisconnect:
    def test_should_stop_generating_when_the_client_drops_the_stream(self, stack: Stack) -> None:
        before = settled_tokens(stack, "tiny-v2")
        with (
            stack.http() as http,
            http.stream(
                "POST",
                "/v1/chat/completions",
                json=chat_body("tiny-v2", max_tokens=MAX_TOKENS, ignore_eos=True, stream=True),
            ) as response,
        ):
            assert response.status_code == 200
            # Chunks with text: each holds at least one token the engine made (the first chunk only
            # names the role, so counting every data line overstated what had been generated).
            seen = 0
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    seen += any(c["delta"].get("content") for c in json.loads(line[6:])["choices"])
                if seen >= 4:
                    break
        dropped_at = time.monotonic()
        after = settled_tokens(stack, "tiny-v2")
        generated = after - before
        # Running to the end would generate MAX_TOKENS; the engine stopped a fraction of the way.
        assert seen <= generated < MAX_TOKENS / 4, (seen, generated)
        assert time.monotonic() - dropped_at < 30
        assert stack.metric(RUNNING, model_name="tiny-v2") == 0
