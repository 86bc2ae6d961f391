import pytest

from devkit.local_ray import Ports
from devkit.local_run import LocalRun, LocalRunFailed


@pytest.fixture(scope="package")
def local_run(tmp_path_factory) -> LocalRun:
    """One local run of values/local-cpu.yaml for the whole package, stopped when it ends.

    Free ports of its own, so a user's `make serve` can run beside the suite. Its RAG store goes
    under its own directory: Milvus Lite locks the file, so two local runs must not share one.
    """
    state = tmp_path_factory.mktemp("serve-local")
    run = LocalRun(Ports.free(), state, set_values=(f"rag.milvus.uri={state / 'rag.db'}",))
    try:
        run.start()
    except LocalRunFailed as err:
        pytest.fail(str(err))
    yield run
    run.stop()
