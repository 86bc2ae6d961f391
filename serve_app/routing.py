"""Request routing: the `model` a client sends → the served model that answers it.

A name is, in this order, a served model (or `<model>:<adapter>` for a LoRA adapter), an alias, a
size tier or a canary. Aliases and size tiers point at a served model or a canary; a canary picks one
of its arms by a stable hash of the sticky header (else the request id), so one user stays on one arm
and every gateway replica picks the same arm.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from serve_app.config import Canary, RoutingConfig, problem_list

RouteKind = Literal["model", "alias", "size_tier", "canary"]
_HASH_SPACE = 2**64


class UnknownModelError(LookupError):
    """The requested name is neither a served model nor a routing name."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True)
class Route:
    model: str
    requested: str
    kind: RouteKind
    arm: int | None = None


def canary_point(canary_name: str, key: str) -> float:
    """Where `key` falls in [0, 100): the same on every replica and process (unlike `hash`)."""
    digest = hashlib.blake2b(f"{canary_name}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _HASH_SPACE * 100


def pick_arm(canary: Canary, key: str) -> int:
    point, upper = canary_point(canary.name, key), 0.0
    for index, arm in enumerate(canary.arms):
        upper += arm.weight
        if point < upper:
            return index
    # Float rounding can leave the top of the range uncovered; it belongs to the last weighted arm.
    return max(i for i, arm in enumerate(canary.arms) if arm.weight > 0)


class Router:
    def __init__(self, config: RoutingConfig, models: Iterable[str]) -> None:
        """`models` in the order of args.models, so a problem names the model's key (`models[1].name`)."""
        models = list(models)
        # Only here are the routing and the served models known together (docs/rules.md).
        problems = config.problems_with(models)
        if problems:
            raise ValueError(problem_list("routing", problems))
        self._models = frozenset(models)
        self._canaries = {c.name: c for c in config.canaries}
        self._pointers: dict[str, tuple[RouteKind, str]] = {
            **{name: ("alias", target) for name, target in config.aliases.items()},
            **{name: ("size_tier", target) for name, target in config.size_tiers.items()},
        }

    def resolve(self, name: str, headers: Mapping[str, str], request_id: str) -> Route:
        """`headers` must answer lower-case names (Starlette's `Headers` does)."""
        if name in self._models or name.split(":", 1)[0] in self._models:
            return Route(model=name, requested=name, kind="model")
        kind, target = self._pointers.get(name, ("canary", name))
        if target in self._models:
            return Route(model=target, requested=name, kind=kind)
        canary = self._canaries.get(target)
        if canary is None:
            raise UnknownModelError(name)
        key = (canary.sticky_header and headers.get(canary.sticky_header.lower())) or request_id
        arm = pick_arm(canary, key)
        return Route(model=canary.arms[arm].model, requested=name, kind=kind, arm=arm)
