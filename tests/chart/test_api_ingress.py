"""templates/api-ingress.yaml: the optional Ingress to the OpenAI endpoint (Serve, port 8000)."""

from devkit.helm import render_chart
from devkit.presets import VALUES_DIR


class TestApiIngress:
    def test_should_route_to_the_serve_service_when_enabled(self):
        ingress = render_chart(
            set_values={"ingress.api.enabled": True, "ingress.api.host": "llm.example.com"}
        ).get("Ingress", "llm-ray-vllm-api")
        assert ingress["spec"]["rules"] == [
            {
                "host": "llm.example.com",
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {
                                "service": {"name": "llm-ray-vllm-serve-svc", "port": {"number": 8000}}
                            },
                        }
                    ]
                },
            }
        ]
        assert "annotations" not in ingress["metadata"]

    def test_should_carry_tls_and_streaming_timeouts_when_the_g6e_preset_is_used(self):
        ingress = render_chart((VALUES_DIR / "g6e-multi-model.yaml",)).get("Ingress", "llm-ray-vllm-api")
        assert ingress["spec"]["tls"] == [{"hosts": ["llm.example.com"], "secretName": "llm-example-com-tls"}]
        assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "600"
        assert ingress["metadata"]["labels"]["app.kubernetes.io/component"] == "api"

    def test_should_route_to_the_models_vllm_service_when_standalone(self):
        ingress = render_chart((VALUES_DIR / "standalone-g6e.yaml",)).get("Ingress", "llm-ray-vllm-api")
        (path,) = ingress["spec"]["rules"][0]["http"]["paths"]
        assert path["backend"] == {
            "service": {"name": "llm-ray-vllm-vllm-llama-3-1-8b", "port": {"number": 8000}}
        }

    def test_should_not_render_when_disabled(self):
        names = [i["metadata"]["name"] for i in render_chart().of_kind("Ingress")]
        assert "llm-ray-vllm-api" not in names
