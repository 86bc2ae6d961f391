"""bench/windows.py: metrics of the alternating full-path windows and the comparison of two servers."""

from __future__ import annotations

import pytest

from bench.windows import COLUMNS, compare, window_metrics


def completed(window: int, t: float, ttft: float, itl: float, tokens: int) -> list[list]:
    """The rows ChatUser's events leave for one completed streamed request."""
    return [
        [window, "POST", 1000.0, 500, None, t],
        [window, "TTFT", ttft, tokens, None, t],
        [window, "ITL", itl, tokens, None, t],
        [window, "TOKENS/S", 60.0, tokens, None, t],
    ]


SAMPLES = {
    "columns": list(COLUMNS),
    "windows": [
        {"index": 0, "target": "local", "start": 100.0, "end": 112.0, "drained": 113.0},
        {"index": 1, "target": "vllm", "start": 120.0, "end": 132.0, "drained": 133.0},
        {"index": 2, "target": "vllm", "start": 140.0, "end": 152.0, "drained": 153.0},
        {"index": 3, "target": "local", "start": 160.0, "end": 172.0, "drained": 173.0},
    ],
    "rows": [
        *completed(0, 101.0, 999.0, 99.0, 64),  # inside the warm-up: left out
        *completed(0, 105.0, 40.0, 10.0, 64),
        *completed(0, 111.0, 60.0, 12.0, 64),
        *completed(0, 112.5, 70.0, 12.0, 64),  # finished while draining: left out
        [0, "POST", 50.0, 0, "HTTPError: 503", 106.0],
        *completed(1, 125.0, 20.0, 9.0, 64),
        *completed(1, 130.0, 30.0, 9.0, 64),
        *completed(1, 131.0, 30.0, 9.0, 64),
        *completed(2, 150.0, 25.0, 8.0, 64),
        *completed(2, 151.0, 25.0, 8.0, 64),
        *completed(2, 151.5, 25.0, 8.0, 64),
        *completed(3, 170.0, 50.0, 11.0, 64),
        *completed(3, 171.0, 50.0, 11.0, 64),
    ],
}


class TestWindowMetrics:
    def test_should_count_only_requests_completed_after_warmup_and_before_the_end(self):
        first = window_metrics(SAMPLES, warmup_s=2.0)[0]
        assert first["requests"] == 2
        assert first["failures"] == 1
        assert first["seconds"] == 10.0
        assert first["output_tokens_per_s"] == pytest.approx(12.8)
        assert first["ttft_ms"] == [40.0, 60.0]
        assert first["itl_ms"] == [10.0, 12.0]


class TestCompare:
    def test_should_relate_throughput_and_latencies_to_the_baseline_when_windows_alternate(self):
        found = compare(window_metrics(SAMPLES, warmup_s=2.0), "local", "vllm")
        assert found["servers"]["local"]["requests"] == 4
        assert found["servers"]["local"]["failures"] == 1
        assert found["servers"]["vllm"]["output_tokens_per_s"]["p50"] == pytest.approx(19.2)
        assert found["throughput_ratio"] == pytest.approx(2 / 3, abs=1e-4)
        assert found["throughput_ratio_paired_median"] == pytest.approx(2 / 3, abs=1e-4)
        assert found["ttft_added_ms"] == {
            "p50": pytest.approx(50.0 - 25.0),
            "p99": pytest.approx(59.7 - 30.0),
        }
        assert found["itl_added_ms"]["p50"] == pytest.approx(11.0 - 8.5)
