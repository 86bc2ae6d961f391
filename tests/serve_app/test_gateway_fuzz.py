"""Property-based fuzzing of request bodies: whatever arrives, no 5xx and no replica goes down."""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serve_app.deployment import Stack

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=8,
)
# Mostly plausible values (to reach vLLM), sometimes anything at all; max_tokens stays small so that
# valid requests generate only a few tokens.
MODEL = (
    st.sampled_from(["tiny", "tiny-v2", "tiny-embed", "chat", "small", "tiny-ab", "assistant", "nope"]) | JSON
)
MAX_TOKENS = st.integers(-3, 8) | JSON
MESSAGE = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "system", "assistant", "tool", "robot"]) | JSON,
        "content": st.text(max_size=40) | JSON,
    }
)
SAMPLING = {
    "temperature": st.floats(-1, 3) | JSON,
    "top_p": st.floats(-0.5, 1.5) | JSON,
    "top_k": st.integers(-2, 50) | JSON,
    "n": st.integers(-1, 3) | JSON,
    "stream": st.booleans() | JSON,
    "stop": st.text(max_size=5) | st.lists(st.text(max_size=5), max_size=5) | JSON,
    "logprobs": st.booleans() | st.integers(-1, 25) | JSON,
    "seed": st.integers(-5, 2**70) | JSON,
    "presence_penalty": st.floats(-3, 3) | JSON,
    "response_format": st.sampled_from([{"type": "json_object"}, {"type": "text"}, {"type": "nope"}]) | JSON,
    "user": st.text(max_size=10) | JSON,
}
CHAT = st.fixed_dictionaries(
    {"model": MODEL, "messages": st.lists(MESSAGE, max_size=3) | JSON, "max_tokens": MAX_TOKENS},
    optional={**SAMPLING, "top_logprobs": st.integers(-1, 30) | JSON, "tools": JSON},
)
COMPLETION = st.fixed_dictionaries(
    {
        "model": MODEL,
        "prompt": st.text(max_size=60) | st.lists(st.integers(-10, 100_000), max_size=6) | JSON,
        "max_tokens": MAX_TOKENS,
    },
    optional={**SAMPLING, "echo": st.booleans() | JSON, "suffix": JSON},
)
EMBEDDING = st.fixed_dictionaries(
    {"model": MODEL, "input": st.text(max_size=40) | st.lists(st.text(max_size=10)) | JSON}
)
REQUEST = st.one_of(
    st.tuples(st.just("/v1/chat/completions"), CHAT.map(json.dumps)),
    st.tuples(st.just("/v1/completions"), COMPLETION.map(json.dumps)),
    st.tuples(st.just("/v1/embeddings"), EMBEDDING.map(json.dumps)),
    st.tuples(st.sampled_from(["/v1/chat/completions", "/v1/completions"]), JSON.map(json.dumps)),
    st.tuples(st.sampled_from(["/v1/chat/completions", "/v1/completions"]), st.binary(max_size=120)),
)


def replica_ids(stack: Stack) -> dict[str, set[str]]:
    deployments = stack.ray.applications()["llm"]["deployments"]
    return {
        name: {r["replica_id"] for r in d["replicas"] if r["state"] == "RUNNING"}
        for name, d in deployments.items()
    }


class TestFuzzing:
    def test_should_never_answer_5xx_or_lose_a_replica_when_bodies_are_arbitrary(self, stack: Stack) -> None:
        before = replica_ids(stack)
        seen: dict[int, int] = {}
        with stack.http(timeout=120) as http:

            @settings(
                max_examples=500,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(request=REQUEST, user=st.text(max_size=12))
            def send(request: tuple[str, str | bytes], user: str) -> None:
                path, body = request
                headers = {"content-type": "application/json", "x-user-id": user.encode().hex()}
                with http.stream("POST", path, content=body, headers=headers) as response:
                    content = response.read()
                seen[response.status_code] = seen.get(response.status_code, 0) + 1
                assert response.status_code < 500, content[:500]
                if response.status_code >= 400:
                    assert set(json.loads(content)["error"]) == {"message", "type", "param", "code"}
                elif response.headers["content-type"].startswith("text/event-stream"):
                    assert content.rstrip().endswith(b"data: [DONE]")

            send()
        # The fuzzer reached the engines, not only the validators.
        assert seen.get(200, 0) >= 25 and seen.get(400, 0) >= 100, seen
        assert httpx.get(f"{stack.base_url}/healthz", timeout=30).status_code == 200
        assert replica_ids(stack) == before
