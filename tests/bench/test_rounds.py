"""bench/rounds.py: runs of vLLM's benchmark client alternated between two servers, compared."""

from __future__ import annotations

import pytest

from bench.rounds import compare


def run(target: str, number: int, tokens_per_s: float, ttft: float, itl: float, failed: int = 0) -> dict:
    """One client run as bench/vllm_client.py writes it (p99 = 2 × median here)."""
    return {
        "target": target, "round": number, "duration": 10.0, "completed": 240 - failed, "failed": failed,
        "request_throughput": tokens_per_s / 64, "output_throughput": tokens_per_s,
        "median_ttft_ms": ttft, "p99_ttft_ms": 2 * ttft, "median_itl_ms": itl, "p99_itl_ms": 2 * itl,
        "client_cpu_s": 1.0, "client_cpu_share": 0.05 * (number + 1),
        "cpu_ms_per_token": {"proxy": 0.1 * (number + 1), "engine core": 1.0},
    }  # fmt: skip


RUNS = [
    run("local", 0, 1200.0, 90.0, 3.0, failed=1),
    run("vllm", 0, 2000.0, 30.0, 2.0),
    run("vllm", 1, 2400.0, 20.0, 2.0),
    run("local", 1, 1200.0, 110.0, 5.0),
    run("local", 2, 1800.0, 100.0, 4.0),
    run("vllm", 2, 2200.0, 25.0, 3.0),
]


class TestCompare:
    def test_should_sum_requests_and_failures_of_every_run_when_compared(self):
        servers = compare(RUNS, "local", "vllm")["servers"]
        assert (servers["local"]["requests"], servers["local"]["failures"]) == (719, 1)
        assert servers["vllm"]["runs"] == 3

    def test_should_relate_median_throughput_and_pair_runs_by_round_when_compared(self):
        found = compare(RUNS, "local", "vllm")
        assert found["throughput_ratio"] == pytest.approx(1200 / 2200, abs=1e-4)
        # Rounds 0, 1, 2: 0.6, 0.5, 0.818 → median 0.6, whatever order the runs came in.
        assert found["throughput_ratio_paired_median"] == pytest.approx(0.6)

    def test_should_take_the_median_of_each_runs_percentile_when_latencies_are_compared(self):
        found = compare(RUNS, "local", "vllm")
        assert found["servers"]["local"]["ttft_ms"] == {"p50": 100.0, "p99": 200.0}
        assert found["ttft_added_ms"] == {"p50": pytest.approx(75.0), "p99": pytest.approx(150.0)}
        assert found["itl_added_ms"] == {"p50": pytest.approx(2.0), "p99": pytest.approx(4.0)}

    def test_should_report_the_clients_worst_cpu_share_when_compared(self):
        servers = compare(RUNS, "local", "vllm")["servers"]
        assert servers["vllm"]["client_cpu_share_max"] == pytest.approx(0.15)

    def test_should_take_the_median_cpu_per_token_of_each_process_role_when_compared(self):
        servers = compare(RUNS, "local", "vllm")["servers"]
        assert servers["local"]["cpu_ms_per_token"] == {"proxy": pytest.approx(0.2), "engine core": 1.0}
