"""Samples of the alternating load windows (bench/locust_windows.py) and what they say, without Locust."""

from __future__ import annotations

import statistics

from bench.stats import difference, ratio, summary
from loadtest.llm_stats import ITL, TOKENS_PER_S, TTFT

# One row per Locust request event: window index, request type, value (ms, or tokens/s for
# TOKENS/S), response length (output tokens for the LLM rows), error text or None, perf_counter time.
COLUMNS = ("window", "type", "value", "length", "error", "t")
POST = "POST"


def window_metrics(samples: dict, warmup_s: float) -> list[dict]:
    """Per window: the requests that completed between start + warmup and the window's end."""
    col = {name: i for i, name in enumerate(samples["columns"])}
    metrics = []
    for window in samples["windows"]:
        begin, end = window["start"] + warmup_s, window["end"]
        rows = [
            r for r in samples["rows"] if r[col["window"]] == window["index"] and begin <= r[col["t"]] <= end
        ]

        def of(kind: str, rows=rows) -> list:
            return [r for r in rows if r[col["type"]] == kind]

        seconds = end - begin
        completed = of(TOKENS_PER_S)
        metrics.append(
            {
                "index": window["index"],
                "target": window["target"],
                "seconds": round(seconds, 3),
                "requests": len(completed),
                "failures": sum(r[col["error"]] is not None for r in of(POST)),
                "output_tokens": sum(r[col["length"]] for r in completed),
                "output_tokens_per_s": round(sum(r[col["length"]] for r in completed) / seconds, 3),
                "ttft_ms": [r[col["value"]] for r in of(TTFT)],
                "itl_ms": [r[col["value"]] for r in of(ITL)],
            }
        )
    return metrics


def compare(windows: list[dict], arm: str, baseline: str) -> dict:
    """Throughput (median of windows, and the median of per-round ratios), TTFT and ITL of each server."""
    by_target = {t: [w for w in windows if w["target"] == t] for t in (arm, baseline)}
    servers = {
        t: {
            "windows": len(ws),
            "requests": sum(w["requests"] for w in ws),
            "failures": sum(w["failures"] for w in ws),
            "output_tokens_per_s": summary([w["output_tokens_per_s"] for w in ws]),
            "ttft_ms": summary([v for w in ws for v in w["ttft_ms"]]),
            "itl_ms": summary([v for w in ws for v in w["itl_ms"]]),
        }
        for t, ws in by_target.items()
    }
    # Windows alternate in rounds of one per target: a ratio within a round cancels slow drift.
    paired = [
        ratio(a["output_tokens_per_s"], b["output_tokens_per_s"])
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
