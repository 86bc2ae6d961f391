"""templates/standalone-hpa.yaml: without KEDA, an HPA scales a model on a per-pod ongoing-requests metric."""

from devkit.helm import render_chart
from devkit.presets import VALUES_DIR

STANDALONE = (VALUES_DIR / "standalone-g6e.yaml",)
HPA = {"standalone.autoscaling.type": "hpa"}


class TestHorizontalPodAutoscaler:
    def test_should_scale_the_deployment_on_ongoing_requests_per_pod_when_hpa_is_chosen(self):
        spec = render_chart(STANDALONE, HPA).get("HorizontalPodAutoscaler")["spec"]
        assert spec == {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "llm-ray-vllm-vllm-llama-3-1-8b",
            },
            "minReplicas": 1,
            "maxReplicas": 6,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": "vllm_num_requests_ongoing"},
                        "target": {"type": "AverageValue", "averageValue": "32"},
                    },
                }
            ],
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 30},
                "scaleDown": {"stabilizationWindowSeconds": 600},
            },
        }

    def test_should_not_render_when_keda_scales(self):
        assert render_chart(STANDALONE).of_kind("HorizontalPodAutoscaler") == []

    def test_should_not_render_when_the_model_does_not_autoscale(self):
        rendered = render_chart(STANDALONE, HPA | {"models[0].deployment.autoscaling.enabled": False})
        assert rendered.of_kind("HorizontalPodAutoscaler") == []
