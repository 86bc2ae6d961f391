"""The checker's two status sources over real HTTP.

No Kubernetes cluster runs here, so the cluster source talks to a small stand-in for the API server
(the real `kubernetes` client, a kubeconfig, real requests) that answers the few paths the source
uses with documents in KubeRay v1.7's and Ray's shapes, and records what it was asked.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from loadtest.status_sources import KubeRayServe, LocalServe, ray_token_from_env
from tests.loadtest.builders import DATA, rayservice, serve_doc, steady_status

NAMESPACE = "llm"
CLUSTER = "ray-vllm-x7k2p"
HEAD_POD = f"{CLUSTER}-head-7x2kq"
RAY_TOKEN = "ray-token-for-tests"
KUBE_TOKEN = "kube-token-for-tests"
CORE = f"/api/v1/namespaces/{NAMESPACE}"


class FakeApi(BaseHTTPRequestHandler):
    """Answers GETs from `routes` (path → (content type, body)); records (path, query, headers)."""

    routes: ClassVar[dict[str, tuple[str, bytes]]] = {}
    seen: ClassVar[list[tuple[str, dict, dict]]] = []

    def do_GET(self):
        url = urlparse(self.path)
        self.seen.append((url.path, parse_qs(url.query), {k.lower(): v for k, v in self.headers.items()}))
        content_type, body = self.routes.get(url.path, ("text/plain", b""))
        self.send_response(200 if url.path in self.routes else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


@pytest.fixture
def api(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    service = rayservice("ray-vllm", release="ray-vllm", status=steady_status(CLUSTER))
    other = rayservice("unrelated", release="unrelated")
    as_json = lambda doc: ("application/json", json.dumps(doc).encode())  # noqa: E731
    FakeApi.seen = []
    FakeApi.routes = {
        f"/apis/ray.io/v1/namespaces/{NAMESPACE}/rayservices": as_json(
            {"apiVersion": "ray.io/v1", "kind": "RayServiceList", "metadata": {}, "items": [other, service]}
        ),
        f"/apis/ray.io/v1/namespaces/{NAMESPACE}/rayservices/ray-vllm": as_json(service),
        f"{CORE}/services/{CLUSTER}-head-svc:dashboard/proxy/api/serve/applications/": as_json(
            serve_doc(target=2)
        ),
        f"/api/v1/namespaces/{NAMESPACE}/pods": as_json(
            {
                "apiVersion": "v1",
                "kind": "PodList",
                "metadata": {},
                "items": [{"metadata": {"name": HEAD_POD}}],
            }
        ),
        f"/api/v1/namespaces/{NAMESPACE}/pods/{HEAD_POD}:8080/proxy/metrics": (
            "text/plain",
            (DATA / "ray_metrics.txt").read_bytes(),
        ),
    }
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
        "users": [{"name": "me", "user": {"token": KUBE_TOKEN}}],
        "contexts": [
            {"name": "fake-eks", "context": {"cluster": "fake", "user": "me", "namespace": NAMESPACE}}
        ],
        "current-context": "fake-eks",
    }
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))
    server.kubeconfig = str(tmp_path / "kubeconfig")
    yield server
    server.shutdown()
    thread.join(timeout=10)


def kube_source(api, release: str, **kwargs) -> KubeRayServe:
    return KubeRayServe("fake-eks", NAMESPACE, release, kubeconfig=api.kubeconfig, **kwargs)


class TestKubeRayServe:
    def test_should_find_the_rayservice_of_the_release_when_several_exist(self, api):
        source = kube_source(api, "ray-vllm", token=RAY_TOKEN)
        assert source.name == "ray-vllm"
        assert source.rayservice().head_service == f"{CLUSTER}-head-svc"
        assert source.describe() == {
            "mode": "cluster",
            "namespace": NAMESPACE,
            "release": "ray-vllm",
            "rayservice": "ray-vllm",
        }

    def test_should_read_serve_status_through_the_head_service_proxy_when_asked(self, api):
        doc = kube_source(api, "ray-vllm", token=RAY_TOKEN).serve_status()
        assert doc["applications"]["llm"]["deployments"]["LLMServer:tiny"]["target_num_replicas"] == 2
        path, _, headers = FakeApi.seen[-1]
        assert path.endswith(f"/services/{CLUSTER}-head-svc:dashboard/proxy/api/serve/applications/")
        # Kubernetes keeps its Authorization header; Ray reads its token from the one proxies pass on.
        assert headers["authorization"] == f"Bearer {KUBE_TOKEN}"
        assert headers["x-ray-authorization"] == f"Bearer {RAY_TOKEN}"

    def test_should_scrape_the_head_pod_when_reading_metrics(self, api):
        text = kube_source(api, "ray-vllm").metrics_text()
        assert "ray_serve_autoscaling_target_replicas" in text
        pods = [query for path, query, _ in FakeApi.seen if path.endswith("/pods")]
        assert pods[-1]["labelSelector"] == [f"ray.io/cluster={CLUSTER},ray.io/node-type=head"]
        assert FakeApi.seen[-1][0].endswith(f"/pods/{HEAD_POD}:8080/proxy/metrics")

    def test_should_raise_when_no_rayservice_belongs_to_the_release(self, api):
        with pytest.raises(LookupError, match="found 0"):
            kube_source(api, "absent")


class TestLocalServe:
    def test_should_send_the_ray_token_and_read_both_endpoints_when_local(self, api):
        base = f"http://127.0.0.1:{api.server_port}/api/v1/namespaces/{NAMESPACE}"
        source = LocalServe(
            f"{base}/services/{CLUSTER}-head-svc:dashboard/proxy",
            f"{base}/pods/{HEAD_POD}:8080/proxy/metrics",
            token=RAY_TOKEN,
        )
        assert "llm" in source.serve_status()["applications"]
        assert FakeApi.seen[-1][2]["x-ray-authorization"] == f"Bearer {RAY_TOKEN}"
        assert "ray_serve_deployment_replica_healthy" in source.metrics_text()
        assert source.rayservice() is None


class TestRayTokenFromEnv:
    def test_should_prefer_the_variable_when_both_are_set(self, tmp_path, monkeypatch):
        (tmp_path / "token").write_text("from-file\n")
        monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "token"))
        monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
        assert ray_token_from_env() == "from-env"
        monkeypatch.delenv("RAY_AUTH_TOKEN")
        assert ray_token_from_env() == "from-file"

    def test_should_be_empty_when_nothing_is_set(self, monkeypatch):
        monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
        monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
        assert ray_token_from_env() == ""
