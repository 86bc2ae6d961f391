"""templates/servicemonitor.yaml: Prometheus scrapes the head Service instead of the pods."""

from tests.helm import render_chart

ENABLED = {"monitoring.serviceMonitor.enabled": True}


class TestServiceMonitor:
    def test_should_select_the_head_service_metrics_port_when_enabled(self):
        spec = render_chart(set_values=ENABLED).get("ServiceMonitor")["spec"]
        assert spec["selector"] == {
            "matchLabels": {
                "app.kubernetes.io/name": "ray-vllm",
                "app.kubernetes.io/instance": "llm",
                "app.kubernetes.io/component": "ray-head",
            }
        }
        assert spec["endpoints"] == [{"port": "metrics", "interval": "15s"}]

    def test_should_match_the_labels_the_rayservice_puts_on_its_head_service(self):
        rendered = render_chart(set_values=ENABLED)
        head_labels = rendered.get("RayService")["spec"]["rayClusterConfig"]["headGroupSpec"]["headService"][
            "metadata"
        ]["labels"]
        selector = rendered.get("ServiceMonitor")["spec"]["selector"]["matchLabels"]
        assert selector.items() <= head_labels.items()

    def test_should_carry_the_prometheus_release_label_when_enabled(self):
        labels = render_chart(set_values=ENABLED).get("ServiceMonitor")["metadata"]["labels"]
        assert labels["release"] == "kube-prometheus-stack"

    def test_should_not_render_when_disabled(self):
        assert render_chart().of_kind("ServiceMonitor") == []
