"""templates/_helpers.tpl: names and labels every object shares."""

import pytest

from devkit.helm import render_chart
from devkit.presets import PRESETS

STANDARD_LABELS = {
    "app.kubernetes.io/name": "ray-vllm",
    "app.kubernetes.io/instance": "llm",
    "app.kubernetes.io/version": "2.60.0-vllm0.32.0",
    "app.kubernetes.io/managed-by": "Helm",
    "app.kubernetes.io/part-of": "ray-vllm",
    "helm.sh/chart": "ray-vllm-0.1.0",
}


class TestLabels:
    @pytest.mark.parametrize("preset", sorted(PRESETS))
    def test_should_put_the_standard_labels_on_every_object_when_a_preset_is_rendered(self, preset):
        for obj in render_chart(PRESETS[preset]).objects:
            assert STANDARD_LABELS.items() <= obj["metadata"]["labels"].items(), obj["metadata"]["name"]

    def test_should_add_common_labels_to_every_object_when_given(self):
        for obj in render_chart(set_values={"commonLabels": {"team": "llm"}}).objects:
            assert obj["metadata"]["labels"]["team"] == "llm"


class TestNames:
    @pytest.mark.parametrize("preset", sorted(PRESETS))
    def test_should_keep_every_name_within_63_characters_when_the_release_name_is_the_longest_allowed(
        self, preset
    ):
        release = "r" + "x" * 52
        for obj in render_chart(PRESETS[preset], release=release).objects:
            name = obj["metadata"]["name"]
            assert len(name) <= 63 and not name.endswith("-"), name

    def test_should_not_repeat_the_chart_name_when_the_release_already_contains_it(self):
        assert (
            render_chart(release="ray-vllm-prod").get("ServiceAccount")["metadata"]["name"] == "ray-vllm-prod"
        )

    def test_should_use_the_override_when_fullname_override_is_set(self):
        rendered = render_chart(set_values={"fullnameOverride": "llm-gateway"})
        assert rendered.get("RayService")["metadata"]["name"] == "llm-gateway"
        assert rendered.get("PodDisruptionBudget")["metadata"]["name"] == "llm-gateway-workers"

    def test_should_keep_suffixes_whole_when_the_full_name_is_truncated(self):
        rendered = render_chart(set_values={"fullnameOverride": "f" * 63})
        assert rendered.get("PodDisruptionBudget")["metadata"]["name"] == "f" * 55 + "-workers"
