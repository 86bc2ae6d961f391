"""The serveConfigV2 the serve_app tests deploy, in the shape the chart renders, and helpers to use it.

Three tiny models on CPU (the second one a canary arm, the third an embedding model run by vLLM's
pooling runner), the gateway with API keys, routing in its user_config, tight limits on `tiny` for the
overload test, and the RAG application on Milvus Lite.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import httpx
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

from devkit.local_ray import HOST, LocalRay

API_KEY = "sk-serve-app-test"
KEYS_ENV = "SERVE_APP_TEST_API_KEYS"
BACKEND_HEADER = "x-backend-model"
MAX_BODY_BYTES = 65_536
MAX_MODEL_LEN = 2048
# `tiny`'s context: long enough that the overload test's holders keep its slots for a minute on a
# loaded 2-core machine, far longer than the probes take however slowly the client is scheduled.
TINY_MAX_MODEL_LEN = 8192
# Limits of LLMServer:tiny: the overload test sends more than their sum at once.
TINY_MAX_ONGOING = 4
TINY_MAX_QUEUED = 4
TINY_RETRY_AFTER_S = 2
CANARY = {
    "name": "tiny-ab",
    "stickyHeader": "x-user-id",
    "arms": [{"model": "tiny", "weight": 90}, {"model": "tiny-v2", "weight": 10}],
}
ROUTING = {
    "aliases": {"chat": "tiny", "assistant": "tiny-ab"},
    "sizeTiers": {"small": "tiny", "large": "tiny-v2"},
    "canaries": [CANARY],
}


def _engine(max_model_len: int = MAX_MODEL_LEN, **extra_args) -> dict:
    return {
        "maxModelLen": max_model_len,
        "dtype": "float32",
        "enforceEager": True,
        "maxNumSeqs": 16,
        # vLLM on CPU sizes its KV cache from this, not from a memory fraction.
        "extraArgs": {"kv_cache_memory_bytes": 128 * 1024 * 1024, **extra_args},
    }


def _deployment(name: str, **options) -> dict:
    """Ray's DeploymentSchema fields, as the chart's `ray-vllm.deploymentOptions` renders them."""
    return {
        "name": name,
        "num_replicas": 1,
        "max_ongoing_requests": 16,
        "max_queued_requests": 64,
        "ray_actor_options": {"num_cpus": 1},
        "health_check_period_s": 5,
        "health_check_timeout_s": 30,
        "graceful_shutdown_timeout_s": 5,
        **options,
    }


def _model_deployment(name: str, **options) -> dict:
    # One CPU bundle for the engine plus the replica actor's CPU, like the chart's CPU layout.
    return _deployment(
        f"LLMServer:{name}",
        placement_group_bundles=[{"CPU": 2}],
        placement_group_strategy="STRICT_PACK",
        **options,
    )


def serve_config(model_dirs: dict[str, Path], rag_db: Path, serve_port: int, routing: dict = ROUTING) -> dict:
    """`model_dirs["tiny"]` is given as `./<name>`, resolved against $MODEL_ROOT (its parent)."""
    return {
        "http_options": {"host": HOST, "port": serve_port},
        "applications": [
            {
                "name": "llm",
                "route_prefix": "/",
                "import_path": "serve_app.apps:build_gateway_app",
                "args": {
                    "models": [
                        {"name": "tiny", "source": f"./{model_dirs['tiny'].name}", "accelerator": "cpu",
                         "engine": _engine(TINY_MAX_MODEL_LEN)},
                        {"name": "tiny-v2", "source": str(model_dirs["tiny-v2"]), "accelerator": "cpu",
                         "engine": _engine()},
                        {"name": "tiny-embed", "source": str(model_dirs["tiny"]), "accelerator": "cpu",
                         "engine": _engine(runner="pooling", convert="embed")},
                    ],
                    "hfTokenEnv": "HF_TOKEN",
                    "apiKeysEnv": KEYS_ENV,
                    "maxBodyBytes": MAX_BODY_BYTES,
                },
                "deployments": [
                    _deployment("OpenAiGateway", max_ongoing_requests=256, max_queued_requests=1024,
                                user_config=routing),
                    _model_deployment(
                        "tiny",
                        max_ongoing_requests=TINY_MAX_ONGOING,
                        max_queued_requests=TINY_MAX_QUEUED,
                        backpressure_config={"retry_after_s": TINY_RETRY_AFTER_S},
                    ),
                    _model_deployment("tiny-v2"),
                    _model_deployment("tiny-embed"),
                ],
            },
            {
                "name": "rag",
                "route_prefix": "/rag",
                "import_path": "serve_app.apps:build_rag_app",
                "args": {
                    "embeddingModel": "all-MiniLM-L6-v2",
                    "milvus": {"uri": str(rag_db), "collection": "docs"},
                    "llm": {"app": "llm", "model": "chat"},
                    "topK": 2,
                    "scoreThreshold": 0.3,
                    "apiKeysEnv": KEYS_ENV,
                },
                "deployments": [_deployment("RagIngress"), _deployment("Embedder")],
            },
        ],
    }  # fmt: skip


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
