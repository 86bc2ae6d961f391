"""LLM metrics on top of Locust's statistics: SLO, per-request events, summary, thresholds."""

from __future__ import annotations

import pytest

from loadtest.llm_stats import (
    E2E,
    GOODPUT,
    ITL,
    TOKENS_PER_S,
    TTFT,
    RunSummary,
    Slo,
    Thresholds,
    metric_events,
    threshold_violations,
)
from loadtest.openai_wire import Completion

# 0.2 s to the first token, 10 more tokens 0.05 s apart, done at 0.75 s.
STREAMED = Completion(start=0.0, end=0.75, output_tokens=11, first_token=0.2, last_token=0.7)
NOT_STREAMED = Completion(start=0.0, end=2.0, output_tokens=10)


def summary(**overrides) -> RunSummary:
    values = {
        "requests": 100,
        "failures": 0,
        "duration_s": 10.0,
        "p95_ms": {TTFT: 300.0, ITL: 40.0, E2E: 900.0},
        "output_tokens": 5000,
        "good": 90,
    }
    return RunSummary(**{**values, **overrides})


class TestSlo:
    def test_should_be_met_when_every_value_is_within_its_limit(self):
        assert Slo(ttft_ms=200, itl_ms=50, e2e_ms=750).met_by(STREAMED)

    def test_should_fail_when_one_value_is_over_its_limit(self):
        assert not Slo(ttft_ms=199).met_by(STREAMED)

    def test_should_ignore_a_limit_when_it_is_zero_or_the_value_is_missing(self):
        assert Slo(ttft_ms=1, itl_ms=1).met_by(NOT_STREAMED)  # no TTFT or ITL without streaming
        assert Slo().met_by(STREAMED)


class TestMetricEvents:
    def test_should_report_every_metric_and_goodput_when_streamed_within_slo(self):
        events = {name: (value, length) for name, value, length in metric_events(STREAMED, Slo(ttft_ms=500))}
        assert events[TTFT][0] == pytest.approx(200)
        assert events[ITL][0] == pytest.approx(50)
        assert events[E2E][0] == pytest.approx(750)
        assert events[TOKENS_PER_S][0] == pytest.approx(11 / 0.75)
        assert events[GOODPUT] == (pytest.approx(750), 11)
        assert {length for _, length in events.values()} == {11}

    def test_should_skip_ttft_itl_and_goodput_when_not_streamed_and_slo_missed(self):
        names = [name for name, _, _ in metric_events(NOT_STREAMED, Slo(e2e_ms=1000))]
        assert names == [E2E, TOKENS_PER_S]


class TestRunSummary:
    def test_should_derive_rates_when_duration_is_known(self):
        s = summary(failures=5)
        assert (s.error_ratio, s.output_tokens_per_s, s.goodput_rps, s.goodput_ratio) == (
            0.05,
            500.0,
            9.0,
            0.9,
        )

    def test_should_report_zero_rates_when_nothing_ran(self):
        s = summary(requests=0, duration_s=0.0, good=0, output_tokens=0)
        assert (s.error_ratio, s.output_tokens_per_s, s.goodput_rps, s.goodput_ratio) == (0, 0, 0, 0)

    def test_should_round_values_when_serialised(self):
        assert summary(duration_s=10.123456).as_dict()["duration_s"] == 10.123


class TestThresholdViolations:
    def test_should_pass_when_every_limit_holds(self):
        limits = Thresholds(
            max_error_ratio=0.01,
            max_p95_ttft_ms=300,
            max_p95_itl_ms=40,
            max_p95_e2e_ms=900,
            min_goodput_ratio=0.9,
            min_output_tokens_per_s=500,
        )
        assert threshold_violations(summary(), limits) == []

    def test_should_name_each_broken_limit_when_several_fail(self):
        limits = Thresholds(
            max_error_ratio=0.01, max_p95_ttft_ms=299, min_goodput_ratio=0.95, min_output_tokens_per_s=501
        )
        problems = threshold_violations(summary(failures=2), limits)
        assert len(problems) == 4
        assert problems[0].startswith("error ratio 0.0200 > 0.01")
        assert "p95 TTFT 300.0 ms > 299" in problems[1]

    def test_should_fail_when_a_latency_limit_has_no_samples(self):
        problems = threshold_violations(summary(p95_ms={TTFT: None}), Thresholds(max_p95_ttft_ms=100))
        assert problems == ["p95 TTFT has no samples, limit 100 ms"]

    def test_should_fail_when_no_request_ran(self):
        assert threshold_violations(summary(requests=0), Thresholds()) == [
            "no chat requests completed or failed"
        ]
