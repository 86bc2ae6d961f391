"""LLM metrics on top of Locust's request statistics: SLOs, goodput, aggregate tokens/s, thresholds.

Every per-request value goes to Locust as a request event of its own type (one statistics row per
type and model), so Locust computes percentiles, CSV, the HTML report and the master/worker
aggregation; the run summary is then derived from those rows. No Locust import here: see the
package docstring.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadtest.openai_wire import Completion

# request_type of the custom Locust events.
TTFT = "TTFT"
ITL = "ITL"
E2E = "E2E"
TOKENS_PER_S = "TOKENS/S"  # response_length of these events is the output token count
GOODPUT = "GOODPUT"  # one event per request within the SLO: its requests/s is the goodput
LATENCY_METRICS = (TTFT, ITL, E2E)


@dataclass(frozen=True)
class Slo:
    """Per-request objectives that define goodput; 0 disables one."""

    ttft_ms: float = 0.0
    itl_ms: float = 0.0
    e2e_ms: float = 0.0

    def met_by(self, completion: Completion) -> bool:
        limits = (
            (self.ttft_ms, completion.ttft_ms),
            (self.itl_ms, completion.itl_ms),
            (self.e2e_ms, completion.e2e_ms),
        )
        return all(value is None or limit <= 0 or value <= limit for limit, value in limits)


def metric_events(completion: Completion, slo: Slo) -> list[tuple[str, float, int]]:
    """(request_type, response_time, response_length) of the events for one successful completion.

    response_time is in ms for the latencies and in tokens/s for TOKENS/S; ITL is left out for
    single-token answers and TTFT for non-streamed requests, where they do not exist.
    """
    tokens = completion.output_tokens
    values = [
        (TTFT, completion.ttft_ms),
        (ITL, completion.itl_ms),
        (E2E, completion.e2e_ms),
        (TOKENS_PER_S, completion.tokens_per_s),
    ]
    events = [(name, value, tokens) for name, value in values if value is not None]
    if slo.met_by(completion):
        events.append((GOODPUT, completion.e2e_ms, tokens))
    return events


@dataclass(frozen=True)
class RunSummary:
    requests: int
    failures: int
    duration_s: float
    p95_ms: dict[str, float | None]
    output_tokens: int
    good: int

    @property
    def error_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    @property
    def output_tokens_per_s(self) -> float:
        return self.output_tokens / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def goodput_rps(self) -> float:
        return self.good / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def goodput_ratio(self) -> float:
        return self.good / self.requests if self.requests else 0.0

    def as_dict(self) -> dict:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "error_ratio": round(self.error_ratio, 6),
            "duration_s": round(self.duration_s, 3),
            "p95_ms": {k: None if v is None else round(v, 3) for k, v in self.p95_ms.items()},
            "output_tokens": self.output_tokens,
            "output_tokens_per_s": round(self.output_tokens_per_s, 3),
            "goodput_rps": round(self.goodput_rps, 3),
            "goodput_ratio": round(self.goodput_ratio, 6),
        }


@dataclass(frozen=True)
class Thresholds:
    """Pass/fail limits of a run; 0 disables a limit (max_error_ratio 1.0 disables that one)."""

    max_error_ratio: float = 0.01
    max_p95_ttft_ms: float = 0.0
    max_p95_itl_ms: float = 0.0
    max_p95_e2e_ms: float = 0.0
    min_goodput_ratio: float = 0.0
    min_output_tokens_per_s: float = 0.0


def threshold_violations(summary: RunSummary, limits: Thresholds) -> list[str]:
    """Human-readable violations; empty when the run passes."""
    problems = []
    if summary.requests == 0:
        problems.append("no chat requests completed or failed")
    if summary.error_ratio > limits.max_error_ratio:
        problems.append(
            f"error ratio {summary.error_ratio:.4f} > {limits.max_error_ratio} "
            f"({summary.failures}/{summary.requests} requests failed)"
        )
    for metric, limit in (
        (TTFT, limits.max_p95_ttft_ms),
        (ITL, limits.max_p95_itl_ms),
        (E2E, limits.max_p95_e2e_ms),
    ):
        value = summary.p95_ms.get(metric)
        if limit > 0 and value is None:
            problems.append(f"p95 {metric} has no samples, limit {limit} ms")
        elif limit > 0 and value > limit:
            problems.append(f"p95 {metric} {value:.1f} ms > {limit} ms")
    if limits.min_goodput_ratio > 0 and summary.goodput_ratio < limits.min_goodput_ratio:
        problems.append(f"goodput ratio {summary.goodput_ratio:.4f} < {limits.min_goodput_ratio}")
    if limits.min_output_tokens_per_s > 0 and summary.output_tokens_per_s < limits.min_output_tokens_per_s:
        problems.append(
            f"output tokens/s {summary.output_tokens_per_s:.2f} < {limits.min_output_tokens_per_s}"
        )
    return problems
