"""Suite-wide hooks: the `live` marker derived from the fixtures a test uses, and per-suite durations.

A test is `live` when it starts Ray, vLLM or Prometheus, i.e. when it uses one of the fixtures below
(each starts one of them) or is marked by hand (module fixtures of a single live module).
`pytest -m "not live"` (`make test-fast`) runs everything else.
"""

from __future__ import annotations

import collections

import pytest

# The fixtures that start a local Ray, vLLM or Prometheus, by package.
LIVE_FIXTURES = {
    "stack",  # tests/serve_app: a loopback Ray with the gateway and RAG apps
    "local_run",  # tests/e2e: `make serve`'s local run
    "live",  # tests/monitoring: local run + scrape + real Prometheus
    "vllm_server",  # tests/loadtest/test_chat_live.py: a standalone vLLM server
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if LIVE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.live)


def _suite(nodeid: str) -> str:
    parts = nodeid.split("::")[0].split("/")
    return "/".join(parts[:2]) if len(parts) > 2 else parts[0]


def pytest_terminal_summary(terminalreporter) -> None:
    """Seconds per suite (setup + call + teardown of its tests), so a slow suite shows at the end."""
    seconds: dict[str, float] = collections.defaultdict(float)
    counts: dict[str, int] = collections.Counter()
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) in ("setup", "call", "teardown"):
                seconds[_suite(report.nodeid)] += report.duration
                counts[_suite(report.nodeid)] += report.when == "call"
    if seconds:
        terminalreporter.section("durations per suite")
        for suite, total in sorted(seconds.items(), key=lambda item: -item[1]):
            terminalreporter.write_line(f"{total:8.1f} s  {counts[suite]:4d} tests  {suite}")
