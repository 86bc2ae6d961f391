"""templates/nodepool-head.yaml: the optional on-demand CPU NodePool of the Ray head."""

from devkit.helm import render_chart
from devkit.presets import VALUES_DIR

TP70B = (VALUES_DIR / "llama-70b-tp.yaml",)


class TestHeadNodePool:
    def test_should_render_an_on_demand_cpu_pool_when_the_head_pool_is_enabled(self):
        pool = render_chart(TP70B).get("NodePool", "llm-ray-vllm-head")
        spec = pool["spec"]["template"]["spec"]
        assert {r["key"]: r["values"] for r in spec["requirements"]} == {
            "karpenter.k8s.aws/instance-family": ["m7i", "m6i"],
            "kubernetes.io/arch": ["amd64"],
            "kubernetes.io/os": ["linux"],
            "karpenter.sh/capacity-type": ["on-demand"],
        }
        assert "taints" not in spec
        assert pool["spec"]["limits"] == {"cpu": 32}
        assert pool["spec"]["disruption"]["consolidationPolicy"] == "WhenEmpty"

    def test_should_not_render_the_head_pool_when_it_is_disabled(self):
        names = [
            p["metadata"]["name"]
            for p in render_chart((VALUES_DIR / "g6e-multi-model.yaml",)).of_kind("NodePool")
        ]
        assert "llm-ray-vllm-head" not in names
