"""Machine facts and the bounded wait for a quiet machine."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

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


class TestWaitForQuiet:
    def test_should_return_at_once_when_the_load_is_already_low(self):
        clock = FakeClock()
        found = wait_for_quiet(2.5, 60, 15, read_load=lambda: [1.0, 3.0, 4.0], sleep=clock.sleep, clock=clock,
                               log=io.StringIO())  # fmt: skip
        assert found == QuietWait(quiet=True, waited_s=0.0, load=[1.0, 3.0, 4.0])
        assert clock.sleeps == []

    def test_should_poll_until_the_load_drops_when_it_starts_high(self):
        clock = FakeClock()
        loads = iter([[9.0, 9, 9], [3.0, 9, 9], [2.4, 8, 9]])
        found = wait_for_quiet(2.5, 600, 15, read_load=lambda: next(loads), sleep=clock.sleep, clock=clock,
                               log=io.StringIO())  # fmt: skip
        assert found == QuietWait(quiet=True, waited_s=30.0, load=[2.4, 8, 9])

    def test_should_give_up_and_say_so_when_the_load_stays_high(self):
        clock = FakeClock()
        log = io.StringIO()
        found = wait_for_quiet(2.5, 60, 15, read_load=lambda: [20.0, 20, 20], sleep=clock.sleep, clock=clock,
                               log=log)  # fmt: skip
        assert found == QuietWait(quiet=False, waited_s=60.0, load=[20.0, 20, 20])
        assert clock.sleeps == [15] * 4
        assert "measuring under load" in log.getvalue()


class TestWriteResult:
    def test_should_record_machine_load_and_command_when_writing(self, tmp_path):
        wait = QuietWait(quiet=True, waited_s=3.0, load=[1.0, 2.0, 3.0])
        path = write_result("demo", {"x": 1}, wait=wait, load_after=[2.0, 2.0, 3.0], out_dir=tmp_path)
        document = json.loads(path.read_text())
        assert path == tmp_path / "demo.json"
        assert document["x"] == 1
        assert document["load"] == {
            "quiet_wait": wait.as_dict(),
            "before": [1.0, 2.0, 3.0],
            "after": [2.0, 2.0, 3.0],
        }
        assert document["machine"]["logical_cpus"] >= 1
        assert document["machine"]["packages"]["ray"] == report.package_versions(("ray",))["ray"]


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
