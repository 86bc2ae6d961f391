"""templates/metrics-service.yaml: a headless Service over every Ray pod, for the ServiceMonitor."""

from devkit.helm import render_chart
from devkit.presets import VALUES_DIR

ENABLED = {"monitoring.serviceMonitor.enabled": True}


class TestMetricsService:
    def test_should_be_headless_over_the_release_pods_when_the_service_monitor_is_enabled(self):
        service = render_chart(set_values=ENABLED).get("Service")
        assert service["metadata"]["name"] == "llm-ray-vllm-metrics"
        assert service["spec"]["clusterIP"] == "None"
        assert service["spec"]["selector"] == {
            "app.kubernetes.io/name": "ray-vllm",
            "app.kubernetes.io/instance": "llm",
        }

    def test_should_select_the_labels_the_head_and_worker_pods_carry_when_rendered(self):
        rendered = render_chart(
            values_files=(VALUES_DIR / "g6e-multi-model.yaml",),
            set_values=ENABLED | {"monitoring.podMonitor.enabled": False},
        )
        selector = rendered.get("Service")["spec"]["selector"]
        cluster = rendered.get("RayService")["spec"]["rayClusterConfig"]
        templates = [cluster["headGroupSpec"]["template"]] + [
            g["template"] for g in cluster["workerGroupSpecs"]
        ]
        assert len(templates) > 1
        for template in templates:
            assert selector.items() <= template["metadata"]["labels"].items()

    def test_should_target_the_named_metrics_ports_when_enabled(self):
        ports = render_chart(set_values=ENABLED).get("Service")["spec"]["ports"]
        assert ports == [
            {"name": "as-metrics", "port": 44217, "targetPort": "as-metrics"},
            {"name": "dash-metrics", "port": 44227, "targetPort": "dash-metrics"},
            {"name": "metrics", "port": 8080, "targetPort": "metrics"},
        ]

    def test_should_not_render_when_the_service_monitor_is_disabled(self):
        assert render_chart().of_kind("Service") == []
