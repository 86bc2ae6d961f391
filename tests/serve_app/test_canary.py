"""Weighted canary over real requests: the split matches the weights and users stick to their arm."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.serve_app.deployment import BACKEND_HEADER, CANARY, Stack

pytestmark = pytest.mark.live  # runs against the session's local Ray (conftest.py)

REQUESTS = 1000
WORKERS = 4


def routed_backend(stack: Stack, headers: dict[str, str], model: str = "tiny-ab") -> str:
    with stack.http() as http:
        response = http.post(
            "/v1/completions", json={"model": model, "prompt": "Hi", "max_tokens": 1}, headers=headers
        )
    assert response.status_code == 200, response.text
    return response.headers[BACKEND_HEADER]


class TestCanary:
    def test_should_split_like_the_weights_when_many_users_call_the_canary(self, stack: Stack) -> None:
        with stack.http(timeout=300) as http:

            def one(user: int) -> str:
                response = http.post(
                    "/v1/completions",
                    json={"model": "tiny-ab", "prompt": "Hi", "max_tokens": 1},
                    headers={"x-user-id": f"user-{user}"},
                )
                assert response.status_code == 200, response.text
                return response.headers[BACKEND_HEADER]

            with ThreadPoolExecutor(WORKERS) as pool:
                counts = Counter(pool.map(one, range(REQUESTS)))
        assert sum(counts.values()) == REQUESTS
        for arm in CANARY["arms"]:
            assert counts[arm["model"]] / REQUESTS == pytest.approx(arm["weight"] / 100, abs=0.03), counts

    def test_should_keep_a_user_on_one_arm_when_the_user_returns(self, stack: Stack) -> None:
        backends = {routed_backend(stack, {"x-user-id": "returning-user"}) for _ in range(10)}
        assert len(backends) == 1

    def test_should_stick_to_the_request_id_when_no_user_header_is_sent(self, stack: Stack) -> None:
        backends = {routed_backend(stack, {"x-request-id": "fixed-request-id"}) for _ in range(10)}
        assert len(backends) == 1

    def test_should_route_through_the_canary_when_an_alias_points_at_it(self, stack: Stack) -> None:
        users = [f"alias-user-{i}" for i in range(40)]
        via_alias = [routed_backend(stack, {"x-user-id": u}, model="assistant") for u in users]
        direct = [routed_backend(stack, {"x-user-id": u}) for u in users]
        assert via_alias == direct
