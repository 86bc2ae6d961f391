"""templates/networkpolicy.yaml: only Ray pods reach GCS, client and the other internal Ray ports."""

import pytest

from devkit.helm import render_chart
from devkit.presets import VALUES_DIR

RAY_PODS = {
    "matchLabels": {"app.kubernetes.io/name": "ray-vllm", "app.kubernetes.io/instance": "llm"},
    "matchExpressions": [
        {"key": "app.kubernetes.io/component", "operator": "In", "values": ["ray-head", "ray-worker"]}
    ],
}


def _policy(values_files=(), set_values=None) -> dict:
    return render_chart(values_files, set_values).get("NetworkPolicy")["spec"]


def _rule_for(spec: dict, port: int) -> dict:
    (rule,) = [r for r in spec["ingress"] if {"port": port, "protocol": "TCP"} in r.get("ports", [])]
    return rule


class TestNetworkPolicy:
    def test_should_select_the_ray_pods_and_restrict_ingress_when_rendered_with_defaults(self):
        spec = _policy()
        assert spec["podSelector"] == RAY_PODS
        assert spec["policyTypes"] == ["Ingress"]

    def test_should_open_every_ray_port_only_between_ray_pods_when_rendered(self):
        (rule,) = [r for r in _policy()["ingress"] if "ports" not in r]
        assert rule == {"from": [{"podSelector": RAY_PODS}]}

    def test_should_not_open_gcs_or_client_ports_to_anything_else_when_rendered(self):
        opened = {p["port"] for r in _policy()["ingress"] for p in r.get("ports", [])}
        assert opened == {8265, 8080, 44217, 44227, 8000}

    def test_should_let_only_the_kuberay_operator_reach_the_dashboard_when_rendered_with_defaults(self):
        assert _rule_for(_policy(), 8265)["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kuberay-operator"}}},
        ]

    def test_should_add_the_ingress_controller_to_dashboard_peers_when_the_g6e_preset_is_used(self):
        peers = _rule_for(_policy((VALUES_DIR / "g6e-multi-model.yaml",)), 8265)["from"]
        assert peers[1] == {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}
        }

    @pytest.mark.parametrize("port", [8080, 44217, 44227])
    def test_should_let_the_monitoring_namespace_scrape_metrics_when_rendered_with_defaults(self, port):
        assert _rule_for(_policy(), port)["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
        ]

    def test_should_open_serve_to_anyone_when_no_serve_peers_are_set(self):
        assert "from" not in _rule_for(_policy(), 8000)

    def test_should_open_serve_to_the_listed_peers_and_the_helm_test_when_peers_are_set(self):
        peers = _rule_for(_policy((VALUES_DIR / "rag.yaml",)), 8000)["from"]
        assert peers == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
            {
                "podSelector": {
                    "matchLabels": {
                        "app.kubernetes.io/name": "ray-vllm",
                        "app.kubernetes.io/instance": "llm",
                        "app.kubernetes.io/component": "helm-test",
                    }
                }
            },
        ]

    def test_should_not_render_when_disabled(self):
        assert render_chart(set_values={"networkPolicy.enabled": False}).of_kind("NetworkPolicy") == []


STANDALONE = (VALUES_DIR / "standalone-g6e.yaml",)


class TestStandaloneNetworkPolicy:
    def test_should_open_only_vllms_port_on_the_vllm_pods_when_standalone(self):
        spec = _policy(STANDALONE)
        assert spec == {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "ray-vllm",
                    "app.kubernetes.io/instance": "llm",
                    "app.kubernetes.io/component": "vllm-server",
                }
            },
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"port": 8000, "protocol": "TCP"}]}],
        }

    def test_should_add_the_scrapers_and_the_helm_test_to_the_listed_peers_when_standalone(self):
        nginx = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
        (rule,) = _policy(STANDALONE, {"networkPolicy.serveFrom": [nginx]})["ingress"]
        helm_test = {
            "app.kubernetes.io/name": "ray-vllm",
            "app.kubernetes.io/instance": "llm",
            "app.kubernetes.io/component": "helm-test",
        }
        assert rule["from"] == [
            nginx,
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
            {"podSelector": {"matchLabels": helm_test}},
        ]
