"""End to end: values/local-cpu.yaml rendered by the chart, its serveConfigV2 deployed unchanged on a
local Ray by `tools/serve_local.py` (what `make serve` runs), exercised with the official openai client.

The run is the test session's shared one (tests/conftest.py); tests/e2e/test_shutdown.py stops it last.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest
import yaml

from devkit import serve_local
from devkit.helm import Rendered, render_chart
from devkit.loopback import listeners, off_loopback
from tests.e2e.openai_api import OpenAiApiContract

VALUES = yaml.safe_load(Path("values/local-cpu.yaml").read_text())
MODEL_NAMES = [m["name"] for m in VALUES["models"]]


def rendered(local_run) -> Rendered:
    """The chart rendered with the values the local run was started with."""
    return render_chart(values_files=local_run.values_files, set_values=list(local_run.set_values))


def served_config(local_run) -> str:
    """The serveConfigV2 the local run deployed."""
    return rendered(local_run).serve_config_text


@pytest.fixture(scope="module")
def base_url(local_run) -> str:
    return local_run.base_url


@pytest.fixture(scope="module")
def model_names() -> list[str]:
    return MODEL_NAMES


@pytest.fixture(scope="module")
def auth_headers() -> dict[str, str]:
    return {}  # the local preset sets no API keys


@pytest.fixture(scope="module")
def client(local_run) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{local_run.base_url}/v1", api_key="unused", max_retries=0, timeout=120)


class TestDeployedConfig:
    def test_should_run_the_rendered_config_unchanged_when_deployed_by_serve_local(self, local_run):
        config = yaml.safe_load(served_config(local_run))
        live = httpx.get(
            f"{local_run.dashboard_url}/api/serve/applications/",
            headers={"Authorization": f"Bearer {local_run.token}"},
            timeout=30,
        ).json()
        assert sorted(live["applications"]) == sorted(a["name"] for a in config["applications"])
        for app in config["applications"]:
            live_app = live["applications"][app["name"]]
            assert live_app["status"] == "RUNNING"
            assert live_app["route_prefix"] == app["route_prefix"]
            assert live_app["deployed_app_config"]["import_path"] == app["import_path"]
            assert live_app["deployed_app_config"]["args"] == app["args"]
            assert sorted(live_app["deployments"]) == sorted(d["name"] for d in app["deployments"])

    def test_should_give_ray_the_charts_serve_runtime_variables_when_started_by_serve_local(self, local_run):
        expected = serve_local.serve_runtime_env(rendered(local_run))
        assert set(expected) == {
            "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD",
            "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP",
            "RAY_SERVE_USE_GRPC_BY_DEFAULT",
            "RAY_SERVE_AUTOSCALING_METRIC_RECORD_INTERVAL_FACTOR",
            "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH",
        }
        head_env = local_run.processes()[0].environ()
        assert {name: head_env.get(name) for name in expected} == expected

    def test_should_bind_only_loopback_when_running_locally(self, local_run):
        assert listeners(local_run.processes()), "the local run listens on no port at all"
        assert off_loopback(local_run.processes()) == []

    def test_should_refuse_the_dashboard_api_when_no_token_is_sent(self, local_run):
        resp = httpx.get(f"{local_run.dashboard_url}/api/serve/applications/", timeout=30)
        assert resp.status_code == 401


class TestOpenAiApi(OpenAiApiContract):
    """The shared API checks (tests/e2e/openai_api.py) on the gateway."""


class TestRouting:
    def test_should_route_a_canary_name_to_its_arms_when_users_differ(self, client):
        canary = VALUES["routing"]["canaries"][0]
        arms = {arm["model"] for arm in canary["arms"]}
        seen = set()
        # Sticky hashing is deterministic; 150 users miss a 10 % arm with probability 0.9**150 ~ 1e-7.
        for user in range(150):
            raw = client.chat.completions.with_raw_response.create(
                model=canary["name"],
                messages=[{"role": "user", "content": "Hi"}],
                max_tokens=1,
                extra_headers={canary["stickyHeader"]: f"user-{user}"},
            )
            seen.add(raw.headers["x-backend-model"])
        assert seen == arms

    def test_should_keep_one_user_on_one_arm_when_the_sticky_header_repeats(self, client):
        canary = VALUES["routing"]["canaries"][0]
        backends = {
            client.chat.completions.with_raw_response.create(
                model=canary["name"],
                messages=[{"role": "user", "content": "Hi"}],
                max_tokens=1,
                extra_headers={canary["stickyHeader"]: "the-same-user"},
            ).headers["x-backend-model"]
            for _ in range(5)
        }
        assert len(backends) == 1


class TestRag:
    def test_should_answer_with_the_ingested_source_when_asked_about_it(self, local_run):
        config = yaml.safe_load(served_config(local_run))
        prefix = next(a["route_prefix"] for a in config["applications"] if a["name"] == "rag")
        rag = f"{local_run.base_url}{prefix}"
        doc = {"source": "karpenter.md", "text": "Karpenter starts GPU nodes when Ray pods are pending."}
        ingested = httpx.post(f"{rag}/ingest", json={"documents": [doc]}, timeout=120)
        assert ingested.status_code == 200, ingested.text
        answer = httpx.post(
            f"{rag}/query",
            json={"question": "What starts GPU nodes when Ray worker pods are pending?", "max_tokens": 8},
            timeout=120,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["sources"][0]["source"] == "karpenter.md"
        assert body["usage"]["completion_tokens"] >= 1


class TestAgent:
    """The agent application on the local run, through the gateway's `chat` alias. With random weights a
    run's steps are not all deterministic: vLLM 0.32 decodes a forced tool call under a grammar that
    allows free whitespace and unbounded strings, so a call may use up its tokens before the parser
    finds it (tests/serve_app/test_tools.py bias the whitespace away; the agent sends what a client
    sends). The multi-step branching is proven with a scripted model (test_agent_loop.py, test_agent.py);
    here: the plumbing, a run that must answer, a multi-step run whose tool calls the request scripts
    (retrieval from the RAG app, then the calculator, then the model's answer), and the trace's shape."""

    def test_should_answer_in_one_model_step_when_tools_are_ruled_out(self, local_run):
        response = httpx.post(
            f"{local_run.base_url}/agent/run", json={"task": "Say hello.", "then": "none"}, timeout=300
        )
        assert response.status_code == 200, response.text
        run = response.json()
        assert (run["status"], run["model"], len(run["steps"])) == ("completed", "chat", 1), run
        assert run["steps"][0]["kind"] == "model" and run["steps"][0]["model"] == "tiny"  # chat → tiny
        assert isinstance(run["answer"], str) and run["tokens"] > 0

    def test_should_answer_from_retrieval_and_a_calculation_when_the_calls_are_scripted(self, local_run):
        rag = f"{local_run.base_url}/rag"
        doc = {"source": "refunds.md", "text": "Refunds are paid back within five working days."}
        assert httpx.post(f"{rag}/ingest", json={"documents": [doc]}, timeout=120).status_code == 200
        calls = [
            {"tool": "retrieve", "arguments": {"query": "How long do refunds take?"}},
            {"tool": "calculator", "arguments": {"expression": "5 * 24"}},
        ]
        response = httpx.post(
            f"{local_run.base_url}/agent/run",
            json={"task": "How many hours do refunds take?", "calls": calls, "then": "none"},
            timeout=300,
        )
        assert response.status_code == 200, response.text
        run = response.json()
        assert run["status"] == "completed", run
        assert [(s["kind"], s.get("tool"), s.get("model")) for s in run["steps"]] == [
            ("tool", "retrieve", None), ("tool", "calculator", None), ("model", None, "tiny")
        ]  # fmt: skip
        retrieved, calculated = run["steps"][0], run["steps"][1]
        assert (
            retrieved["result"][0]["source"] == "refunds.md"
            and "five working days" in retrieved["result"][0]["text"]
        )
        assert calculated["result"] == 120
        assert isinstance(run["answer"], str) and run["tokens"] > 0

    def test_should_trace_each_step_of_a_planned_run_when_tools_are_forced(self, local_run):
        rag = f"{local_run.base_url}/rag"
        doc = {"source": "refunds.md", "text": "Refunds are paid back within five working days."}
        assert httpx.post(f"{rag}/ingest", json={"documents": [doc]}, timeout=120).status_code == 200
        response = httpx.post(
            f"{local_run.base_url}/agent/run",
            json={"task": "How long do refunds take?", "plan": ["retrieve", "calculator"], "then": "none"},
            timeout=300,
        )
        assert response.status_code == 200, response.text
        run = response.json()
        assert run["status"] in ("completed", "step_limit", "token_limit"), run
        assert run["steps"][0]["kind"] == "model" and run["steps"][-1]["kind"] == "model"
        assert {s["model"] for s in run["steps"] if s["kind"] == "model"} == {"tiny"}
        # Each tool step follows the model step that asked for it and has a result or an error.
        tools = [s for s in run["steps"] if s["kind"] == "tool"]
        assert {s["tool"] for s in tools} <= {"retrieve", "calculator"}
        assert all(("result" in s) != ("error" in s) for s in tools)

    def test_should_answer_400_naming_plan_when_it_forces_a_tool_the_agent_lacks(self, local_run):
        response = httpx.post(
            f"{local_run.base_url}/agent/run", json={"task": "x", "plan": ["shell"]}, timeout=60
        )
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "plan"
