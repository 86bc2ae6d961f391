"""Runs of vLLM's benchmark client (bench/vllm_client.py), alternated between two servers, compared."""

from __future__ import annotations

import statistics

from bench.stats import difference, ratio, summary


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def _median_by_key(maps: list[dict[str, float]]) -> dict[str, float]:
    """Each key's median over the maps that have it, in the order the keys first appear."""
    keys = dict.fromkeys(key for values in maps for key in values)
    return {key: _median([values[key] for values in maps if key in values]) for key in keys}


def compare(runs: list[dict], arm: str, baseline: str) -> dict:
    """Throughput (median of runs, and the median of per-round ratios), TTFT and ITL of each server.

    Each run is one client run (`target`, `round` and bench/vllm_client.py's keys). Latency percentiles
    are the median over runs of each run's own percentile."""
    by_target = {
        t: sorted((r for r in runs if r["target"] == t), key=lambda r: r["round"]) for t in (arm, baseline)
    }
    servers = {
        t: {
            "runs": len(rs),
            "requests": sum(r["completed"] for r in rs),
            "failures": sum(r["failed"] for r in rs),
            "output_tokens_per_s": summary([r["output_throughput"] for r in rs]),
            "requests_per_s": summary([r["request_throughput"] for r in rs]),
            "ttft_ms": {
                "p50": _median([r["median_ttft_ms"] for r in rs]),
                "p99": _median([r["p99_ttft_ms"] for r in rs]),
            },
            "itl_ms": {
                "p50": _median([r["median_itl_ms"] for r in rs]),
                "p99": _median([r["p99_itl_ms"] for r in rs]),
            },
            "client_cpu_share_max": max(r["client_cpu_share"] for r in rs),
            "cpu_ms_per_token": _median_by_key([r.get("cpu_ms_per_token", {}) for r in rs]),
        }
        for t, rs in by_target.items()
    }
    # Runs alternate in rounds of one per target: a ratio within a round cancels slow drift.
    paired = [
        ratio(a["output_throughput"], b["output_throughput"])
        for a, b in zip(by_target[arm], by_target[baseline], strict=False)
    ]
    return {
        "servers": servers,
        "throughput_ratio": ratio(
            servers[arm]["output_tokens_per_s"]["p50"], servers[baseline]["output_tokens_per_s"]["p50"]
        ),
        "throughput_ratio_paired_median": round(statistics.median(paired), 4) if paired else None,
        "ttft_added_ms": difference(servers[arm]["ttft_ms"], servers[baseline]["ttft_ms"]),
        "itl_added_ms": difference(servers[arm]["itl_ms"], servers[baseline]["itl_ms"]),
    }
