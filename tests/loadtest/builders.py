"""Documents in the shapes the checker reads, each validated against its real schema when built.

- Serve status: derived from a real `/api/serve/applications/` answer of the local run (data/), then
  checked with Ray's own `ServeInstanceDetails` model.
- RayService: objects as KubeRay v1.7 writes them, checked against the RayService CRD schema of the
  shared schema folder (tests/schema.py).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

from ray.serve.schema import ServeInstanceDetails

from tests.schema import object_problems

DATA = Path(__file__).resolve().parent / "data"
LLM = "LLMServer:tiny"
T0 = 1_800_000_000.0  # wall-clock origin of the built documents


@cache
def _serve_template() -> dict:
    return json.loads((DATA / "serve_applications.json").read_text())


def serve_doc(
    target: int = 1, replicas: tuple[tuple[str, str, float], ...] = (("r0", "RUNNING", T0 - 100),)
) -> dict:
    """The local run's status with LLMServer:tiny at `target` and these (id, state, start time) replicas."""
    doc = copy.deepcopy(_serve_template())
    deployment = doc["applications"]["llm"]["deployments"][LLM]
    template = deployment["replicas"][0]
    deployment["target_num_replicas"] = target
    deployment["replicas"] = [
        {**template, "replica_id": rid, "state": state, "start_time_s": start}
        for rid, state, start in replicas
    ]
    ServeInstanceDetails.model_validate(doc)
    return doc


def condition(kind: str, status: bool, reason: str, message: str = "") -> dict:
    return {
        "type": kind,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-11-26T10:00:00Z",
        "observedGeneration": 1,
    }


def service_status(cluster: str, deployments: dict[str, str], app_status: str = "RUNNING") -> dict:
    """One `activeServiceStatus`/`pendingServiceStatus` as KubeRay v1.7 writes it."""
    return {
        "applicationStatuses": {
            "llm": {
                "status": app_status,
                "serveDeploymentStatuses": {d: {"status": s} for d, s in deployments.items()},
            }
        },
        "rayClusterName": cluster,
        "rayClusterStatus": {
            "availableWorkerReplicas": 2,
            "desiredWorkerReplicas": 2,
            "minWorkerReplicas": 1,
            "maxWorkerReplicas": 4,
            "readyWorkerReplicas": 2,
            "observedGeneration": 1,
            "lastUpdateTime": "2026-11-26T10:00:00Z",
            "desiredCPU": "18",
            "desiredMemory": "96Gi",
            "desiredGPU": "2",
            "desiredTPU": "0",
            "endpoints": {
                "client": "10001",
                "dashboard": "8265",
                "gcs-server": "6379",
                "metrics": "8080",
                "serve": "8000",
            },
            "head": {
                "podIP": "10.0.1.5",
                "podName": f"{cluster}-head-7x2kq",
                "serviceIP": "10.100.3.4",
                "serviceName": f"{cluster}-head-svc",
            },
            "conditions": [
                condition("HeadPodReady", True, "HeadPodRunningAndReady"),
                condition("RayClusterProvisioned", True, "AllPodRunningAndReadyFirstTime"),
            ],
        },
    }


def rayservice(name: str = "ray-vllm", release: str = "ray-vllm", status: dict | None = None) -> dict:
    """A RayService as the chart labels it, with `status`; fails if the object breaks the CRD schema."""
    obj = {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": name, "namespace": "llm", "labels": {"app.kubernetes.io/instance": release}},
        "spec": {
            "serveConfigV2": "applications: []\n",
            "rayClusterConfig": {
                "rayVersion": "2.60.0",
                "headGroupSpec": {
                    "rayStartParams": {},
                    "template": {
                        "spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}
                    },
                },
            },
        },
        "status": status or {},
    }
    problems = object_problems(obj, "1.34")
    assert not problems, problems
    return obj


def steady_status(cluster: str = "ray-vllm-x7k2p", deployments: dict[str, str] | None = None) -> dict:
    return {
        "activeServiceStatus": service_status(
            cluster, deployments or {LLM: "HEALTHY", "OpenAiGateway": "HEALTHY"}
        ),
        "pendingServiceStatus": {},
        "conditions": [
            condition("Ready", True, "NonZeroServeEndpoints", "Number of serve endpoints is greater than 0"),
            condition("UpgradeInProgress", False, "NoPendingCluster", "No pending cluster exists"),
        ],
        "numServeEndpoints": 1,
        "observedGeneration": 1,
        "serviceStatus": "Running",
        "lastUpdateTime": "2026-11-26T10:00:00Z",
    }
