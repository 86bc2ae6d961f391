"""The benchmarks' pure statistics: percentiles, summaries, A/B differences, interleaving, targets, tables."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.stats import (
    Target,
    difference,
    interleaved,
    percentile,
    ratio,
    summary,
    table,
    targets_table,
    verdict,
)

FINITE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


class TestPercentile:
    @given(st.lists(FINITE, min_size=1, max_size=50), st.floats(min_value=0, max_value=100))
    def test_should_equal_numpy_linear_percentile_when_given_any_values(self, values, q):
        assert percentile(values, q) == pytest.approx(np.percentile(values, q), abs=1e-6)

    def test_should_interpolate_between_ranks_when_the_rank_is_fractional(self):
        assert percentile([10, 20], 50) == 15
        assert percentile([1, 2, 3, 4], 99) == pytest.approx(3.97)

    def test_should_raise_when_there_are_no_values_or_q_is_out_of_range(self):
        with pytest.raises(ValueError, match="no values"):
            percentile([], 50)
        with pytest.raises(ValueError, match=r"within 0\.\.100"):
            percentile([1], 101)


class TestSummary:
    def test_should_report_count_mean_and_percentiles_when_given_values(self):
        found = summary([float(v) for v in range(1, 101)])
        assert found == {
            "n": 100,
            "mean": 50.5,
            "p50": 50.5,
            "p90": 90.1,
            "p99": 99.01,
            "min": 1.0,
            "max": 100.0,
        }

    def test_should_report_only_the_count_when_there_are_no_values(self):
        assert summary([]) == {"n": 0}


class TestDifference:
    def test_should_subtract_the_baseline_when_both_have_the_key(self):
        assert difference({"p50": 5.5, "p99": 9.0}, {"p50": 2.0, "p99": 10.0}) == {"p50": 3.5, "p99": -1.0}

    def test_should_skip_a_key_when_one_summary_lacks_it(self):
        assert difference({"p50": 1.0}, {"n": 0}) == {}


class TestRatio:
    def test_should_divide_when_the_baseline_is_not_zero(self):
        assert ratio(9.5, 10) == 0.95

    def test_should_be_none_when_the_baseline_is_zero(self):
        assert ratio(3, 0) is None


class TestInterleaved:
    def test_should_hold_every_arm_once_per_round_when_shuffled(self):
        order = interleaved(["a", "b", "c"], 50, random.Random(1))
        rounds = [order[i : i + 3] for i in range(0, len(order), 3)]
        assert len(rounds) == 50
        assert all(sorted(r) == ["a", "b", "c"] for r in rounds)

    def test_should_vary_the_lead_arm_when_rounds_repeat(self):
        order = interleaved(["a", "b"], 50, random.Random(1))
        assert {order[i] for i in range(0, 100, 2)} == {"a", "b"}


class TestTarget:
    def test_should_be_met_when_a_maximum_is_not_exceeded(self):
        assert Target("p50 added", 2.0, 2.0, "max", " ms").met is True
        assert Target("p50 added", 2.1, 2.0, "max", " ms").met is False

    def test_should_be_met_when_a_minimum_is_reached(self):
        assert Target("ratio", 0.8, 0.8, "min").met is True
        assert Target("ratio", 0.79, 0.8, "min").met is False

    def test_should_have_no_verdict_when_nothing_was_measured(self):
        target = Target("ratio", None, 0.8, "min", "x")
        assert target.met is None
        assert verdict(target) == "no data"
        assert target.limit_text == ">= 0.8x"

    def test_should_round_trip_when_written_to_a_result_and_read_back(self):
        target = Target("p50 added", 1.5, 2.0, "max", " ms")
        assert target.as_dict()["met"] is True
        assert Target.from_dict(target.as_dict()) == target


class TestTable:
    def test_should_pad_columns_when_cells_differ_in_width(self):
        assert table(["a", "long header"], [("x", 1.23456), ("yyy", None)]).splitlines() == [
            "| a   | long header |",
            "|-----|-------------|",
            "| x   | 1.235       |",
            "| yyy | -           |",
        ]

    def test_should_show_a_missed_target_when_the_limit_is_exceeded(self):
        text = targets_table([Target("render", 61.0, 50.0, "max", " ms")])
        assert "| render | 61.0     | <= 50.0 ms | MISSED  |" in text
