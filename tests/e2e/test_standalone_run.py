"""End to end in standalone mode: values/local-cpu.yaml + values/local-cpu-standalone.yaml rendered by
the chart, the Deployment's container command run as it is by `tools/serve_local.py` (what
`make serve MODE=standalone` runs; the session's standalone run, tests/conftest.py), exercised with the
official openai client like the gateway."""

from __future__ import annotations

import shlex
import subprocess
import sys

import openai
import pytest

from devkit import REPO
from devkit.helm import render_chart
from devkit.local_run import SERVE_LOCAL
from devkit.loopback import listeners, off_loopback
from devkit.standalone import containers
from tests.e2e.openai_api import OpenAiApiContract


def _serve_local(run, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SERVE_LOCAL), *run.values_args(), *args],
        cwd=REPO, env=run.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _container(run):
    (container,) = containers(
        render_chart(run.values_files, [*run.set_values, f"standalone.port={run.ports.serve}"])
    )
    return container


@pytest.fixture(scope="module")
def base_url(standalone_run) -> str:
    return standalone_run.base_url


@pytest.fixture(scope="module")
def model_names() -> list[str]:
    return ["tiny"]


@pytest.fixture(scope="module")
def auth_headers(standalone_run) -> dict[str, str]:
    return {"Authorization": f"Bearer {standalone_run.extra_env['VLLM_API_KEY']}"}


@pytest.fixture(scope="module")
def client(standalone_run) -> openai.OpenAI:
    key = standalone_run.extra_env["VLLM_API_KEY"]
    return openai.OpenAI(base_url=f"{standalone_run.base_url}/v1", api_key=key, max_retries=0, timeout=120)


class TestStandaloneRun:
    def test_should_run_the_rendered_container_command_byte_for_byte_when_started(self, standalone_run):
        container = _container(standalone_run)
        pid = int(standalone_run.standalone.pid_file(container).read_text())
        (server,) = [p for p in standalone_run.processes() if p.pid == pid]
        assert server.cmdline() == [sys.executable, *container.command[1:], *container.args]
        assert server.cwd() == str(REPO)

    def test_should_print_the_command_it_runs_when_asked_for_the_config(self, standalone_run):
        printed = _serve_local(standalone_run, "--print-config").stdout
        container = _container(standalone_run)
        assert printed == shlex.join([*container.command, *container.args]) + "\n"

    def test_should_bind_only_loopback_when_running_locally(self, standalone_run):
        assert listeners(standalone_run.processes()), "the standalone run listens on no port at all"
        assert off_loopback(standalone_run.processes()) == []

    def test_should_refuse_requests_without_the_key_when_api_keys_are_set(self, standalone_run):
        anonymous = openai.OpenAI(base_url=f"{standalone_run.base_url}/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            anonymous.models.list()

    def test_should_refuse_an_update_when_standalone(self, standalone_run):
        refused = _serve_local(standalone_run, "--update")
        assert refused.returncode == 1
        assert "in standalone mode stop and start again" in refused.stderr


class TestOpenAiApi(OpenAiApiContract):
    """The shared API checks (tests/e2e/openai_api.py) on vLLM's own server."""
