"""templates/pdb.yaml: at most one GPU worker pod is evicted at a time."""

from devkit.helm import render_chart
from devkit.presets import VALUES_DIR


class TestPodDisruptionBudget:
    def test_should_limit_evictions_of_worker_pods_when_rendered_with_defaults(self):
        pdb = render_chart().get("PodDisruptionBudget")
        assert pdb["metadata"]["name"] == "llm-ray-vllm-workers"
        assert pdb["spec"] == {
            "maxUnavailable": 1,
            "selector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "ray-vllm",
                    "app.kubernetes.io/instance": "llm",
                    "app.kubernetes.io/component": "ray-worker",
                }
            },
        }

    def test_should_select_the_labels_the_worker_pods_carry_when_rendered(self):
        rendered = render_chart()
        selector = rendered.get("PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
        worker_labels = rendered.get("RayService")["spec"]["rayClusterConfig"]["workerGroupSpecs"][0][
            "template"
        ]["metadata"]["labels"]
        assert selector.items() <= worker_labels.items()

    def test_should_take_max_unavailable_from_values_when_set(self):
        pdb = render_chart(set_values={"podDisruptionBudget.maxUnavailable": 2}).get("PodDisruptionBudget")
        assert pdb["spec"]["maxUnavailable"] == 2

    def test_should_not_render_when_there_are_no_worker_groups(self):
        assert render_chart((VALUES_DIR / "local-cpu.yaml",)).of_kind("PodDisruptionBudget") == []

    def test_should_not_render_when_disabled(self):
        assert (
            render_chart(set_values={"podDisruptionBudget.enabled": False}).of_kind("PodDisruptionBudget")
            == []
        )
