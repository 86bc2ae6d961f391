"""Parsers for the three places autoscaling state shows up; pure functions over decoded documents.

- Ray Serve's status API (`GET /api/serve/applications/` on the dashboard, a `ServeInstanceDetails`
  document): each deployment's autoscaling config, target replica count and replicas with states.
- Ray's Prometheus metrics (text exposition of the head node's metrics port): the controller's
  target replicas, healthy replicas and the ongoing-request total its decisions are based on.
- A KubeRay `RayService` object (ray.io/v1, as KubeRay v1.7 writes its `status`): service health,
  the active RayCluster and its head service, per-application and per-deployment status.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

# Re-exported: the deployment a model runs in, as the app names it (loadtest/autoscale.py uses it).

RUNNING = "RUNNING"
STOPPING = "STOPPING"
RELEASE_LABEL = "app.kubernetes.io/instance"


def deployment_key(app: str, deployment: str) -> str:
    return f"{app}/{deployment}"


@dataclass(frozen=True)
class Autoscaling:
    min_replicas: int
    max_replicas: int
    target_ongoing_requests: float
    upscale_delay_s: float
    downscale_delay_s: float
    look_back_period_s: float
    metrics_interval_s: float

    @classmethod
    def from_config(cls, config: dict) -> Autoscaling:
        """From a DeploymentSchema `autoscaling_config` as Serve reports it (all defaults filled in)."""
        return cls(
            min_replicas=int(config["min_replicas"]),
            max_replicas=int(config["max_replicas"]),
            target_ongoing_requests=float(config["target_ongoing_requests"]),
            upscale_delay_s=float(config["upscale_delay_s"]),
            downscale_delay_s=float(config["downscale_delay_s"]),
            look_back_period_s=float(config["look_back_period_s"]),
            metrics_interval_s=float(config["metrics_interval_s"]),
        )

    @property
    def scales(self) -> bool:
        return self.max_replicas > self.min_replicas


@dataclass(frozen=True)
class Replica:
    replica_id: str
    state: str
    start_time_s: float


@dataclass(frozen=True)
class Deployment:
    app: str
    name: str
    status: str
    target_replicas: int
    replicas: tuple[Replica, ...]
    autoscaling: Autoscaling | None
    graceful_shutdown_timeout_s: float

    @property
    def key(self) -> str:
        return deployment_key(self.app, self.name)

    def count(self, state: str) -> int:
        return sum(r.state == state for r in self.replicas)

    @property
    def running(self) -> int:
        return self.count(RUNNING)

    @property
    def starting(self) -> int:
        """Replicas on their way up (STARTING, UPDATING, RECOVERING, PENDING_MIGRATION)."""
        return len(self.replicas) - self.running - self.count(STOPPING)


def parse_serve_applications(doc: dict) -> dict[str, Deployment]:
    """Deployments of every application in a `ServeInstanceDetails` document, by "app/deployment"."""
    deployments = {}
    for app_name, app in (doc.get("applications") or {}).items():
        for dep in (app.get("deployments") or {}).values():
            config = dep.get("deployment_config") or {}
            autoscaling = config.get("autoscaling_config")
            deployment = Deployment(
                app=app_name,
                name=dep["name"],
                status=dep["status"],
                target_replicas=int(dep["target_num_replicas"]),
                replicas=tuple(
                    Replica(r["replica_id"], r["state"], float(r["start_time_s"]))
                    for r in dep.get("replicas", [])
                ),
                autoscaling=Autoscaling.from_config(autoscaling) if autoscaling else None,
                graceful_shutdown_timeout_s=float(config.get("graceful_shutdown_timeout_s", 0.0)),
            )
            deployments[deployment.key] = deployment
    return deployments


def application_statuses(doc: dict) -> dict[str, str]:
    return {name: app["status"] for name, app in (doc.get("applications") or {}).items()}


@dataclass(frozen=True)
class ServeMetrics:
    """Per-deployment values from one Prometheus scrape (absent when the controller has not reported)."""

    target_replicas: dict[str, float] = field(default_factory=dict)
    healthy_replicas: dict[str, float] = field(default_factory=dict)
    autoscaler_requests: dict[str, float] = field(default_factory=dict)


# Metric family → ServeMetrics field; series are summed per deployment (healthy has one per replica).
_METRICS = {
    "ray_serve_autoscaling_target_replicas": "target_replicas",
    "ray_serve_deployment_replica_healthy": "healthy_replicas",
    "ray_serve_autoscaling_total_requests": "autoscaler_requests",
}


def parse_serve_metrics(text: str) -> ServeMetrics:
    values: dict[str, dict[str, float]] = {name: {} for name in _METRICS.values()}
    for family in text_string_to_metric_families(text):
        if (into := values.get(_METRICS.get(family.name, ""))) is None:
            continue
        for sample in family.samples:
            key = deployment_key(sample.labels.get("application", ""), sample.labels.get("deployment", ""))
            into[key] = into.get(key, 0.0) + sample.value
    return ServeMetrics(**values)


@dataclass(frozen=True)
class RayServiceStatus:
    name: str
    ready: bool
    upgrade_in_progress: bool
    cluster_name: str
    head_service: str
    applications: dict[str, str]
    deployments: dict[str, str]  # "app/deployment" → Serve deployment status (HEALTHY, UPSCALING, ...)
    num_serve_endpoints: int


def _condition(status: dict, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in status.get("conditions") or [])


def parse_rayservice(obj: dict) -> RayServiceStatus:
    """The parts of a RayService's status the checker needs, from the active cluster's view."""
    status = obj.get("status") or {}
    active = status.get("activeServiceStatus") or {}
    cluster = active.get("rayClusterStatus") or {}
    applications: dict[str, str] = {}
    deployments: dict[str, str] = {}
    for app_name, app in (active.get("applicationStatuses") or {}).items():
        applications[app_name] = app.get("status", "")
        for dep_name, dep in (app.get("serveDeploymentStatuses") or {}).items():
            deployments[deployment_key(app_name, dep_name)] = dep.get("status", "")
    return RayServiceStatus(
        name=obj["metadata"]["name"],
        ready=_condition(status, "Ready"),
        upgrade_in_progress=_condition(status, "UpgradeInProgress"),
        cluster_name=active.get("rayClusterName", ""),
        head_service=(cluster.get("head") or {}).get("serviceName", ""),
        applications=applications,
        deployments=deployments,
        num_serve_endpoints=int(status.get("numServeEndpoints") or 0),
    )


def select_rayservice(items: list[dict], release: str) -> dict:
    """The one RayService of a Helm release: labelled with it, else named after it."""
    labelled = [i for i in items if (i["metadata"].get("labels") or {}).get(RELEASE_LABEL) == release]
    candidates = labelled or [i for i in items if i["metadata"]["name"] == release]
    if len(candidates) != 1:
        names = sorted(i["metadata"]["name"] for i in items)
        raise LookupError(
            f"expected one RayService of release {release!r}, found {len(candidates)} among {names}"
        )
    return candidates[0]
