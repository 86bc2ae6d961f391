"""templates/podmonitor.yaml: Prometheus scrapes the metrics port of every Ray pod."""

from tests.helm import render_chart

ENABLED = {"monitoring.podMonitor.enabled": True}


class TestPodMonitor:
    def test_should_scrape_the_metrics_port_of_head_and_workers_when_enabled(self):
        spec = render_chart(set_values=ENABLED).get("PodMonitor")["spec"]
        assert spec["selector"] == {
            "matchLabels": {"app.kubernetes.io/name": "ray-vllm", "app.kubernetes.io/instance": "llm"},
            "matchExpressions": [
                {"key": "app.kubernetes.io/component", "operator": "In", "values": ["ray-head", "ray-worker"]}
            ],
        }
        assert spec["namespaceSelector"] == {"matchNames": ["default"]}
        (endpoint,) = spec["podMetricsEndpoints"]
        assert (endpoint["port"], endpoint["interval"]) == ("metrics", "15s")

    def test_should_carry_the_ray_cluster_label_the_alerts_group_by_when_enabled(self):
        (endpoint,) = render_chart(set_values=ENABLED).get("PodMonitor")["spec"]["podMetricsEndpoints"]
        assert {r["targetLabel"] for r in endpoint["relabelings"]} == {"ray_io_cluster", "ray_io_node_type"}

    def test_should_carry_the_prometheus_release_label_when_one_is_configured(self):
        labels = render_chart(set_values=ENABLED | {"monitoring.podMonitor.labels": {"release": "prom"}}).get(
            "PodMonitor"
        )["metadata"]["labels"]
        assert labels["release"] == "prom"
        assert labels["app.kubernetes.io/instance"] == "llm"

    def test_should_not_render_when_disabled(self):
        assert render_chart().of_kind("PodMonitor") == []
