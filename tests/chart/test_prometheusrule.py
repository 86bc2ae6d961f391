"""templates/prometheusrule.yaml: alert groups loaded from chart/files/alerts with thresholds from values."""

import re

from devkit.helm import CHART_DIR, REPO, render_chart

ENABLED = {"monitoring.prometheusRule.enabled": True}


def _rules(set_values=None) -> dict:
    groups = render_chart(set_values=ENABLED | (set_values or {})).get("PrometheusRule")["spec"]["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


class TestPrometheusRule:
    def test_should_load_every_group_of_every_alert_file_in_the_chart_when_enabled(self):
        files = sorted((CHART_DIR / "files" / "alerts").glob("*.yaml"))
        expected = [
            name for path in files for name in re.findall(r"^  - name: (\S+)$", path.read_text(), re.M)
        ]
        groups = render_chart(set_values=ENABLED).get("PrometheusRule")["spec"]["groups"]
        assert expected
        assert [group["name"] for group in groups] == expected
        assert all(group["rules"] for group in groups)

    def test_should_alert_on_queue_depth_errors_p99_latency_and_restarts_with_thresholds_from_values(self):
        thresholds = {
            "queueDepthThreshold": 4321,
            "errorRatioThreshold": 0.0777,
            "p99LatencySecondsThreshold": 33.5,
            "restartThreshold": 17,
        }
        expressions = [
            rule["expr"]
            for rule in _rules(
                {f"monitoring.prometheusRule.{key}": value for key, value in thresholds.items()}
            ).values()
        ]
        for key, value in thresholds.items():
            assert [e for e in expressions if f"> {value}" in e], f"no alert compares against {key}"

    def test_should_window_the_stall_alert_by_the_value_when_rendered(self):
        rule = _rules({"monitoring.prometheusRule.stallWindow": "45s"})["VLLMEngineStalled"]
        assert rule["expr"].count("[45s]") == 2
        assert "for 45s." in rule["annotations"]["description"]

    def test_should_link_every_alert_to_its_runbook_when_rendered(self):
        for name, rule in _rules(
            {"monitoring.prometheusRule.runbookBaseUrl": "https://runbooks.example"}
        ).items():
            assert rule["annotations"]["runbook_url"].startswith("https://runbooks.example#"), name

    def test_should_link_by_default_to_a_runbook_heading_in_the_repository_when_rendered(self):
        docs = REPO / "docs"
        for name, rule in _rules().items():
            page, anchor = rule["annotations"]["runbook_url"].rsplit("/docs/", 1)[1].split("#")
            headings = re.findall(r"^### (\S+)$", (docs / page).read_text(), flags=re.MULTILINE)
            assert anchor in [h.lower() for h in headings], name

    def test_should_not_render_when_disabled(self):
        assert render_chart().of_kind("PrometheusRule") == []
