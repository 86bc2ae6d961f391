"""The head fault: the head container crashes and the kubelet starts it again.

`kill_head` SIGKILLs every process of the head node (GCS, raylet, dashboard, Serve controller, the
head's proxy); its undo starts the head again with the same command and environment and measures
what came back. With GCS fault tolerance (`gcsFaultTolerance`, a real Redis) the GCS recovers its
tables: the worker nodes reconnect (KubeRay gives them 600 s), the Serve controller is restarted and
finds its applications and replicas, and a config deployed afterwards is applied. Without it the new
GCS is a new cluster: the worker nodes end, and the applications come back only after what KubeRay
then does, which the undo does too: the worker pods' containers start again and the RayService's
config is submitted again.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from devkit.chaos.faults import Injected, wait_for
from devkit.local_ray import LocalRay

APP = "llm"
CONTROLLER_CLASS = "ServeController"
RUNNING_TIMEOUT_S = 600.0
WORKERS_END_TIMEOUT_S = 150.0  # Ray's reconnect window without fault tolerance is 60 s
# A change the gateway applies in place (`reconfigure`), proven by a request that uses it.
NEW_ALIAS = "chat-after-restart"


def controller_known(ray: LocalRay) -> bool:
    """Whether the GCS knows a Serve controller actor (alive or being restarted): only a GCS that
    recovered the old cluster's tables does, right after a restart."""
    actors = ray.api("GET", "/api/v0/actors?limit=1000")["data"]["result"]["result"]
    return any(a.get("class_name") == CONTROLLER_CLASS for a in actors)


def app_running(ray: LocalRay, app: str = APP) -> bool:
    try:
        return ray.applications().get(app, {}).get("status") == "RUNNING"
    except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
        return False


def answers(url: str, model: str) -> bool:
    """One short chat completion through the proxy at `url` succeeds."""
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    request = urllib.request.Request(
        f"{url}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def with_alias(body: dict, alias: str, model: str) -> dict:
    """The deploy body with one more gateway alias (a `user_config` change)."""
    changed = json.loads(json.dumps(body))
    for app in changed["applications"]:
        for deployment in app.get("deployments", []):
            if deployment["name"] == "OpenAiGateway":
                deployment["user_config"]["aliases"][alias] = model
    return changed


def apply_change(ray: LocalRay, proxy_url: str, model: str) -> bool:
    """Deploy a config change after the recovery; True once the gateway serves the new alias."""
    ray.deploy(with_alias(ray.deployed(), NEW_ALIAS, model))
    return wait_for(lambda: app_running(ray), RUNNING_TIMEOUT_S, 2) and wait_for(
        lambda: answers(proxy_url, NEW_ALIAS), 60, 2
    )


def kill_head(ray: LocalRay, model: str) -> Injected:
    """SIGKILL the head node's processes; the undo restarts it and fills `measured` (seconds from the
    kill): head_starts, gcs_back_s, serve_state_recovered, apps_running_s, and with fault tolerance
    config_change_applied, or without it workers_restarted (what KubeRay redid)."""
    workers = sorted(ray.worker_pids())
    proxy_url = ray.proxy_url(workers[0])
    pid = ray.running_pid()
    spec = ray.kill_head()
    killed_at = time.monotonic()
    measured: dict[str, object] = {}

    def since() -> float:
        return round(time.monotonic() - killed_at, 1)

    def restart() -> None:
        if measured:  # the harness runs the undo again in its `finally`
            return
        measured["restarted_after_s"] = since()
        try:
            recover()
        except (Exception, SystemExit) as err:
            measured["error"] = f"{type(err).__name__}: {err}"[:500]

    def recover() -> None:
        measured["head_starts"] = ray.restart_head(spec)
        measured["gcs_back_s"] = since()
        measured["serve_state_recovered"] = controller_known(ray)
        if not measured["serve_state_recovered"]:
            # A new cluster: the old worker nodes end (cluster id changed, or the 60 s window), the
            # kubelet starts their containers again, KubeRay submits the RayService's config again.
            wait_for(lambda: not ray.worker_pids(), WORKERS_END_TIMEOUT_S, 1)
            measured["workers_restarted"] = ray.restart_dead_workers()
            ray.deploy(ray.deployed())
        measured["apps_running_s"] = (
            since() if wait_for(lambda: app_running(ray), RUNNING_TIMEOUT_S, 2) else None
        )
        if measured["serve_state_recovered"]:
            measured["config_change_applied"] = apply_change(ray, proxy_url, model)

    return Injected("head node", [pid] if pid else [], [restart], measured=measured)


def head_fault(model: str) -> Callable[[LocalRay], Injected]:
    return lambda ray: kill_head(ray, model)
