"""A real Prometheus (Debian's `prometheus`) scraping the local Ray the way the chart's PodMonitor says.

prometheus-operator turns a PodMonitor into a Kubernetes-SD scrape job: keep the pods the selector
matches and the named port, add `namespace`/`pod`/`container`/`job`/`endpoint`, then apply the
monitor's own relabelings (and its metricRelabelings to every scraped series). Here the pod is the
rendered RayService's head pod as KubeRay labels it (or, in standalone mode, a pod of a model's
Deployment), and its target is the local process; the job gets the same relabelling, so every series
carries the names and labels it would carry in a cluster, produced by Prometheus itself.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

from devkit.local_ray import http_json
from devkit.monitoring.harness import HOST, http_text, wait_until

# KubeRay's own pod labels (ray-operator/controllers/ray/common/pod.go, labelPod): the template's
# labels override these, apart from the three KubeRay always owns.
KUBERAY_OWNED_LABELS = ("ray.io/node-type", "ray.io/group", "ray.io/cluster")
# KubeRay names a RayService's RayCluster `<rayservice>-<5 random characters>`.
RAYCLUSTER_SUFFIX = "x7k2p"


@dataclass(frozen=True)
class Pod:
    """What Kubernetes service discovery tells Prometheus about one Ray pod."""

    namespace: str
    name: str
    container: str
    labels: dict[str, str]
    ports: dict[str, int]  # container port name -> number


def head_pod(rayservice: dict, namespace: str) -> Pod:
    """The head pod KubeRay creates from the rendered RayService."""
    cluster = f"{rayservice['metadata']['name']}-{RAYCLUSTER_SUFFIX}"
    template = rayservice["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]
    labels = {
        "ray.io/is-ray-node": "yes",
        "ray.io/identifier": f"{cluster}-head",
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator",
    }
    labels |= {
        k: v for k, v in template["metadata"].get("labels", {}).items() if k not in KUBERAY_OWNED_LABELS
    }
    labels |= {"ray.io/node-type": "head", "ray.io/group": "headgroup", "ray.io/cluster": cluster}
    container = template["spec"]["containers"][0]
    return Pod(
        namespace=namespace,
        name=f"{cluster}-head-q4m8z",
        container=container["name"],
        labels=labels,
        ports={p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p},
    )


def deployment_pod(deployment: dict, namespace: str) -> Pod:
    """A pod of a rendered Deployment (standalone mode's vLLM server), as the ReplicaSet names it."""
    template = deployment["spec"]["template"]
    (container,) = template["spec"]["containers"]
    return Pod(
        namespace=namespace,
        name=f"{deployment['metadata']['name']}-5d8f7c9b4-q4m8z",
        container=container["name"],
        labels=dict(template["metadata"]["labels"]),
        ports={p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p},
    )


def _label_name(key: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


def _snake(key: str) -> str:
    return re.sub(r"([A-Z])", r"_\1", key).lower()


def _selector_relabelings(selector: dict) -> list[dict]:
    """The keep rules prometheus-operator derives from a label selector."""
    rules = []
    for key, value in selector.get("matchLabels", {}).items():
        rules.append(
            {
                "action": "keep",
                "regex": f"({re.escape(value)});true",
                "source_labels": [
                    f"__meta_kubernetes_pod_label_{_label_name(key)}",
                    f"__meta_kubernetes_pod_labelpresent_{_label_name(key)}",
                ],
            }
        )
    for expr in selector.get("matchExpressions", []):
        if expr["operator"] not in {"In", "Exists"}:
            raise NotImplementedError(
                f"selector operator {expr['operator']} (only In and Exists are emulated)"
            )
        values = "|".join(re.escape(v) for v in expr.get("values", [])) or ".*"
        rules.append(
            {
                "action": "keep",
                "regex": f"({values});true",
                "source_labels": [
                    f"__meta_kubernetes_pod_label_{_label_name(expr['key'])}",
                    f"__meta_kubernetes_pod_labelpresent_{_label_name(expr['key'])}",
                ],
            }
        )
    return rules  # fmt: skip


def podmonitor_scrape_configs(
    podmonitor: dict, pod: Pod, local_ports: dict[int, int], interval: str
) -> list[dict]:
    """One scrape job per podMetricsEndpoint, as prometheus-operator generates it.

    `local_ports` maps the pod's container port numbers to where the local head exports them;
    `interval` replaces the monitor's scrape interval (only the timing of the test differs).
    """
    name, spec = podmonitor["metadata"]["name"], podmonitor["spec"]
    job = f"{pod.namespace}/{name}"
    meta = {
        "__meta_kubernetes_namespace": pod.namespace,
        "__meta_kubernetes_pod_name": pod.name,
        "__meta_kubernetes_pod_container_name": pod.container,
    } | {f"__meta_kubernetes_pod_label_{_label_name(k)}": v for k, v in pod.labels.items()} | {
        f"__meta_kubernetes_pod_labelpresent_{_label_name(k)}": "true" for k in pod.labels}  # fmt: skip
    configs = []
    for index, endpoint in enumerate(spec["podMetricsEndpoints"]):
        port = endpoint["port"]
        if port not in pod.ports:
            raise ValueError(
                f"PodMonitor scrapes port {port!r}, the pod's container declares {sorted(pod.ports)}"
            )
        container_port = pod.ports[port]
        if container_port not in local_ports:
            raise ValueError(
                f"port {port} ({container_port}) is not one Ray exports metrics on: {local_ports}"
            )
        relabelings = [
            *_selector_relabelings(spec["selector"]),
            {"action": "keep", "source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": port},
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            {"target_label": "job", "replacement": job},
            {"target_label": "endpoint", "replacement": port},
            *({_snake(k): v for k, v in r.items()} for r in endpoint.get("relabelings", [])),
        ]
        configs.append({
            "job_name": f"podMonitor/{pod.namespace}/{name}/{index}",
            "scrape_interval": interval,
            "metrics_path": endpoint.get("path", "/metrics"),
            "static_configs": [{
                "targets": [f"{HOST}:{local_ports[container_port]}"],
                "labels": meta | {"__meta_kubernetes_pod_container_port_name": port},
            }],
            "relabel_configs": relabelings,
            "metric_relabel_configs": [
                {_snake(k): v for k, v in r.items()} for r in endpoint.get("metricRelabelings", [])
            ],
        })  # fmt: skip
    return configs


class Prometheus:
    """`prometheus` on 127.0.0.1 with a temporary config and storage; stopped by `stop()`."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.url = f"http://{HOST}:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self, scrape_configs: list[dict], rule_groups: list[dict] | None = None) -> None:
        """Scrape, and evaluate `rule_groups` (a PrometheusRule's `spec.groups`), every second."""
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("the `prometheus` binary is missing: apt-get install prometheus")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        settings: dict = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}}
        if rule_groups:
            rules = self.workdir / "rules.yml"
            rules.write_text(yaml.safe_dump({"groups": rule_groups}))
            settings["rule_files"] = [str(rules)]
        config.write_text(yaml.safe_dump({**settings, "scrape_configs": scrape_configs}))
        cmd = [
            binary, f"--config.file={config}", f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={HOST}:{self.port}", "--log.level=warn",
        ]  # fmt: skip
        with (self.workdir / "prometheus.log").open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self._ready, 60, "Prometheus")

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(
                f"prometheus exited with {self.proc.returncode}; see {self.workdir / 'prometheus.log'}"
            )
        return "Ready" in http_text(f"{self.url}/-/ready")

    def api(self, path: str, **params) -> object:
        query = urllib.parse.urlencode(params, doseq=True)
        body = http_json("GET", f"{self.url}/api/v1/{path}?{query}", timeout=30)
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus /api/v1/{path} failed: {json.dumps(body)}")
        return body["data"]

    def query(self, expr: str, at: float) -> list[dict]:
        """An instant query at `at`: the result vector."""
        return self.api("query", query=expr, time=at)["result"]

    def series(self, match: str, start: float, end: float) -> list[dict]:
        return self.api("series", **{"match[]": match, "start": start, "end": end})

    def label_values(self, label: str, match: str, start: float, end: float) -> list[str]:
        return self.api(f"label/{label}/values", **{"match[]": match, "start": start, "end": end})

    def alerts(self) -> list[dict]:
        """Alerts pending or firing now (each with `labels`, `state`, `activeAt`)."""
        return self.api("alerts")["alerts"]

    def targets(self) -> list[dict]:
        return self.api("targets")["activeTargets"]

    def wait_for_scrape_after(self, moment: float, timeout_s: float = 30) -> None:
        """Until every target has been scraped (successfully) after `moment`."""

        def scraped() -> bool:
            targets = self.targets()
            return bool(targets) and all(
                t["health"] == "up" and datetime.fromisoformat(t["lastScrape"]).timestamp() > moment
                for t in targets
            )

        wait_until(scraped, timeout_s, "a Prometheus scrape of every target")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@contextlib.contextmanager
def running_prometheus(
    port: int, workdir: Path, scrape_configs: list[dict], rule_groups: list[dict] | None = None
) -> Iterator[Prometheus]:
    prometheus = Prometheus(port, workdir)
    try:
        prometheus.start(scrape_configs, rule_groups)
        yield prometheus
    finally:
        prometheus.stop()
