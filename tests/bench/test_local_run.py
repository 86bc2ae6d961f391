"""Helpers that find the local run's processes and check where they listen."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from bench.local_run import add_variant_options, engine_core, ray_title, variant
from devkit.loopback import is_loopback


class TestIsLoopback:
    @pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1"])
    def test_should_accept_when_bound_to_loopback(self, address):
        assert is_loopback(address)

    @pytest.mark.parametrize("address", ["0.0.0.0", "::", "192.0.2.2", "::ffff:10.0.0.1"])
    def test_should_reject_when_bound_to_any_or_a_network_address(self, address):
        assert not is_loopback(address)


class TestRayTitle:
    def test_should_drop_the_running_method_when_ray_appends_it(self):
        assert ray_title(["ray::ServeReplica:llm:LLMServer:tiny-b.initialize_and_get_metadata", "", ""]) == (
            "ServeReplica:llm:LLMServer:tiny-b"
        )

    def test_should_keep_the_whole_name_when_the_actor_is_idle(self):
        assert ray_title(["ray::ProxyActor", ""]) == "ProxyActor"

    def test_should_be_none_when_the_process_is_not_a_ray_worker(self):
        assert ray_title(["/usr/bin/python", "-m", "x"]) is None
        assert ray_title([]) is None


# A server process with one child that takes `title` after a second, as vLLM's spawned engine does
# once it has imported vLLM ("" keeps the interpreter's command line).
CHILD = (
    "import sys, time, setproctitle; time.sleep(1); "
    "sys.argv[1] and setproctitle.setproctitle(sys.argv[1]); time.sleep(120)"
)
SERVER = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {CHILD!r}, sys.argv[1]])"


@pytest.fixture
def server(request) -> Iterator[psutil.Process]:
    proc = subprocess.Popen([sys.executable, "-c", SERVER, request.param])
    parent = psutil.Process(proc.pid)
    try:
        yield parent
    finally:
        for child in parent.children(recursive=True):
            child.kill()
        proc.kill()
        proc.wait()


def first_child(server: psutil.Process) -> psutil.Process:
    for _ in range(600):
        if children := server.children():
            return children[0]
        time.sleep(0.1)
    raise AssertionError("the server started no child")


class TestEngineCore:
    @pytest.mark.parametrize("server", ["VLLM::EngineCore"], indirect=True)
    def test_should_wait_for_the_title_when_the_engine_starts_late(self, server):
        found = engine_core(server, timeout_s=60)
        assert found.ppid() == server.pid
        assert found.cmdline()[0] == "VLLM::EngineCore"

    @pytest.mark.parametrize("server", [""], indirect=True)
    def test_should_name_the_children_it_saw_when_no_engine_appears(self, server):
        child = first_child(server)
        with pytest.raises(LookupError, match=rf"under pid {server.pid}, found: \[\({child.pid}, "):
            engine_core(server, timeout_s=0)


class TestVariant:
    def parse(self, *argv: str) -> argparse.Namespace:
        parser = argparse.ArgumentParser()
        add_variant_options(parser)
        return parser.parse_args(argv)

    def test_should_keep_the_name_and_add_nothing_when_no_variant_is_given(self):
        assert variant(self.parse(), "full-path") == ("full-path", {})

    def test_should_suffix_the_name_and_pass_the_variables_when_tagged(self):
        args = self.parse("--local-env", "A=1", "--local-env", "B=x=y", "--tag", "fast")
        assert variant(args, "full-path") == ("full-path-fast", {"A": "1", "B": "x=y"})
