"""Suite-wide fixtures and hooks: the session's shared local run, the `live` marker derived from the
fixtures a test uses, the order of the tests, and per-suite durations.

Order: the tests that start nothing first, while the shared local run and the standalone run start in
threads beside them (their minutes of start, mostly on the core pytest leaves idle, overlap theirs);
then the suites on the shared run, which ends with them; then the suites that start a Ray, vLLM or
Prometheus of their own.

A test is `live` when it starts Ray, vLLM, Prometheus or the S3 server, i.e. when it uses one of the
fixtures below (each starts one of them) or is marked by hand (module fixtures of a single live module,
a parameter that uses the S3 server).
`pytest -m "not live"` (`make test-fast`) runs everything else.
"""

from __future__ import annotations

import collections
import contextlib
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

import pytest

from devkit.background import Background
from devkit.local_ray import Ports
from devkit.local_run import LocalRun, LocalRunFailed
from devkit.monitoring.stack import ScrapedRun, scraped_local_run
from devkit.presets import PRESETS

T = TypeVar("T")

# The fixtures that start a local Ray, vLLM or Prometheus, by package.
LIVE_FIXTURES = {
    "stack",  # tests/serve_app: a loopback Ray with the gateway and RAG apps
    "scraped_run",  # the session's shared `make serve` local run (below)
    "live",  # tests/monitoring: a real Prometheus over the shared run
    "standalone_run",  # `make serve MODE=standalone`: vLLM's own server from the standalone render
    "s3",  # tests/serve_app: moto's S3 server, in its own venv (`make s3-server`)
}
# The suites on the shared local run, in the order they use it (after the tests that start nothing):
# the monitoring proofs first (the metric inventory wants a run that served nothing else yet), the
# bench and the end-to-end checks, the autoscaling cycle (it updates the run to the autoscaling preset
# and back), the replica-kill fault (the run recovers from it), the stop last.
SHARED_RUN_ORDER = (
    "tests/monitoring/",
    "tests/bench/",
    "tests/e2e/test_local_run.py",
    "tests/loadtest/test_autoscale_live.py",
    "tests/chaos/",
    "tests/e2e/test_shutdown.py",
)


def _in_background(
    request: pytest.FixtureRequest, fixture: str, start: Callable[[], AbstractContextManager[T]], name: str
) -> Iterator[Background[T] | None]:
    """Enters `start()` in a thread of its own when a selected test uses `fixture`; exits it at the end."""
    if not any(fixture in getattr(item, "fixturenames", ()) for item in request.session.items):
        yield None
        return
    background = Background(start(), name=name)
    try:
        yield background
    finally:
        background.close()


def _started(background: Background[T] | None) -> T:
    assert background is not None  # started whenever a selected test uses the fixture
    try:
        return background.result()
    except LocalRunFailed as err:
        pytest.fail(str(err))


@pytest.fixture(scope="session", autouse=True)
def shared_run_start(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Background[ScrapedRun] | None]:
    """Starts the shared run in the background with the session's first test, when a selected test
    uses it; stops it at the end of the session (tests/e2e/test_shutdown.py stops it earlier)."""
    yield from _in_background(
        request, "scraped_run", lambda: scraped_local_run(tmp_path_factory.mktemp("local-run")), "shared-run"
    )


@pytest.fixture(scope="session")
def scraped_run(shared_run_start: Background[ScrapedRun] | None) -> ScrapedRun:
    """`make serve`'s local run of values/local-cpu.yaml (monitoring objects on, a RAG file of its own,
    free ports), scraped from before its start; started once for every suite that needs it: each
    start costs a minute or more of both cores."""
    return _started(shared_run_start)


@contextlib.contextmanager
def standalone_local_run(state_dir: Path) -> Iterator[LocalRun]:
    """`make serve MODE=standalone` (the chart's vLLM container command on 127.0.0.1) with an API key
    from the pod's environment, as the chart takes it from apiKeys.existingSecret; stopped on exit."""
    run = LocalRun(
        Ports.free(),
        state_dir,
        values_files=tuple(str(path) for path in PRESETS["local-cpu-standalone"]),
        set_values=("apiKeys.existingSecret=standalone-key",),
        extra_env={"VLLM_API_KEY": secrets.token_hex(16)},
    )
    try:
        run.start(timeout_s=600)
        yield run
    finally:
        run.stop()


@pytest.fixture(scope="session", autouse=True)
def standalone_run_start(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, shared_run_start
) -> Iterator[Background[LocalRun] | None]:
    """Starts the standalone run in the background beside the shared run's start (in its last minute
    a third of the two cores sat idle while Serve placed and health-checked its replicas), when a
    selected test uses it: the bench, the first suite to use it, then finds it up."""
    yield from _in_background(
        request,
        "standalone_run",
        lambda: standalone_local_run(tmp_path_factory.mktemp("standalone-run")),
        "standalone-run",
    )


@pytest.fixture(scope="session")
def standalone_run(standalone_run_start: Background[LocalRun] | None) -> LocalRun:
    """The standalone run (above); shared by the bench's full-path (its vLLM side), the standalone e2e
    checks, the load test and the monitoring."""
    return _started(standalone_run_start)


@pytest.fixture(scope="session")
def local_run(scraped_run: ScrapedRun) -> LocalRun:
    return scraped_run.run


def _shared_run_rank(item: pytest.Item) -> int | None:
    if "scraped_run" not in getattr(item, "fixturenames", ()):
        return None
    path = item.nodeid.split("::")[0]
    rank = next((rank for rank, prefix in enumerate(SHARED_RUN_ORDER) if path.startswith(prefix)), None)
    if rank is None:
        raise pytest.UsageError(f"{path} uses the shared local run: give it a place in SHARED_RUN_ORDER")
    return rank


def _group(item: pytest.Item, rank: int | None) -> int:
    """0: starts nothing; 1: on the shared run; 2: starts a Ray, vLLM or Prometheus of its own."""
    if rank is not None:
        return 1
    return 2 if item.get_closest_marker("live") else 0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if LIVE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.live)
    ranks = {item.nodeid: _shared_run_rank(item) for item in items}
    order = {item.nodeid: index for index, item in enumerate(items)}
    items.sort(
        key=lambda item: (_group(item, ranks[item.nodeid]), ranks[item.nodeid] or 0, order[item.nodeid])
    )


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
