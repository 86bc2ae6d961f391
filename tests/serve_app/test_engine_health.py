"""The model replicas' health check without Ray: it passes only when the engine core answers in time.

The engines are fakes of what `LLMServer` holds in `self.engine` (Ray Serve LLM's `VLLMEngine`): its
`check_health` (the parent's check) and `is_sleeping` (the probe, a utility call to the engine core).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable

import psutil
import pytest
import yaml

from devkit import REPO
from serve_app import engine_health
from serve_app.config import LLM_SERVER_PREFIX
from serve_app.engine_health import EngineProbe, EngineUnresponsiveError
from serve_app.llm_server import LLMServer
from tests.serve_app.bare_server import bare_server


class ReplicaEnded(Exception):
    """What the tests' `end_replica` raises instead of ending the test process."""


MODULE_BOUND_S = engine_health.ENGINE_PROBE_TIMEOUT_S  # read before the fixture shortens it
BOUND_S = 0.2  # one check's wait the tests run with
SILENCE_S = 0.4  # the longest unanswered probe the tests run with


class FakeEngine:
    """An engine whose parent check passes and whose engine core answers `is_sleeping` at once."""

    def __init__(self, sleeping: bool = False) -> None:
        self.sleeping = sleeping
        self.probes = 0

    async def check_health(self) -> None:
        return None

    async def is_sleeping(self) -> bool:
        self.probes += 1
        return self.sleeping


class StalledEngine(FakeEngine):
    """The engine core stopped (SIGSTOP, a step that never returns): the utility call never answers."""

    async def is_sleeping(self) -> bool:
        self.probes += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class FailingProbeEngine(FakeEngine):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    async def is_sleeping(self) -> bool:
        self.probes += 1
        raise self.error


class LateEngine(FakeEngine):
    """The engine core answers its first probe only once the test calls `answer()` (a long model step
    that ends between two checks), the next ones at once: no verdict waits on the machine's speed."""

    def __init__(self) -> None:
        super().__init__()
        self._answered = asyncio.Event()

    def answer(self) -> None:
        self._answered.set()

    async def is_sleeping(self) -> bool:
        self.probes += 1
        if self.probes == 1:
            await self._answered.wait()
        return False


class DeadEngine(FakeEngine):
    """vLLM's errored flag is set: the parent's check raises (as `AsyncLLM.check_health` does)."""

    async def check_health(self) -> None:
        raise RuntimeError("EngineDeadError")


def server(engine: FakeEngine | None) -> LLMServer:
    """An `LLMServer` as Serve holds it once started: only `engine` is read by the check."""
    return bare_server(engine=engine)


def check(engine: FakeEngine | None) -> None:
    """Run the replica's health check."""
    asyncio.run(server(engine).check_health())


async def consecutive_checks(
    probe: EngineProbe, count: int, after_first: Callable[[], None] = lambda: None
) -> list[BaseException | None]:
    """`count` checks one after another, as Serve runs them after a failure: what each raised.
    `after_first` runs between the first and the second."""
    outcomes: list[BaseException | None] = []
    for index in range(count):
        try:
            await probe.check()
            outcomes.append(None)
        except Exception as err:
            outcomes.append(err)
        if index == 0:
            after_first()
    return outcomes


@pytest.fixture(autouse=True)
def short_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_health, "ENGINE_PROBE_TIMEOUT_S", BOUND_S)
    monkeypatch.setattr(engine_health, "ENGINE_SILENCE_LIMIT_S", SILENCE_S)


@pytest.fixture(autouse=True)
def ended(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The reasons `end_replica` was called with; it raises ReplicaEnded here."""
    reasons: list[str] = []

    def end_replica(reason: str):
        reasons.append(reason)
        raise ReplicaEnded(reason)

    monkeypatch.setattr(engine_health, "end_replica", end_replica)
    return reasons


async def replica_checks(
    engine: FakeEngine, count: int, after_first: Callable[[], None] = lambda: None
) -> list[BaseException | None]:
    """`count` health checks of one replica, one after another (one event loop, as in the replica);
    `after_first` runs between the first and the second."""
    replica = server(engine)
    outcomes: list[BaseException | None] = []
    for index in range(count):
        try:
            await replica.check_health()
            outcomes.append(None)
        except Exception as err:
            outcomes.append(err)
        if index == 0:
            after_first()
    return outcomes


class TestCheckHealth:
    def test_should_pass_and_probe_the_engine_core_when_the_engine_answers(self) -> None:
        engine = FakeEngine()
        check(engine)
        assert engine.probes == 1

    def test_should_pass_when_the_engine_answers_that_it_sleeps(self) -> None:
        check(FakeEngine(sleeping=True))

    def test_should_raise_within_the_bound_when_the_engine_core_does_not_answer(self) -> None:
        started = time.monotonic()
        with pytest.raises(EngineUnresponsiveError, match=r"has not answered a probe for \d+\.\d s"):
            check(StalledEngine())  # returns although the engine never answers
        assert time.monotonic() - started >= BOUND_S

    def test_should_reraise_the_probe_error_when_the_probe_call_raises(self) -> None:
        error = ConnectionError("engine core socket closed")
        with pytest.raises(ConnectionError) as raised:
            check(FailingProbeEngine(error))
        assert raised.value is error

    def test_should_reraise_not_relabel_a_timeout_error_of_the_call_itself_when_the_bound_has_not_passed(
        self,
    ) -> None:
        with pytest.raises(TimeoutError) as raised:
            check(FailingProbeEngine(TimeoutError("the call's own timeout")))
        assert not isinstance(raised.value, EngineUnresponsiveError)
        assert str(raised.value) == "the call's own timeout"

    def test_should_end_the_replica_without_probing_when_the_engine_is_dead(self, ended) -> None:
        engine = DeadEngine()
        with pytest.raises(ReplicaEnded):
            check(engine)
        assert ended == ["its engine died (RuntimeError: EngineDeadError)"] and engine.probes == 0

    def test_should_end_the_replica_at_the_check_that_finds_the_probe_silent_for_the_limit(
        self, ended
    ) -> None:
        outcomes = asyncio.run(replica_checks(StalledEngine(), 2))
        # The first check fails (Serve counts it); the second reaches the silence limit and ends it.
        assert [type(outcome) for outcome in outcomes] == [EngineUnresponsiveError, ReplicaEnded]
        assert len(ended) == 1 and ended[0].startswith("its engine core has not answered a probe for ")

    def test_should_fail_without_ending_the_replica_when_a_late_answer_came_in_time(
        self, ended, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A silence limit no check reaches on a slow machine: the answer comes between the checks.
        monkeypatch.setattr(engine_health, "ENGINE_SILENCE_LIMIT_S", 600.0)
        engine = LateEngine()
        outcomes = asyncio.run(replica_checks(engine, 2, after_first=engine.answer))
        assert [type(outcome) for outcome in outcomes] == [
            EngineUnresponsiveError,
            type(None),
        ] and ended == []

    def test_should_pass_like_the_parent_when_the_engine_is_not_started(self) -> None:
        check(None)


class TestEngineProbe:
    def test_should_fail_every_check_on_one_probe_until_the_silence_limit_when_the_engine_core_is_silent(
        self,
    ) -> None:
        engine = StalledEngine()
        started = time.monotonic()
        outcomes = asyncio.run(consecutive_checks(EngineProbe(engine, BOUND_S, SILENCE_S), 3))
        assert [type(outcome) for outcome in outcomes] == [EngineUnresponsiveError] * 3
        assert [outcome.exhausted for outcome in outcomes] == [False, True, True]
        assert engine.probes == 1  # the checks share the probe that is still out
        # The first waits its bound, the second until the probe is SILENCE_S old (the third fails at once).
        assert time.monotonic() - started >= SILENCE_S

    def test_should_pass_and_probe_afresh_when_a_late_answer_came_after_a_failed_check(self) -> None:
        engine = LateEngine()  # answers after the first wait, long before the limit
        probe = EngineProbe(engine, BOUND_S, silence_s=600.0)
        outcomes = asyncio.run(consecutive_checks(probe, 3, after_first=engine.answer))
        # The second check gets the late answer; the third sends a new probe, answered at once.
        assert [type(outcome) for outcome in outcomes] == [EngineUnresponsiveError, type(None), type(None)]
        assert engine.probes == 2

    def test_should_reraise_the_calls_own_error_when_it_is_the_answer(self) -> None:
        error = ConnectionError("engine core socket closed")
        outcomes = asyncio.run(
            consecutive_checks(EngineProbe(FailingProbeEngine(error), BOUND_S, SILENCE_S), 1)
        )
        assert outcomes == [error]


class TestEndReplica:
    def test_should_kill_the_engine_processes_and_exit_when_the_replica_ends(self, tmp_path) -> None:
        # A replica process with an engine child; end_replica must take both down.
        script = (
            "import subprocess, sys\n"
            "engine = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
            "print(engine.pid, flush=True)\n"
            "from serve_app.engine_health import end_replica\n"
            "end_replica('a test')\n"
        )
        replica = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        engine_pid = int(replica.stdout.split()[0])
        assert replica.returncode == 1
        assert (
            not psutil.pid_exists(engine_pid) or psutil.Process(engine_pid).status() == psutil.STATUS_ZOMBIE
        )


class TestDeployment:
    def test_should_keep_ray_serve_llms_deployment_names_when_it_replaces_the_server_class(self) -> None:
        # build_llm_deployment names a deployment `<class name>:<model>`; the chart knows `LLMServer:`.
        assert f"{LLMServer.__name__}:" == LLM_SERVER_PREFIX

    def test_should_stay_below_the_charts_default_health_check_timeout_when_the_bound_is_read(self) -> None:
        values = yaml.safe_load((REPO / "chart" / "values.yaml").read_text())
        default_timeout_s = values["modelDefaults"]["deployment"]["healthCheckTimeoutS"]
        assert 0 < MODULE_BOUND_S < default_timeout_s
