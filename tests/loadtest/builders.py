"""Documents in the shapes the checker reads, each validated against its real schema when built.

- Serve status: derived from a real `/api/serve/applications/` answer of the local run (data/), then
  checked with Ray's own `ServeInstanceDetails` model.
- RayService: objects as KubeRay v1.7 writes them, checked against the RayService CRD schema of the
  repository's schema folder (devkit/schema.py).
- Checker timelines: one sample a second with replica counts changing at chosen times.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

from ray.serve.schema import ServeInstanceDetails

from devkit.schema import object_problems
from loadtest.autoscale_analysis import Replicas, ReplicaStarts, Sample
from loadtest.serve_status import Autoscaling, parse_serve_applications
from loadtest.step_plan import BASELINE, DROP, STEP

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


KEY = f"llm/{LLM}"
AUTO = Autoscaling(
    min_replicas=1,
    max_replicas=2,
    target_ongoing_requests=2.0,
    upscale_delay_s=2.0,
    downscale_delay_s=15.0,
    look_back_period_s=5.0,
    metrics_interval_s=1.0,
)
STEP_AT, DROP_AT = 10.0, 80.0


def replicas(target: int, running: int, starting: int = 0, stopping: int = 0) -> Replicas:
    return Replicas(target=target, running=running, starting=starting, stopping=stopping, status="HEALTHY")


def timeline(changes: dict[float, Replicas], end: float = 120.0) -> list[Sample]:
    """One sample a second; replica counts change at the given times and hold until the next change."""
    samples, current = [], changes[0.0]
    for second in range(int(end)):
        t = float(second)
        current = changes.get(t, current)
        phase = BASELINE if t < STEP_AT else STEP if t < DROP_AT else DROP
        samples.append(Sample(t=t, phase=phase, users=1, status_t=t, replicas={KEY: current}))
    return samples


# A clean cycle: decision 6 s after the step, the new replica created then and RUNNING 30 s later,
# scale-down decided 17 s after the drop, the stopping replica gone 3 s after that.
CLEAN = {
    0.0: replicas(1, 1),
    16.0: replicas(2, 1, starting=1),
    46.0: replicas(2, 2),
    97.0: replicas(1, 1, stopping=1),
    100.0: replicas(1, 1),
}


def clean_starts() -> ReplicaStarts:
    starts = ReplicaStarts(t0_wall=T0)
    starts.observe(T0, parse_serve_applications(serve_doc()), initial=True)
    created = T0 + 16.0
    starts.observe(
        T0 + 16.5,
        parse_serve_applications(serve_doc(2, (("r0", "RUNNING", T0 - 100), ("r1", "STARTING", created)))),
    )
    starts.observe(
        T0 + 46.0,
        parse_serve_applications(serve_doc(2, (("r0", "RUNNING", T0 - 100), ("r1", "RUNNING", created)))),
    )
    return starts
