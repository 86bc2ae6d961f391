"""What the serve_app live suite deploys: the chart's render of values/local-cpu.yaml plus this suite's
overlay (tests/serve_app/overlay.yaml), deployed like `make serve` does, and helpers to use it.

The constants the tests need (limits, context lengths, routing) are read from that overlay, so the
tests and the deployed config cannot drift apart.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

from devkit import REPO
from devkit.helm import Rendered, render_chart
from devkit.local_ray import HOST, LocalRay
from serve_app.errors import OVERLOAD_RETRY_AFTER_S

OVERLAY = Path(__file__).with_name("overlay.yaml")
VALUES_FILES = (REPO / "values" / "local-cpu.yaml", OVERLAY)
_OVERLAY = yaml.safe_load(OVERLAY.read_text())
_MODELS = {m["name"]: m for m in _OVERLAY["models"]}

API_KEY = "sk-serve-app-test"
BUCKET = "batches"  # in the local S3 server (tests/serve_app/conftest.py: s3)
STACK_PREFIX = "stack"  # the stack's batch storage in that bucket
BACKEND_HEADER = "x-backend-model"
MAX_BODY_BYTES = _OVERLAY["gateway"]["maxBodyBytes"]
MAX_MODEL_LEN = _MODELS["tiny-v2"]["engine"]["maxModelLen"]
TINY_MAX_MODEL_LEN = _MODELS["tiny"]["engine"]["maxModelLen"]
# Limits of LLMServer:tiny: the overload test sends more than their sum at once.
TINY_MAX_ONGOING = _MODELS["tiny"]["deployment"]["maxOngoingRequests"]
TINY_MAX_QUEUED = _MODELS["tiny"]["deployment"]["maxQueuedRequests"]
TINY_RETRY_AFTER_S = OVERLOAD_RETRY_AFTER_S
ROUTING = _OVERLAY["routing"]
(CANARY,) = ROUTING["canaries"]


def render(state_dir: Path, batch_storage: str) -> Rendered:
    """The chart's render for this suite: the RAG store is its own (Milvus Lite locks its file), the
    batch storage an S3 prefix, as in a cluster."""
    return render_chart(
        values_files=VALUES_FILES,
        set_values=[f"rag.milvus.uri={state_dir / 'rag' / 'docs.db'}", f"batch.storage={batch_storage}"],
    )


def keys_env(config: dict) -> str:
    """The variable the rendered gateway reads its API keys from (the chart fills it from a Secret)."""
    return config["applications"][0]["args"]["apiKeysEnv"]


def with_routing(config: dict, routing: dict) -> dict:
    changed = copy.deepcopy(config)
    gateway = next(d for d in changed["applications"][0]["deployments"] if d["name"] == "OpenAiGateway")
    gateway["user_config"] = routing
    return changed


def chat_body(model: str = "tiny", content: str = "Hello", max_tokens: int = 4, **extra) -> dict:
    return {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        **extra,
    }


@dataclass
class Stack:
    """The deployed applications and the ways to reach them."""

    ray: LocalRay
    config: dict
    serve_port: int

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.serve_port}"

    def http(self, api_key: str | None = API_KEY, timeout: float = 60) -> httpx.Client:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def openai(self) -> OpenAI:
        return OpenAI(base_url=f"{self.base_url}/v1", api_key=API_KEY, max_retries=0, timeout=60)

    def deploy(self, config: dict, timeout_s: float = 900) -> dict:
        """Apply a config and wait until every application in it is RUNNING."""
        self.ray.deploy(config)
        return self.ray.wait_running({app["name"] for app in config["applications"]}, timeout_s)

    def replicas(self, app: str, deployment: str) -> list[dict]:
        return self.ray.applications()[app]["deployments"][deployment]["replicas"]

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a metric's samples with these labels, from Ray's Prometheus endpoint."""
        text = httpx.get(self.ray.metrics_url, timeout=10).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
        )
