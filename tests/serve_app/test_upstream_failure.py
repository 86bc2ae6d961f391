"""A model replica that dies mid-request: 503 with Retry-After (no hang), readiness drops, Serve recovers."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest

from tests.serve_app.deployment import MAX_MODEL_LEN, Stack, chat_body

pytestmark = pytest.mark.live  # runs against the session's local Ray (conftest.py)

MODEL, DEPLOYMENT = "tiny-v2", "LLMServer:tiny-v2"
RECOVERY_S = 600


def running_replica(stack: Stack) -> dict:
    [replica] = [r for r in stack.replicas("llm", DEPLOYMENT) if r["state"] == "RUNNING"]
    return replica


class TestUpstreamFailure:
    def test_should_answer_503_then_recover_when_a_model_replica_dies(self, stack: Stack) -> None:
        replica = running_replica(stack)
        # The engine processes of the replica outlive a SIGKILL of their parent; they are ours to stop.
        engine_procs = psutil.Process(replica["pid"]).children(recursive=True)
        body = chat_body(MODEL, max_tokens=MAX_MODEL_LEN - 64, ignore_eos=True)
        try:
            with stack.http(timeout=120) as http, ThreadPoolExecutor(1) as pool:
                in_flight = pool.submit(http.post, "/v1/chat/completions", json=body)
                time.sleep(2)
                os.kill(replica["pid"], signal.SIGKILL)
                killed_at = time.monotonic()
                response = in_flight.result(timeout=120)
            assert time.monotonic() - killed_at < 60
            assert response.status_code == 503, response.text
            assert int(response.headers["retry-after"]) > 0
            assert response.json()["error"]["code"] == "upstream_unavailable"

            health = []
            deadline = time.monotonic() + RECOVERY_S
            while time.monotonic() < deadline:
                health.append(httpx.get(f"{stack.base_url}/healthz", timeout=30).status_code)
                if health[-1] == 200 and 503 in health:
                    break
                time.sleep(2)
            assert health[-1] == 200 and 503 in health, health
            assert running_replica(stack)["replica_id"] != replica["replica_id"]
            with stack.http() as http:
                assert http.post("/v1/chat/completions", json=chat_body(MODEL)).status_code == 200
        finally:
            for proc in engine_procs:
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.kill()
