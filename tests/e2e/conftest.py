import pytest

from tests.localrun import LocalRun, start_local_run


@pytest.fixture(scope="package")
def local_run(tmp_path_factory) -> LocalRun:
    """One local run of values/local-cpu.yaml for the whole package, stopped when it ends."""
    run = start_local_run(tmp_path_factory.mktemp("serve-local"), ["values/local-cpu.yaml"])
    yield run
    run.stop()
