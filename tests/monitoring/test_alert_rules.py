"""chart/files/alerts, rendered by the chart's PrometheusRule: promtool-valid, unit-tested per alert,
and every metric and label they select present in the live run."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from devkit.helm import REPO
from devkit.monitoring.queries import Query, alert_queries, rule_groups, unknown_labels, unknown_metrics
from devkit.monitoring.stack import render_monitoring

UNIT_TESTS = REPO / "monitoring" / "rules-tests.yaml"
# The values monitoring/rules-tests.yaml expects the rules to be rendered with.
THRESHOLDS = {
    "queueDepthThreshold": 100,
    "errorRatioThreshold": 0.05,
    "p99LatencySecondsThreshold": 30,
    "restartThreshold": 3,
    "stallWindow": "5m",
    "runbookBaseUrl": "https://runbooks.example/monitoring.md",
}


def rendered_groups(thresholds: dict) -> list[dict]:
    rendered = render_monitoring({f"monitoring.prometheusRule.{k}": v for k, v in thresholds.items()})
    return rule_groups(rendered.get("PrometheusRule"))


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: apt-get install prometheus"
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def write_rules(directory: Path, groups: list[dict]) -> Path:
    """The rendered groups as the rule file the unit tests load, with a copy of the unit tests."""
    directory.mkdir(parents=True, exist_ok=True)
    (rules_file,) = yaml.safe_load(UNIT_TESTS.read_text())["rule_files"]
    (directory / rules_file).write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    shutil.copy(UNIT_TESTS, directory / UNIT_TESTS.name)
    return directory / rules_file


@pytest.fixture(scope="module")
def groups() -> list[dict]:
    return rendered_groups(THRESHOLDS)


@pytest.fixture(scope="module")
def alerts(groups) -> dict[str, dict]:
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


class TestAlertRulesWithPromtool:
    def test_should_pass_promtool_check_rules_when_rendered(self, tmp_path, groups):
        rules = write_rules(tmp_path, groups)
        result = promtool("check", "rules", rules.name, cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"SUCCESS: {sum(len(g['rules']) for g in groups)} rules found" in result.stdout

    def test_should_pass_every_unit_test_when_rendered_with_the_tested_thresholds(self, tmp_path, groups):
        write_rules(tmp_path, groups)
        result = promtool("test", "rules", UNIT_TESTS.name, cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_should_fail_the_unit_tests_when_thresholds_are_out_of_reach(self, tmp_path):
        # The firing cases really depend on the thresholds from values, not on something else.
        unreachable = {**THRESHOLDS, "queueDepthThreshold": 10**6, "errorRatioThreshold": 1,
                       "p99LatencySecondsThreshold": 10**6, "restartThreshold": 10**6,
                       "stallWindow": "1h"}  # fmt: skip
        write_rules(tmp_path, rendered_groups(unreachable))
        result = promtool("test", "rules", UNIT_TESTS.name, cwd=tmp_path)
        assert result.returncode != 0
        for alert in ["RayServeQueueDepthHigh", "RayServeHighErrorRatio", "RayServeHighP99Latency",
                      "RayServeReplicaRestarts", "VLLMEngineStalled", "VLLMServerStalled"]:  # fmt: skip
            assert f"alertname: {alert}," in result.stdout + result.stderr

    def test_should_unit_test_every_alert_firing_and_silent_when_rendered(self, alerts):
        cases = [
            case
            for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"]
            for case in test["alert_rule_test"]
        ]
        firing = {c["alertname"] for c in cases if c["exp_alerts"]}
        silent = {c["alertname"] for c in cases if not c["exp_alerts"]}
        assert firing == set(alerts) == silent


class TestAlertRuleShape:
    def test_should_give_every_alert_a_duration_severity_summary_and_runbook_when_rendered(self, alerts):
        for name, rule in alerts.items():
            # The duration is `for:`, or a whole window the condition must hold in (min_over_time).
            window = rf"min_over_time\([a-z_]+\{{[^}}]*\}}\[{THRESHOLDS['stallWindow']}\]\) > 0"
            assert rule.get("for") or re.search(window, rule["expr"]), name
            assert rule["labels"]["severity"] in {"critical", "warning"}, name
            assert {"summary", "description", "runbook_url"} <= rule["annotations"].keys(), name
            assert rule["annotations"]["runbook_url"] == f"{THRESHOLDS['runbookBaseUrl']}#{name.lower()}"


class TestAlertMetricNames:
    def test_should_read_only_the_metrics_when_an_alert_looks_back_with_offset(self, alerts):
        stalled = Query("VLLMEngineStalled", alerts["VLLMEngineStalled"]["expr"])
        assert stalled.metrics == {
            "ray_serve_replica_processing_queries",
            "ray_serve_deployment_replica_healthy",
            "ray_vllm_generation_tokens_total",
        }


@pytest.mark.live
class TestAlertRulesAgainstLiveRun:
    def test_should_find_every_metric_of_every_alert_in_the_scrape_when_serving(self, live, groups):
        assert unknown_metrics(alert_queries(groups), live.run.sample_names) == []

    def test_should_find_every_label_the_alerts_select_on_when_prometheus_scrapes_the_run(self, live, groups):
        assert unknown_labels(alert_queries(groups), live.series_labels) == []

    def test_should_stay_silent_on_the_healthy_run_when_prometheus_evaluates_every_alert(self, live, groups):
        firing = {q.where: live.prometheus.query(q.expr, live.at) for q in alert_queries(groups)}
        assert {where: result for where, result in firing.items() if result} == {}
