"""values/*.yaml: every preset renders and validates strictly on the oldest and newest tested Kubernetes."""

import pytest

from devkit.helm import HelmRenderError, render_chart, user_values
from devkit.presets import KUBE_VERSIONS, PRESETS, STANDALONE_PRESETS

MONITORING_CRDS = ("monitoring.coreos.com/v1", "karpenter.sh/v1", "karpenter.k8s.aws/v1", "ray.io/v1")


class TestPresets:
    @pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
    @pytest.mark.parametrize("preset", sorted(PRESETS))
    def test_should_render_and_validate_every_object_when_a_preset_is_installed(self, preset, kube_version):
        rendered = render_chart(PRESETS[preset], kube_version=kube_version, api_versions=MONITORING_CRDS)
        if preset in STANDALONE_PRESETS:
            assert rendered.of_kind("RayService") == []
            assert len(rendered.of_kind("Deployment")) == len(user_values(PRESETS[preset])["models"])
        else:
            assert rendered.get("RayService")["spec"]["serveConfigV2"] == rendered.serve_config_text
            assert rendered.serve_config["applications"][0]["name"] == "llm"

    def test_should_cover_the_presets_the_issue_names_when_listed(self):
        assert {
            "g6e-multi-model",
            "g5-single-model",
            "llama-70b-tp",
            "rag",
            "local-cpu",
            "local-cpu-autoscale",
            "standalone-g6e",
            "local-cpu-standalone",
        } <= PRESETS.keys()

    def test_should_refuse_kubernetes_older_than_1_30_when_rendered(self):
        with pytest.raises(HelmRenderError, match=r"incompatible with Kubernetes v1\.29\.0"):
            render_chart(kube_version="1.29")
