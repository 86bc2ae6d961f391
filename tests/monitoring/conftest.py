"""The monitoring proofs observe the session's shared local run (tests/conftest.py) with a Prometheus
of their own (devkit/monitoring/stack.py)."""

import pytest

from devkit.monitoring.stack import Live, ScrapedRun, observed


@pytest.fixture(scope="package")
def live(scraped_run: ScrapedRun, tmp_path_factory) -> Live:
    with observed(scraped_run, tmp_path_factory.mktemp("monitoring")) as run:
        yield run
