"""templates/standalone-scaledobject.yaml: KEDA scales a model on vLLM's running + waiting requests."""

from devkit.helm import render_chart
from devkit.presets import VALUES_DIR

STANDALONE = (VALUES_DIR / "standalone-g6e.yaml",)
SELECTOR = '{namespace="default", ray_io_cluster="llm-ray-vllm", model_name="llama-3.1-8b"}'


class TestScaledObject:
    def test_should_scale_the_deployment_within_the_models_replicas_when_standalone(self):
        spec = render_chart(STANDALONE).get("ScaledObject")["spec"]
        assert spec["scaleTargetRef"] == {"name": "llm-ray-vllm-vllm-llama-3-1-8b"}
        assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (1, 6)
        assert (spec["pollingInterval"], spec["cooldownPeriod"]) == (15, 600)

    def test_should_hold_load_for_the_models_delays_when_scaling(self):
        behavior = render_chart(STANDALONE).get("ScaledObject")["spec"]["advanced"][
            "horizontalPodAutoscalerConfig"
        ]
        assert behavior == {
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 30},
                "scaleDown": {"stabilizationWindowSeconds": 600},
            }
        }

    def test_should_query_ongoing_requests_per_pod_against_the_target_when_standalone(self):
        (trigger,) = render_chart(STANDALONE).get("ScaledObject")["spec"]["triggers"]
        assert trigger == {
            "type": "prometheus",
            "metadata": {
                "serverAddress": "http://kube-prometheus-stack-prometheus.monitoring:9090",
                "query": f"sum(ray_vllm_num_requests_running{SELECTOR})"
                f" + sum(ray_vllm_num_requests_waiting{SELECTOR})",
                "threshold": "32",
            },
        }

    def test_should_not_render_when_the_model_does_not_autoscale(self):
        rendered = render_chart(STANDALONE, {"models[0].deployment.autoscaling.enabled": False})
        assert rendered.of_kind("ScaledObject") == []

    def test_should_not_render_when_the_hpa_scales(self):
        assert render_chart(STANDALONE, {"standalone.autoscaling.type": "hpa"}).of_kind("ScaledObject") == []
