"""Every port the test stack opens (Ray, Serve replicas, vLLM, Milvus Lite) is on loopback."""

from __future__ import annotations

import pytest

from devkit.loopback import off_loopback
from tests.serve_app.deployment import Stack

pytestmark = pytest.mark.live  # runs against the session's local Ray (conftest.py)


class TestLoopback:
    def test_should_listen_only_on_loopback_when_the_stack_runs(self, stack: Stack) -> None:
        assert len(stack.ray.listening()) > 10
        assert off_loopback(stack.ray.processes()) == []
