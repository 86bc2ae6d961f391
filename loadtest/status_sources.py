"""Where the autoscaling checker reads Serve's state: a local Ray, or a RayService through Kubernetes.

Both give the same three things: Serve's status document (`/api/serve/applications/` of the Ray
dashboard), the head node's Prometheus metrics text, and (cluster only) the RayService status.
Ray token auth is answered with the `X-Ray-Authorization` header, which Ray accepts next to
`Authorization` so that it passes proxies (such as the Kubernetes API server) that own the latter.
"""

from __future__ import annotations

import json
import os
import urllib.request

from loadtest.serve_status import RayServiceStatus, parse_rayservice, select_rayservice

SERVE_STATUS_PATH = "api/serve/applications/"
REQUEST_TIMEOUT_S = 10.0


def ray_auth_headers(token: str) -> dict[str, str]:
    return {"X-Ray-Authorization": f"Bearer {token}"} if token else {}


def ray_token_from_env() -> str:
    """The token the way Ray's own clients find it: RAY_AUTH_TOKEN, else the file RAY_AUTH_TOKEN_PATH."""
    if token := os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return token
    path = os.environ.get("RAY_AUTH_TOKEN_PATH", "")
    return open(path, encoding="utf-8").read().strip() if path else ""


class LocalServe:
    """A Ray on this machine, e.g. `make serve`: dashboard and metrics over plain HTTP."""

    def __init__(self, dashboard_url: str, metrics_url: str = "", token: str = "") -> None:
        self.dashboard_url = dashboard_url.rstrip("/")
        self.metrics_url = metrics_url
        self.headers = ray_auth_headers(token)

    def _get(self, url: str, headers: dict[str, str]) -> bytes:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            return response.read()

    def serve_status(self) -> dict:
        return json.loads(self._get(f"{self.dashboard_url}/{SERVE_STATUS_PATH}", self.headers))

    def metrics_text(self) -> str | None:
        return self._get(self.metrics_url, {}).decode() if self.metrics_url else None

    def rayservice(self) -> RayServiceStatus | None:
        return None

    def describe(self) -> dict:
        return {"mode": "local", "dashboard": self.dashboard_url, "metrics": self.metrics_url}


class KubeRayServe:
    """A chart install: the RayService object, and the head's dashboard and metrics via API proxies.

    Needs `get`/`list` on rayservices.ray.io and pods, and `get` on services/proxy and pods/proxy.
    """

    def __init__(
        self,
        context: str | None,
        namespace: str,
        release: str,
        token: str = "",
        metrics_port: int = 8080,
        kubeconfig: str | None = None,
    ):
        from kubernetes import client, config  # only the cluster mode needs the kubernetes client

        self.api = config.new_client_from_config(config_file=kubeconfig, context=context)
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.namespace = namespace
        self.release = release
        self.headers = ray_auth_headers(token)
        self.metrics_port = metrics_port
        listed = self.custom.list_namespaced_custom_object("ray.io", "v1", namespace, "rayservices")
        self.name = select_rayservice(listed["items"], release)["metadata"]["name"]

    def rayservice(self) -> RayServiceStatus:
        obj = self.custom.get_namespaced_custom_object(
            "ray.io", "v1", self.namespace, "rayservices", self.name
        )
        return parse_rayservice(obj)

    def _proxy_get(self, target: str, path: str) -> bytes:
        """GET `path` of a service or pod ("services/<name>:<port>") through the API server's proxy.

        The generated `connect_get_*_proxy_with_path` methods percent-encode the slashes of `path`,
        so the proxied server would get `api%2Fserve%2F...`: the request is built here instead.
        """
        method, url, headers, _, _ = self.api.param_serialize(
            method="GET",
            resource_path=f"/api/v1/namespaces/{self.namespace}/{target}/proxy/{path}",
            header_params=dict(self.headers),
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(method, url, header_params=headers, _request_timeout=REQUEST_TIMEOUT_S)
        body = response.read()
        if response.status != 200:
            raise ConnectionError(f"GET {url}: HTTP {response.status}: {body[:300]!r}")
        return body

    def serve_status(self) -> dict:
        status = self.rayservice()
        if not status.head_service:
            raise LookupError(f"RayService {self.name} reports no active cluster head service yet")
        return json.loads(self._proxy_get(f"services/{status.head_service}:dashboard", SERVE_STATUS_PATH))

    def metrics_text(self) -> str | None:
        cluster = self.rayservice().cluster_name
        pods = self.core.list_namespaced_pod(
            self.namespace, label_selector=f"ray.io/cluster={cluster},ray.io/node-type=head"
        ).items
        if not pods:
            return None
        return self._proxy_get(f"pods/{pods[0].metadata.name}:{self.metrics_port}", "metrics").decode()

    def describe(self) -> dict:
        return {
            "mode": "cluster",
            "namespace": self.namespace,
            "release": self.release,
            "rayservice": self.name,
        }
