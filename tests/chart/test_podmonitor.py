"""templates/podmonitor.yaml: Prometheus scrapes every metrics port of every Ray pod."""

from devkit.helm import render_chart
from devkit.presets import VALUES_DIR

ENABLED = {"monitoring.podMonitor.enabled": True}
RAY_CLUSTER_LABELS = [
    {"sourceLabels": ["__meta_kubernetes_pod_label_ray_io_node_type"], "targetLabel": "ray_io_node_type"},
    {"sourceLabels": ["__meta_kubernetes_pod_label_ray_io_cluster"], "targetLabel": "ray_io_cluster"},
]


class TestPodMonitor:
    def test_should_select_the_head_and_worker_pods_of_the_release_when_enabled(self):
        spec = render_chart(set_values=ENABLED).get("PodMonitor")["spec"]
        assert spec["selector"] == {
            "matchLabels": {"app.kubernetes.io/name": "ray-vllm", "app.kubernetes.io/instance": "llm"},
            "matchExpressions": [
                {"key": "app.kubernetes.io/component", "operator": "In", "values": ["ray-head", "ray-worker"]}
            ],
        }
        assert spec["namespaceSelector"] == {"matchNames": ["default"]}

    def test_should_scrape_the_ray_autoscaler_and_dashboard_metrics_ports_when_enabled(self):
        endpoints = render_chart(set_values=ENABLED).get("PodMonitor")["spec"]["podMetricsEndpoints"]
        assert [(e["port"], e["interval"]) for e in endpoints] == [
            ("as-metrics", "15s"),
            ("dash-metrics", "15s"),
            ("metrics", "15s"),
        ]

    def test_should_carry_the_ray_cluster_label_the_alerts_group_by_when_enabled(self):
        endpoints = render_chart(set_values=ENABLED).get("PodMonitor")["spec"]["podMetricsEndpoints"]
        assert [e["relabelings"] for e in endpoints] == [RAY_CLUSTER_LABELS] * 3

    def test_should_carry_the_prometheus_release_label_when_one_is_configured(self):
        labels = render_chart(set_values=ENABLED | {"monitoring.podMonitor.labels": {"release": "prom"}}).get(
            "PodMonitor"
        )["metadata"]["labels"]
        assert labels["release"] == "prom"
        assert labels["app.kubernetes.io/instance"] == "llm"

    def test_should_not_render_when_disabled(self):
        assert render_chart().of_kind("PodMonitor") == []


class TestStandalonePodMonitor:
    def test_should_scrape_vllms_port_on_the_vllm_pods_when_standalone(self):
        spec = render_chart((VALUES_DIR / "standalone-g6e.yaml",)).get("PodMonitor")["spec"]
        assert spec["selector"] == {
            "matchLabels": {
                "app.kubernetes.io/name": "ray-vllm",
                "app.kubernetes.io/instance": "llm",
                "app.kubernetes.io/component": "vllm-server",
            }
        }
        assert spec["podMetricsEndpoints"] == [
            {
                "port": "http",
                "path": "/metrics",
                "interval": "15s",
                "relabelings": [{"targetLabel": "ray_io_cluster", "replacement": "llm-ray-vllm"}],
                "metricRelabelings": [
                    {
                        "sourceLabels": ["__name__"],
                        "regex": "vllm:(.+)",
                        "targetLabel": "__name__",
                        "replacement": "ray_vllm_${1}",
                    }
                ],
            }
        ]
