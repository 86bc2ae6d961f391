"""templates/servicemonitor.yaml: Prometheus scrapes the chart's metrics Service instead of the pods."""

from devkit.helm import render_chart
from tests.chart.test_podmonitor import RAY_CLUSTER_LABELS

ENABLED = {"monitoring.serviceMonitor.enabled": True}


class TestServiceMonitor:
    def test_should_select_the_metrics_service_when_enabled(self):
        rendered = render_chart(set_values=ENABLED)
        selector = rendered.get("ServiceMonitor")["spec"]["selector"]
        assert selector == {
            "matchLabels": {
                "app.kubernetes.io/name": "ray-vllm",
                "app.kubernetes.io/instance": "llm",
                "app.kubernetes.io/component": "metrics",
            }
        }
        assert selector["matchLabels"].items() <= rendered.get("Service")["metadata"]["labels"].items()

    def test_should_scrape_every_metrics_port_with_the_ray_cluster_label_when_enabled(self):
        endpoints = render_chart(set_values=ENABLED).get("ServiceMonitor")["spec"]["endpoints"]
        assert endpoints == [
            {"port": port, "interval": "15s", "relabelings": RAY_CLUSTER_LABELS}
            for port in ("as-metrics", "dash-metrics", "metrics")
        ]

    def test_should_carry_the_prometheus_release_label_when_enabled(self):
        labels = render_chart(set_values=ENABLED).get("ServiceMonitor")["metadata"]["labels"]
        assert labels["release"] == "kube-prometheus-stack"

    def test_should_not_render_when_disabled(self):
        assert render_chart().of_kind("ServiceMonitor") == []
