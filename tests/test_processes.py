"""devkit.processes: the local run's processes found by the titles Ray and vLLM give them, with real
processes that take their title late (as vLLM's spawned engine does)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from devkit.processes import engine_core, has_title, title

# A process with one child that takes the title argv[1] after a second ("" keeps the interpreter's
# command line).
CHILD = (
    "import sys, time, setproctitle; time.sleep(1); "
    "sys.argv[1] and setproctitle.setproctitle(sys.argv[1]); time.sleep(120)"
)
SERVER = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {CHILD!r}, sys.argv[1]])"

# vLLM's way: the engine is a `multiprocessing` spawn child that calls setproctitle, here after a
# change to its first environment variable, which makes setproctitle set no title at all.
SPAWNING_SERVER = """
import multiprocessing, os, pathlib, sys, time

def engine(marker):
    first = next(iter(os.environ))
    os.environ[first] += "-changed"
    import setproctitle
    setproctitle.setproctitle("VLLM::EngineCore")
    pathlib.Path(marker).write_text(str(os.getpid()))
    time.sleep(120)

if __name__ == "__main__":
    multiprocessing.get_context("spawn").Process(target=engine, args=(sys.argv[1],)).start()
"""


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


def titled(server: psutil.Process, expected: str) -> psutil.Process:
    """The server's child once it has taken the title `expected`."""
    child = first_child(server)
    for _ in range(600):
        if title(child) == expected:
            return child
        time.sleep(0.1)
    raise AssertionError(f"the child never took the title {expected!r}")


class TestHasTitle:
    @pytest.mark.parametrize("server", ["ray::ServeReplica:llm:LLMServer:tiny-b.chat"], indirect=True)
    def test_should_match_the_actor_when_ray_appends_the_running_method(self, server):
        child = titled(server, "ray::ServeReplica:llm:LLMServer:tiny-b.chat")
        assert has_title(child, "ray::ServeReplica:llm:LLMServer:tiny-b")
        assert not has_title(child, "ray::ServeReplica:llm:LLMServer:tiny")

    @pytest.mark.parametrize("server", ["ray::ProxyActor"], indirect=True)
    def test_should_match_the_whole_name_when_the_actor_is_idle(self, server):
        child = titled(server, "ray::ProxyActor")
        assert has_title(child, "ray::ProxyActor") and not has_title(child, "ray::Proxy")

    def test_should_match_nothing_when_the_process_has_gone(self):
        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        gone = psutil.Process(proc.pid)
        proc.wait()
        assert title(gone) == "" and not has_title(gone, "ray::ProxyActor")


class TestEngineCore:
    @pytest.mark.parametrize("server", ["VLLM::EngineCore"], indirect=True)
    def test_should_wait_for_the_title_when_the_engine_starts_late(self, server):
        found = engine_core(server, timeout_s=60)
        assert found.ppid() == server.pid
        assert found.cmdline()[0] == "VLLM::EngineCore"

    def test_should_find_the_spawned_engine_when_setproctitle_set_no_title(self, tmp_path):
        script = tmp_path / "server.py"
        script.write_text(SPAWNING_SERVER)
        marker = tmp_path / "engine-titled"
        proc = subprocess.Popen([sys.executable, str(script), str(marker)])
        server = psutil.Process(proc.pid)
        try:
            for _ in range(600):  # the engine has called setproctitle
                if marker.exists() and marker.read_text():
                    break
                time.sleep(0.1)
            found = engine_core(server, timeout_s=0)
            engine_pid = int(marker.read_text())
            assert (found.pid, found.ppid(), title(found)) == (engine_pid, server.pid, sys.executable)
        finally:
            for spawned in server.children(recursive=True):
                spawned.kill()
            proc.kill()
            proc.wait()

    @pytest.mark.parametrize("server", [""], indirect=True)
    def test_should_name_the_children_it_saw_when_no_engine_appears(self, server):
        child = first_child(server)
        with pytest.raises(LookupError, match=rf"under pid {server.pid}, found: \[\({child.pid}, "):
            engine_core(server, timeout_s=0)
