"""devkit.background: a context manager entered and exited in a thread of its own."""

from __future__ import annotations

import contextlib
import threading

import pytest

from devkit.background import Background


@contextlib.contextmanager
def recorded(events: list, fail_on_enter: bool = False, fail_on_exit: bool = False, gate=None):
    events.append(("enter", threading.current_thread().name))
    if gate is not None:
        gate.wait(5)
    if fail_on_enter:
        raise RuntimeError("start failed")
    try:
        yield "value"
    finally:
        events.append(("exit", threading.current_thread().name))
        if fail_on_exit:
            raise RuntimeError("stop failed")


class TestBackground:
    def test_should_yield_the_value_when_the_start_ends(self):
        events: list = []
        background = Background(recorded(events), name="starter")
        assert background.result(timeout=5) == "value"
        background.close(timeout=5)
        assert events == [("enter", "starter"), ("exit", "starter")]

    def test_should_wait_for_the_start_when_the_result_is_asked_early(self):
        gate = threading.Event()
        background = Background(recorded([], gate=gate))
        with pytest.raises(TimeoutError, match=r"did not start within 0\.1 s"):
            background.result(timeout=0.1)
        gate.set()
        assert background.result(timeout=5) == "value"
        background.close(timeout=5)

    def test_should_raise_the_start_error_in_the_caller_when_the_start_fails(self):
        events: list = []
        background = Background(recorded(events, fail_on_enter=True))
        with pytest.raises(RuntimeError, match="start failed"):
            background.result(timeout=5)
        background.close(timeout=5)
        assert [event for event, _ in events] == ["enter"]

    def test_should_raise_the_stop_error_when_closing_fails(self):
        background = Background(recorded([], fail_on_exit=True))
        assert background.result(timeout=5) == "value"
        with pytest.raises(RuntimeError, match="stop failed"):
            background.close(timeout=5)

    def test_should_exit_after_the_start_when_closed_before_it_ended(self):
        events: list = []
        gate = threading.Event()
        background = Background(recorded(events, gate=gate))
        threading.Timer(0.2, gate.set).start()
        background.close(timeout=5)
        assert [event for event, _ in events] == ["enter", "exit"]
