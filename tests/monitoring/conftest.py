"""One live run for every monitoring proof in this package (devkit/monitoring/stack.py)."""

import pytest

from devkit.monitoring.stack import Live, monitored_run


@pytest.fixture(scope="package")
def live(tmp_path_factory) -> Live:
    with monitored_run(tmp_path_factory.mktemp("monitoring")) as run:
        yield run
