"""templates/standalone-pdb.yaml: each model's vLLM pods lose at most maxUnavailable to evictions."""

from devkit.helm import render_chart
from devkit.presets import VALUES_DIR

STANDALONE = (VALUES_DIR / "standalone-g6e.yaml",)


class TestStandalonePodDisruptionBudget:
    def test_should_limit_evictions_of_the_models_pods_when_standalone(self):
        rendered = render_chart(STANDALONE, {"podDisruptionBudget.maxUnavailable": 2})
        pdb = rendered.get("PodDisruptionBudget")
        assert pdb["metadata"]["name"] == "llm-ray-vllm-vllm-llama-3-1-8b"
        assert pdb["spec"] == {
            "maxUnavailable": 2,
            "selector": rendered.get("Deployment")["spec"]["selector"],
        }

    def test_should_not_render_when_disabled(self):
        rendered = render_chart(STANDALONE, {"podDisruptionBudget.enabled": False})
        assert rendered.of_kind("PodDisruptionBudget") == []
