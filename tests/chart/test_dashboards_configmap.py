"""templates/dashboards-configmap.yaml: Grafana dashboards from chart/files/dashboards for the sidecar."""

import json

from devkit.helm import CHART_DIR, render_chart

ENABLED = {"monitoring.dashboards.enabled": True}


class TestDashboardsConfigMap:
    def test_should_carry_every_dashboard_file_byte_for_byte_when_enabled(self):
        data = render_chart(set_values=ENABLED).get("ConfigMap")["data"]
        files = {p.name: p.read_text() for p in (CHART_DIR / "files" / "dashboards").glob("*.json")}
        assert files
        assert data.keys() == files.keys()
        for name, text in files.items():
            assert json.loads(data[name]) == json.loads(text)

    def test_should_carry_the_sidecar_label_and_folder_from_values_when_set(self):
        metadata = render_chart(
            set_values=ENABLED
            | {
                "monitoring.dashboards.sidecarLabel": "grafana_dashboard_ray",
                "monitoring.dashboards.sidecarLabelValue": "yes",
                "monitoring.dashboards.folder": "LLM",
            }
        ).get("ConfigMap")["metadata"]
        assert metadata["name"] == "llm-ray-vllm-dashboards"
        assert metadata["labels"]["grafana_dashboard_ray"] == "yes"
        assert metadata["annotations"] == {"grafana_folder": "LLM"}

    def test_should_not_render_when_disabled(self):
        assert render_chart().of_kind("ConfigMap") == []
