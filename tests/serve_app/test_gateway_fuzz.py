"""Property-based fuzzing of request bodies: whatever arrives, no 5xx and no replica goes down."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serve_app.deployment import Stack

pytestmark = pytest.mark.live  # runs against the session's local Ray (conftest.py)

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
MODELS = st.sampled_from(
    ["tiny", "tiny-v2", "chat", "small", "large", "tiny-ab", "assistant", "tiny-embed", "nope"]
)
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "assistant"]), "content": st.text(max_size=40)}
)


def mostly(valid: st.SearchStrategy, invalid: st.SearchStrategy) -> st.SearchStrategy:
    """`valid` nine times in ten: enough requests pass validation to reach the engines."""
    return st.integers(0, 9).flatmap(lambda i: valid if i else invalid)


# Plausible sampling parameters with their out-of-range values now and then (vLLM must answer 400).
SAMPLING = {
    "temperature": mostly(st.floats(0, 2), st.floats(-1, -0.01) | st.floats(2.01, 5)),
    "top_p": mostly(st.floats(0.01, 1), st.floats(1.01, 2) | st.just(0.0)),
    "top_k": mostly(st.just(-1) | st.integers(1, 50), st.integers(-5, -2)),
    "n": mostly(st.integers(1, 3), st.integers(-1, 0)),
    "stream": st.booleans(),
    "stop": st.text(max_size=5) | st.lists(st.text(max_size=5), max_size=5),
    "seed": mostly(st.integers(0, 2**31), st.integers(2**64, 2**70)),
    "presence_penalty": mostly(st.floats(-2, 2), st.floats(2.01, 5)),
    "user": st.text(max_size=10),
}
# max_tokens stays small: valid requests generate a few tokens only.
MAX_TOKENS = mostly(st.integers(1, 8), st.integers(-3, 0))
CHAT = st.fixed_dictionaries(
    {"model": MODELS, "messages": st.lists(MESSAGE, min_size=1, max_size=3), "max_tokens": MAX_TOKENS},
    optional={
        **SAMPLING,
        "logprobs": st.booleans(),
        "top_logprobs": mostly(st.integers(0, 5), st.integers(21, 30)),
        "response_format": st.sampled_from([{"type": "json_object"}, {"type": "text"}, {"type": "nope"}]),
    },
)
COMPLETION = st.fixed_dictionaries(
    {
        "model": MODELS,
        "prompt": st.text(max_size=60) | st.lists(st.integers(-10, 100_000), min_size=1, max_size=6),
        "max_tokens": MAX_TOKENS,
    },
    optional={**SAMPLING, "echo": st.booleans(), "logprobs": mostly(st.integers(0, 5), st.integers(21, 30))},
)
EMBEDDING = st.fixed_dictionaries(
    {"model": MODELS, "input": st.text(max_size=40) | st.lists(st.text(max_size=10))}
)


def mutated(bodies: st.SearchStrategy[dict]) -> st.SearchStrategy[dict]:
    """A plausible body with one field replaced by, or added as, an arbitrary JSON value."""
    keys = st.sampled_from(
        ["model", "messages", "prompt", "input", "max_tokens", "stream", "n", "temperature", "tools"]
    )
    return st.tuples(bodies, keys, JSON).map(lambda t: {**t[0], t[1]: t[2]})


def requests_to(path: str, bodies: st.SearchStrategy[dict]) -> st.SearchStrategy[tuple[str, str]]:
    return st.tuples(st.just(path), (bodies | mutated(bodies)).map(json.dumps))


REQUEST = st.one_of(
    requests_to("/v1/chat/completions", CHAT),
    requests_to("/v1/completions", COMPLETION),
    requests_to("/v1/embeddings", EMBEDDING),
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
