"""A context manager entered in a thread of its own: a slow start (a local run) overlaps other work."""

from __future__ import annotations

import contextlib
import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Background(Generic[T]):
    """Enters `manager` in a daemon thread at once; `result()` waits for what it yields (or raises what
    its start raised); `close()` exits it in that same thread, as a `with` block would, and waits."""

    def __init__(self, manager: contextlib.AbstractContextManager[T], name: str = "background") -> None:
        self._manager = manager
        self._entered = threading.Event()
        self._release = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        self._exit_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with self._manager as value:
                self._value = value
                self._entered.set()
                self._release.wait()
        except BaseException as err:  # handed to the caller's thread, which re-raises it
            if self._entered.is_set():
                self._exit_error = err
            else:
                self._error = err
        finally:
            self._entered.set()

    def result(self, timeout: float | None = None) -> T:
        if not self._entered.wait(timeout):
            raise TimeoutError(f"{self._thread.name} did not start within {timeout} s")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def close(self, timeout: float | None = None) -> None:
        """Exit the context (after its start, however that ended); re-raise an error of the exit."""
        self._entered.wait(timeout)
        self._release.set()
        self._thread.join(timeout)
        if self._exit_error is not None:
            raise self._exit_error
