"""Every port the test stack opens (Ray, Serve replicas, vLLM, Milvus Lite) is on loopback."""

from __future__ import annotations

import ipaddress

import pytest

from tests.serve_app.deployment import Stack

pytestmark = pytest.mark.live  # runs against the session's local Ray (conftest.py)


class TestLoopback:
    def test_should_listen_only_on_loopback_when_the_stack_runs(self, stack: Stack) -> None:
        listening = stack.ray.listening()
        assert len(listening) > 10
        exposed = [s for s in listening if not ipaddress.ip_address(s[1].removeprefix("::ffff:")).is_loopback]
        assert exposed == []
