"""templates/NOTES.txt: how to reach the endpoint and the dashboard after an install."""

from devkit.helm import render_chart
from devkit.presets import VALUES_DIR


class TestNotes:
    def test_should_explain_port_forwards_and_the_token_secret_when_nothing_is_exposed(self):
        notes = render_chart(namespace="llm").notes
        assert "kubectl -n llm port-forward svc/llm-ray-vllm-serve-svc 8000:8000" in notes
        assert "kubectl -n llm port-forward svc/llm-ray-vllm-head-svc 8265:8265" in notes
        assert "Ray token auth is on" in notes
        assert "models: llama-3-8b" in notes

    def test_should_give_the_ingress_urls_when_both_ingresses_are_enabled(self):
        notes = render_chart((VALUES_DIR / "g6e-multi-model.yaml",)).notes
        assert "https://llm.example.com/v1" in notes
        assert "https://ray.llm.example.com/" in notes
        assert "helm test llm -n default" in notes

    def test_should_give_each_models_endpoint_and_no_ray_when_standalone(self):
        notes = render_chart(
            (VALUES_DIR / "local-cpu.yaml", VALUES_DIR / "local-cpu-standalone.yaml"), namespace="llm"
        ).notes
        assert "tiny: kubectl -n llm port-forward svc/llm-ray-vllm-vllm-tiny 8000:8000" in notes
        assert "Ray" not in notes.replace("ray-vllm", "")
