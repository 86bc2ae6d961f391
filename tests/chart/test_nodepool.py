"""templates/nodepool.yaml: one Karpenter NodePool per GPU pool."""

import jmespath

from devkit.helm import render_chart
from devkit.presets import VALUES_DIR

G6E = (VALUES_DIR / "g6e-multi-model.yaml",)


def _pools(values_files=G6E, set_values=None) -> list[dict]:
    return [
        p
        for p in render_chart(values_files, set_values).of_kind("NodePool")
        if p["metadata"]["labels"]["app.kubernetes.io/component"] == "node-pool"
        and not p["metadata"]["name"].endswith("-head")
    ]


def _requirements(pool: dict) -> dict:
    return {r["key"]: r["values"] for r in pool["spec"]["template"]["spec"]["requirements"]}


class TestNodePool:
    def test_should_render_one_pool_per_gpu_pool_when_karpenter_is_enabled(self):
        assert [p["metadata"]["name"] for p in _pools()] == ["llm-ray-vllm-l40s-flex", "llm-ray-vllm-l40s-4x"]

    def test_should_render_no_pool_when_karpenter_is_disabled(self):
        assert render_chart().of_kind("NodePool") == []

    def test_should_require_instance_family_size_arch_and_capacity_types_when_rendered(self):
        flex, four = _pools()
        assert _requirements(flex) == {
            "karpenter.k8s.aws/instance-family": ["g6e"],
            "karpenter.k8s.aws/instance-size": ["2xlarge"],
            "kubernetes.io/arch": ["amd64"],
            "kubernetes.io/os": ["linux"],
            "karpenter.sh/capacity-type": ["spot", "on-demand"],
        }
        assert _requirements(four)["karpenter.sh/capacity-type"] == ["on-demand"]

    def test_should_taint_gpu_nodes_and_cap_their_gpus_when_rendered(self):
        flex, four = _pools()
        assert flex["spec"]["template"]["spec"]["taints"] == [
            {"key": "nvidia.com/gpu", "effect": "NoSchedule"}
        ]
        assert jmespath.search('[*].spec.limits."nvidia.com/gpu"', [flex, four]) == [10, 8]
        assert [flex["spec"]["weight"], four["spec"]["weight"]] == [50, 10]

    def test_should_keep_extra_taints_after_the_gpu_taint_when_a_pool_adds_one(self):
        taint = {"key": "team", "value": "llm", "effect": "NoSchedule"}
        flex, _ = _pools(set_values={"karpenter.nodePools[0].taints": [taint]})
        assert flex["spec"]["template"]["spec"]["taints"] == [
            {"key": "nvidia.com/gpu", "effect": "NoSchedule"},
            taint,
        ]

    def test_should_never_disrupt_busy_gpu_nodes_when_rendered_with_default_disruption(self):
        for pool in _pools():
            assert pool["spec"]["disruption"] == {
                "consolidationPolicy": "WhenEmpty",
                "consolidateAfter": "10m",
                "budgets": [
                    {"nodes": "0", "reasons": ["Drifted", "Underutilized"]},
                    {"nodes": "1", "reasons": ["Empty"]},
                ],
            }
            assert pool["spec"]["template"]["spec"]["expireAfter"] == "Never"

    def test_should_use_the_charts_ec2nodeclass_when_it_creates_one(self):
        for pool in _pools():
            assert pool["spec"]["template"]["spec"]["nodeClassRef"] == {
                "group": "karpenter.k8s.aws",
                "kind": "EC2NodeClass",
                "name": "llm-ray-vllm",
            }

    def test_should_use_an_existing_ec2nodeclass_when_named(self):
        pools = _pools(
            set_values={"karpenter.ec2NodeClass.create": False, "karpenter.ec2NodeClass.name": "gpu"}
        )
        assert {p["spec"]["template"]["spec"]["nodeClassRef"]["name"] for p in pools} == {"gpu"}

    def test_should_override_a_default_per_pool_when_the_pool_sets_it(self):
        pools = _pools((VALUES_DIR / "llama-70b-tp.yaml",))
        assert [p["spec"]["disruption"]["consolidateAfter"] for p in pools] == ["30m"]
