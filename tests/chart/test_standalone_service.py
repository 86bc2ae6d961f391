"""templates/standalone-service.yaml: each model's vLLM server gets a Service of its own."""

from devkit.helm import render_chart
from devkit.presets import PRESETS, VALUES_DIR

STANDALONE = (VALUES_DIR / "standalone-g6e.yaml",)


class TestStandaloneService:
    def test_should_select_the_models_pods_on_vllms_port_when_standalone(self):
        service = render_chart(STANDALONE).get("Service")
        assert service["metadata"]["name"] == "llm-ray-vllm-vllm-llama-3-1-8b"
        assert service["spec"] == {
            "selector": {
                "app.kubernetes.io/name": "ray-vllm",
                "app.kubernetes.io/instance": "llm",
                "app.kubernetes.io/component": "vllm-server",
                "ray-vllm/model": "llama-3-1-8b",
            },
            "ports": [{"name": "http", "port": 8000, "targetPort": "http"}],
        }

    def test_should_take_the_port_from_values_when_set(self):
        service = render_chart(STANDALONE, {"standalone.port": 9000}).get("Service")
        assert service["spec"]["ports"] == [{"name": "http", "port": 9000, "targetPort": "http"}]

    def test_should_render_one_service_per_model_when_several_models_are_set(self):
        two = [
            {"name": "a", "source": "./m", "accelerator": "cpu"},
            {"name": "b", "source": "./m", "accelerator": "cpu"},
        ]
        services = render_chart(PRESETS["local-cpu-standalone"], {"models": two}).of_kind("Service")
        assert [s["metadata"]["name"] for s in services] == ["llm-ray-vllm-vllm-a", "llm-ray-vllm-vllm-b"]

    def test_should_not_render_when_rayservice(self):
        assert render_chart().of_kind("Service") == []
