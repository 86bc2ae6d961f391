"""Pure statistics for the benchmarks: percentiles, summaries, A/B differences, targets, tables."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between the two nearest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict:
    """n, mean and the percentiles the reports use, rounded to µs when the values are ms."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "mean": round(sum(values) / len(values), 3),
        **{f"p{q}": round(percentile(values, q), 3) for q in (50, 90, 99)},
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def ratio(value: float, baseline: float) -> float | None:
    """value / baseline, None when the baseline is zero (nothing to compare against)."""
    return round(value / baseline, 4) if baseline else None


def difference(a: dict, b: dict, keys: Sequence[str] = ("p50", "p99")) -> dict:
    """a - b for each key both summaries have: e.g. the latency a path adds over its baseline."""
    return {key: round(a[key] - b[key], 3) for key in keys if key in a and key in b}


def interleaved(arms: Sequence[str], rounds: int, rng: random.Random) -> list[str]:
    """`rounds` rounds, each every arm once in a shuffled order: A/B alternate without a fixed lead.

    Drift in the machine's speed (other processes, thermal, caches) then hits every arm alike.
    """
    order: list[str] = []
    for _ in range(rounds):
        batch = list(arms)
        rng.shuffle(batch)
        order.extend(batch)
    return order


@dataclass(frozen=True)
class Target:
    """One benchmark target: met when `value` is on the right side of `limit`."""

    name: str
    value: float | None
    limit: float
    kind: Literal["max", "min"]
    unit: str = ""

    @property
    def met(self) -> bool | None:
        """None when there is no measurement to judge."""
        if self.value is None:
            return None
        return self.value <= self.limit if self.kind == "max" else self.value >= self.limit

    @property
    def limit_text(self) -> str:
        return f"{'<=' if self.kind == 'max' else '>='} {self.limit}{self.unit}"

    def as_dict(self) -> dict:
        return {
            "target": self.name,
            "value": self.value,
            "limit": self.limit,
            "kind": self.kind,
            "unit": self.unit,
            "met": self.met,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Target:
        return cls(data["target"], data["value"], data["limit"], data["kind"], data["unit"])


def verdict(target: Target) -> str:
    return {True: "met", False: "MISSED", None: "no data"}[target.met]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, columns padded so it also reads as plain text."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def targets_table(targets: Sequence[Target]) -> str:
    return table(
        ["target", "measured", "limit", "verdict"],
        [(t.name, t.value, t.limit_text, verdict(t)) for t in targets],
    )


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)
