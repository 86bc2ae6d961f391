"""Session fixtures: the tiny models, a real S3 API (moto) on loopback, and one loopback-only Ray
running the chart's render of values/local-cpu.yaml + tests/serve_app/overlay.yaml (its batch storage in
that S3), deployed once the way `make serve` deploys it."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.local_ray import LocalRay, Ports
from devkit.s3 import LocalS3, credentials, local_s3
from devkit.serve_local import required_cpus, serve_runtime_env, with_http_options
from devkit.tiny_model import make_tiny_model
from tests.serve_app.deployment import (
    API_KEY,
    BUCKET,
    MAX_MODEL_LEN,
    STACK_PREFIX,
    TINY_MAX_MODEL_LEN,
    Stack,
    keys_env,
    render,
)

DEPLOY_TIMEOUT_S = 900


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two versions of the tiny Llama (different random weights), made here; nothing is downloaded."""
    root = tmp_path_factory.mktemp("models")
    return {
        "tiny": make_tiny_model(root / "tiny", seed=0, max_len=TINY_MAX_MODEL_LEN),
        "tiny-v2": make_tiny_model(root / "tiny-v2", seed=1, max_len=MAX_MODEL_LEN),
    }


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    """moto's S3 server with the bucket `batches`; this process's S3 clients get its credentials."""
    with (
        pytest.MonkeyPatch.context() as env,
        local_s3(tmp_path_factory.mktemp("s3") / "server.log") as server,
    ):
        for name, value in credentials().items():
            env.setenv(name, value)
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture(params=["directory", pytest.param("s3", marks=pytest.mark.live)])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a Batcher keeps its files: a directory, or a prefix of its own in the local S3 bucket."""
    if request.param == "directory":
        return str(tmp_path)
    return request.getfixturevalue("s3").uri(BUCKET, f"t-{uuid.uuid4().hex}")


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory, model_dirs: dict[str, Path], s3: LocalS3
) -> Iterator[Stack]:
    # A short root: Ray's unix socket paths must stay under 108 characters.
    root = Path(os.environ.get("SERVE_APP_TEST_TMP", "/tmp")) / f"sa-{os.getpid()}"
    rendered = render(root, batch_storage=s3.uri(BUCKET, STACK_PREFIX))
    ports = Ports.free()
    config = with_http_options(rendered.serve_config_text, ports)
    ray = LocalRay(
        ports,
        state_dir=root,
        temp_dir=root / "ray",
        model_root=model_dirs["tiny"].parent,
        env={
            # The chart's Serve runtime switches, as `make serve` takes them.
            **serve_runtime_env(rendered),
            # Idle workers (left by build and model-download tasks, with vLLM imported) exit at once:
            # the machine's memory goes to the replicas.
            "RAY_num_workers_soft_limit": "0",
            # Ray's memory monitor acts on the whole machine's usage, so on a shared machine it kills
            # this cluster's replicas for other programs' memory; the kernel's OOM killer stays.
            "RAY_memory_monitor_refresh_ms": "0",
            # Metrics reach the Prometheus endpoint within a second (the abort test reads them).
            "RAY_metrics_report_interval_ms": "1000",
            # What the chart fills from apiKeys.existingSecret in a cluster.
            keys_env(config): f"{API_KEY},sk-second-key",
            # What the service account's role gives a cluster's Batcher (the local S3 takes any pair).
            **credentials(),
        },
    )
    ray.start(num_cpus=required_cpus(config))
    try:
        stack = Stack(ray=ray, config=config, serve_port=ports.serve)
        try:
            stack.deploy(stack.config, timeout_s=DEPLOY_TIMEOUT_S)
        except (SystemExit, RuntimeError, TimeoutError) as err:
            pytest.fail(f"{err}\n--- Serve controller log ---\n{ray.serve_log_tail()}")
        yield stack
    finally:
        # 5 s of grace, then SIGKILL: no test reads how this cluster stops (tests/e2e does, for
        # `make serve`), and its three engines took 15 s to go on SIGTERM alone.
        ray.stop(timeout_s=5)
        shutil.rmtree(root, ignore_errors=True)
