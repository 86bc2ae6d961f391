"""Machine facts and the bounded wait for a quiet machine."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import psutil
import pytest

from bench import report
from bench.report import QuietWait, cpu_model, wait_for_quiet, write_result


class FakeClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


class TestCpuModel:
    def test_should_read_the_first_model_name_when_cpuinfo_lists_cores(self):
        cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 9R14\n\nprocessor\t: 1\nmodel name\t: other\n"
        assert cpu_model(cpuinfo) == "AMD EPYC 9R14"


class FakeMachine:
    """Busy CPU seconds of the whole machine and of the processes a benchmark calls its own."""

    def __init__(self) -> None:
        self.busy = 100.0
        self.now = 0.0

    def run(self, seconds: float, *, others_s: float, own: list[FakeProcess]) -> None:
        self.now += seconds
        self.busy += others_s
        for process in own:
            process.cpu += process.rate * seconds
            self.busy += process.rate * seconds


class FakeProcess:
    def __init__(self, pid: int, rate: float, created: float = 1.0) -> None:
        self.pid, self.rate, self.created, self.cpu = pid, rate, created, 0.0

    def cpu_times(self):
        return types.SimpleNamespace(user=self.cpu, system=0.0, children_user=0.0, children_system=0.0)

    def create_time(self) -> float:
        return self.created


class TestCpuWindow:
    def window(self, machine: FakeMachine, own: list[FakeProcess]) -> report.CpuWindow:
        return report.CpuWindow(lambda: own, busy=lambda: machine.busy, clock=lambda: machine.now, cpus=2)

    def test_should_not_count_the_measured_servers_when_they_take_every_core(self, monkeypatch):
        monkeypatch.setattr(report, "own_processes", lambda own: list(own()))
        machine, servers = FakeMachine(), [FakeProcess(10, 1.0), FakeProcess(11, 0.95)]
        window = self.window(machine, servers).start()
        machine.run(10, others_s=0.4, own=servers)
        assert window.other_share() == 0.02  # 0.4 s of 20 core-seconds; the servers' 19.5 are ours

    def test_should_count_other_processes_when_they_share_the_cores(self, monkeypatch):
        monkeypatch.setattr(report, "own_processes", lambda own: list(own()))
        machine, server = FakeMachine(), FakeProcess(10, 0.5)
        window = self.window(machine, [server]).start()
        machine.run(10, others_s=12.0, own=[server])
        assert window.other_share() == 0.6

    def test_should_count_a_process_started_inside_the_window_as_ours_when_it_is_one(self, monkeypatch):
        own = [FakeProcess(10, 0.5)]
        monkeypatch.setattr(report, "own_processes", lambda _: list(own))
        machine = FakeMachine()
        window = self.window(machine, own).start()
        own.append(FakeProcess(12, 1.0, created=5.0))  # a client run started after the window opened
        machine.run(10, others_s=0.0, own=own)
        assert window.other_share() == 0.0

    def test_should_count_a_server_that_ended_inside_the_window_as_ours_when_it_was_sampled_first(
        self, monkeypatch
    ):
        own = [FakeProcess(10, 0.5), FakeProcess(11, 1.0)]
        monkeypatch.setattr(report, "own_processes", lambda _: list(own))
        machine = FakeMachine()
        window = self.window(machine, own).start()
        machine.run(10, others_s=0.0, own=own)
        window.sample()
        own.pop()  # a standalone server the benchmark stopped
        machine.run(10, others_s=2.0, own=own)
        assert window.other_share() == 0.05  # only the 2 s of others in 40 core-seconds

    def test_should_include_this_process_and_its_children_when_listing_its_own(self):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            pids = {process.pid for process in report.own_processes(tuple)}
        finally:
            child.kill()
            child.wait()
        assert {os.getpid(), child.pid} <= pids

    def test_should_see_the_cpu_this_process_burns_as_its_own_when_its_processes_are_read_for_real(self):
        me = psutil.Process()

        def busy() -> float:  # a machine where only this process works
            times = me.cpu_times()
            return 50.0 + times.user + times.system

        window = report.CpuWindow(busy=busy, cpus=2).start()
        deadline = time.process_time() + 0.3
        while time.process_time() < deadline:
            pass
        # Not exactly 0: the machine's busy time is read around the reads of ours, and those reads burn
        # a few ms of this process's CPU. Uncounted, the 0.3 s burnt would be 0.5 of the window.
        assert window.other_share() < 0.1


class TestWaitForQuiet:
    def test_should_return_after_one_sample_when_the_machine_is_already_quiet(self):
        clock = FakeClock()
        found = wait_for_quiet(lambda s: clock.sleep(s) or 0.03, 0.1, 60, 5, clock=clock, log=io.StringIO())
        assert found == QuietWait(quiet=True, waited_s=5.0, other_share=0.03)

    def test_should_sample_until_other_work_stops_when_it_starts_busy(self):
        clock = FakeClock()
        shares = iter([0.9, 0.3, 0.05])
        found = wait_for_quiet(lambda s: clock.sleep(s) or next(shares), 0.1, 600, 5, clock=clock,
                               log=io.StringIO())  # fmt: skip
        assert found == QuietWait(quiet=True, waited_s=15.0, other_share=0.05)

    def test_should_give_up_and_say_so_when_other_work_goes_on(self):
        clock, log = FakeClock(), io.StringIO()
        found = wait_for_quiet(lambda s: clock.sleep(s) or 0.7, 0.1, 20, 5, clock=clock, log=log)
        assert found == QuietWait(quiet=False, waited_s=20.0, other_share=0.7)
        assert clock.sleeps == [5] * 4
        assert "measuring beside them" in log.getvalue()

    def test_should_not_wait_when_the_longest_wait_is_zero(self):
        found = wait_for_quiet(lambda s: pytest.fail("sampled"), 0.1, 0, 5, log=io.StringIO())
        assert found == QuietWait(quiet=False, waited_s=0.0, other_share=None)


class TestWriteResult:
    def test_should_record_machine_and_what_else_ran_when_writing(self, tmp_path):
        conditions = report.Conditions(
            wait=QuietWait(quiet=True, waited_s=5.0, other_share=0.01),
            load_before=[1.0, 2.0, 3.0],
            load_after=[2.0, 2.0, 3.0],
            other_share=0.04,
            window_s=12.0,
        )
        path = write_result("demo", {"x": 1}, conditions=conditions, out_dir=tmp_path)
        document = json.loads(path.read_text())
        assert path == tmp_path / "demo.json"
        assert document["x"] == 1
        assert document["load"] == {
            "quiet_wait": {"quiet": True, "waited_s": 5.0, "other_share": 0.01},
            "before": [1.0, 2.0, 3.0],
            "after": [2.0, 2.0, 3.0],
            "other_cpu_share": 0.04,
            "window_s": 12.0,
            "quiet": True,
        }
        assert document["machine"]["logical_cpus"] >= 1
        assert document["machine"]["packages"]["ray"] == report.package_versions(("ray",))["ray"]

    def test_should_record_the_window_when_measuring(self):
        with report.measuring(max_wait_s=0) as conditions:
            pass
        assert conditions.other_share is not None and conditions.window_s is not None
        assert conditions.load_after is not None


class TestGitRevision:
    @pytest.fixture
    def repo(self, tmp_path: Path) -> Path:
        def git(*args: str) -> None:
            subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

        (tmp_path / "bench" / "results").mkdir(parents=True)
        (tmp_path / "bench" / "results" / "harness.json").write_text("{}")
        (tmp_path / "serve.py").write_text("x = 1\n")
        git("init", "-q")
        git("add", ".")
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
        return tmp_path

    def test_should_be_clean_when_only_bench_results_were_rewritten(self, repo: Path):
        (repo / "bench" / "results" / "harness.json").write_text('{"new": 1}')
        assert "+" not in report.git_revision(repo)

    def test_should_be_dirty_when_code_was_changed(self, repo: Path):
        (repo / "serve.py").write_text("x = 2\n")
        assert report.git_revision(repo).endswith("+dirty")
