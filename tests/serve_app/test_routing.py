"""Routing without Ray: names, aliases, size tiers, canaries and their stickiness.

The routings the router refuses are tested with the chart's and pydantic's refusals in tests/test_rules.py.
"""

from __future__ import annotations

import pytest

from serve_app.config import RoutingConfig
from serve_app.routing import Router, UnknownModelError, pick_arm

MODELS = ("llama-3-8b", "llama-3-8b-v2", "llama-3-70b")
CANARY = {
    "name": "chat-ab",
    "stickyHeader": "x-user-id",
    "arms": [{"model": "llama-3-8b", "weight": 90}, {"model": "llama-3-8b-v2", "weight": 10}],
}


def router(**routing) -> Router:
    return Router(RoutingConfig.model_validate(routing), MODELS)


class TestRouter:
    def test_should_route_to_the_model_itself_when_a_served_model_is_named(self) -> None:
        route = router().resolve("llama-3-70b", {}, "req-1")
        assert (route.model, route.kind, route.arm) == ("llama-3-70b", "model", None)

    def test_should_pass_a_lora_adapter_through_when_its_base_model_is_served(self) -> None:
        assert router().resolve("llama-3-8b:my-adapter", {}, "req-1").model == "llama-3-8b:my-adapter"

    def test_should_follow_an_alias_when_an_alias_is_named(self) -> None:
        route = router(aliases={"chat": "llama-3-70b"}).resolve("chat", {}, "req-1")
        assert (route.model, route.requested, route.kind) == ("llama-3-70b", "chat", "alias")

    def test_should_pick_the_configured_model_when_a_size_tier_is_named(self) -> None:
        tiers = router(sizeTiers={"small": "llama-3-8b", "large": "llama-3-70b"})
        assert tiers.resolve("small", {}, "r").model == "llama-3-8b"
        assert tiers.resolve("large", {}, "r").model == "llama-3-70b"

    def test_should_reach_a_canary_arm_when_an_alias_points_at_a_canary(self) -> None:
        route = router(aliases={"chat": "chat-ab"}, canaries=[CANARY]).resolve(
            "chat", {"x-user-id": "u"}, "r"
        )
        assert route.kind == "alias"
        assert route.model in {"llama-3-8b", "llama-3-8b-v2"}
        assert route.arm is not None

    def test_should_raise_unknown_model_when_a_name_is_not_routable(self) -> None:
        with pytest.raises(UnknownModelError) as err:
            router(aliases={"chat": "llama-3-8b"}).resolve("gpt-4", {}, "r")
        assert err.value.name == "gpt-4"


class TestCanarySplit:
    def test_should_keep_a_user_on_one_arm_when_the_sticky_header_repeats(self) -> None:
        canary = router(canaries=[CANARY])
        arms = {canary.resolve("chat-ab", {"x-user-id": "alice"}, f"req-{i}").model for i in range(50)}
        assert len(arms) == 1

    def test_should_hash_the_request_id_when_the_sticky_header_is_missing(self) -> None:
        canary = router(canaries=[CANARY])
        first = canary.resolve("chat-ab", {}, "req-42").model
        assert all(canary.resolve("chat-ab", {}, "req-42").model == first for _ in range(20))
        assert {canary.resolve("chat-ab", {}, f"req-{i}").model for i in range(200)} == {
            "llama-3-8b",
            "llama-3-8b-v2",
        }

    def test_should_match_the_weights_when_many_users_arrive(self) -> None:
        canary = RoutingConfig.model_validate({"canaries": [CANARY]}).canaries[0]
        picks = [pick_arm(canary, f"user-{i}") for i in range(100_000)]
        assert picks.count(1) / len(picks) == pytest.approx(0.10, abs=0.005)

    def test_should_never_pick_a_zero_weight_arm_when_weights_are_0_and_100(self) -> None:
        canary = RoutingConfig.model_validate(
            {"canaries": [{**CANARY, "arms": [{"model": "a", "weight": 0}, {"model": "b", "weight": 100}]}]}
        ).canaries[0]
        assert {pick_arm(canary, f"user-{i}") for i in range(10_000)} == {1}

    def test_should_split_two_canaries_independently_when_they_share_users(self) -> None:
        other = {**CANARY, "name": "other-ab"}
        config = RoutingConfig.model_validate({"canaries": [CANARY, other]})
        first, second = config.canaries
        users = [f"user-{i}" for i in range(20_000)]
        both_minor = sum(pick_arm(first, u) == 1 and pick_arm(second, u) == 1 for u in users)
        # Independent 10 % splits overlap on ~1 % of users, not on all 10 %.
        assert both_minor / len(users) == pytest.approx(0.01, abs=0.004)
