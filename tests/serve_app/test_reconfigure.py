"""Routing changes through the gateway's user_config: applied by reconfigure, no replica restarts."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.serve_app.deployment import BACKEND_HEADER, CANARY, ROUTING, Stack, chat_body, with_routing

pytestmark = pytest.mark.live  # runs against the session's local Ray (conftest.py)

ALL_TO_V2 = {
    **ROUTING,
    "aliases": {**ROUTING["aliases"], "chat": "tiny-v2", "fresh": "tiny-v2"},
    "canaries": [{**CANARY, "arms": [{"model": "tiny", "weight": 0}, {"model": "tiny-v2", "weight": 100}]}],
}


def replica_ids(stack: Stack) -> set[str]:
    return {
        r["replica_id"]
        for app in stack.ray.applications().values()
        for deployment in app["deployments"].values()
        for r in deployment["replicas"]
    }


def backend(stack: Stack, model: str, user: str = "u") -> tuple[int, str | None]:
    with stack.http() as http:
        response = http.post(
            "/v1/chat/completions", json=chat_body(model, max_tokens=1), headers={"x-user-id": user}
        )
    return response.status_code, response.headers.get(BACKEND_HEADER)


def wait_for(predicate, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "the new routing did not take effect"
        time.sleep(1)


@pytest.fixture
def rerouted(stack: Stack) -> Iterator[set[str]]:
    """The stack with ALL_TO_V2 routing applied in place; the original routing is back afterwards."""
    replicas = replica_ids(stack)
    stack.deploy(with_routing(stack.config, ALL_TO_V2))
    wait_for(lambda: backend(stack, "fresh") == (200, "tiny-v2"))
    yield replicas
    stack.deploy(stack.config)
    wait_for(lambda: backend(stack, "chat") == (200, "tiny"))


class TestReconfigure:
    def test_should_apply_new_routing_without_restarting_any_replica_when_user_config_changes(
        self, stack: Stack, rerouted: set[str]
    ) -> None:
        assert backend(stack, "chat") == (200, "tiny-v2")
        assert {backend(stack, "tiny-ab", user=f"user-{i}")[1] for i in range(20)} == {"tiny-v2"}
        assert replica_ids(stack) == rerouted

    def test_should_keep_the_last_good_routing_when_an_update_is_invalid(self, stack: Stack) -> None:
        replicas = replica_ids(stack)
        broken = {**ROUTING, "aliases": {**ROUTING["aliases"], "chat": "no-such-model", "fresh": "tiny-v2"}}
        stack.deploy(with_routing(stack.config, broken))
        try:
            # The update reached the replica (its error is reported) and routing did not change.
            wait_for(lambda: "no-such-model" in str(stack.http().get("/healthz").json().get("routing", {})))
            assert backend(stack, "chat") == (200, "tiny")
            assert backend(stack, "fresh")[0] == 404
            assert replica_ids(stack) == replicas
        finally:
            stack.deploy(stack.config)
        wait_for(lambda: "routing" not in stack.http().get("/healthz").json())
