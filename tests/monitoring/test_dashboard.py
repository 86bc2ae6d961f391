"""chart/files/dashboards: valid Grafana JSON whose every query is proven against the live run.

Proof 1: every metric a panel or variable names is in the live scrape, with the labels it selects on.
Proof 2: a real Prometheus scraping the run through the chart's PodMonitor answers every variable and
every panel with at least one series. GPU-only panels (DCGM exporter) are checked against the
exporter's recorded default counters instead: a CPU machine has no GPU series.
"""

from __future__ import annotations

import itertools

import pytest

from devkit.helm import REPO
from devkit.local_ray import Ports
from devkit.monitoring.queries import (
    DCGM_PREFIX,
    panel_queries,
    panels,
    read_json,
    substitute,
    unknown_labels,
    unknown_metrics,
    variables,
)
from devkit.monitoring.stack import RATE_INTERVAL, render_monitoring

DASHBOARD = read_json(REPO / "chart" / "files" / "dashboards" / "ray-vllm.json")
DCGM = read_json(REPO / "monitoring" / "dcgm-exporter.json")
# Panels that need the NVIDIA DCGM exporter on GPU nodes, listed so a new one is a deliberate choice.
GPU_ONLY_PANELS = {"GPU utilisation", "GPU memory used", "GPU memory used share"}
VARIABLES = ["namespace", "cluster", "application", "model"]
# The chart renders one of the two monitors at a time.
ONLY = {
    "PodMonitor": {"monitoring.podMonitor.enabled": True, "monitoring.serviceMonitor.enabled": False},
    "ServiceMonitor": {"monitoring.podMonitor.enabled": False, "monitoring.serviceMonitor.enabled": True},
}
QUERIES = panel_queries(DASHBOARD)
CPU_QUERIES = [q for q in QUERIES if not q.gpu_only]
VARIABLE_QUERIES = [v.query for v in variables(DASHBOARD)]


class TestDashboardJson:
    def test_should_have_a_uid_title_and_schema_version_when_loaded(self):
        assert DASHBOARD["uid"] == "ray-vllm-serving"
        assert DASHBOARD["title"]
        assert DASHBOARD["schemaVersion"] >= 36

    def test_should_give_every_panel_a_unique_id_when_loaded(self):
        ids = [p["id"] for p in panels(DASHBOARD)]
        assert len(ids) == len(set(ids)), ids

    def test_should_read_every_panel_and_variable_through_the_datasource_variable_when_loaded(self):
        (datasource,) = [v for v in DASHBOARD["templating"]["list"] if v["type"] == "datasource"]
        assert (datasource["name"], datasource["query"]) == ("datasource", "prometheus")
        users = [p for p in panels(DASHBOARD) if p["type"] != "row"]
        users += [t for p in users for t in p["targets"]]
        users += [v for v in DASHBOARD["templating"]["list"] if v["type"] == "query"]
        assert {str(u["datasource"]) for u in users} == {str({"type": "prometheus", "uid": "${datasource}"})}

    def test_should_offer_namespace_cluster_application_and_model_variables_when_loaded(self):
        assert [v.name for v in variables(DASHBOARD)] == VARIABLES

    def test_should_filter_every_cpu_panel_by_namespace_and_cluster_when_loaded(self):
        for query in CPU_QUERIES:
            for selector in query.selectors:
                assert {"namespace", "ray_io_cluster"} <= selector.labels, f"{query.where}: {selector}"

    def test_should_not_overlap_panels_when_laid_out(self):
        cells = {}
        for panel in panels(DASHBOARD):
            g = panel["gridPos"]
            assert g["x"] + g["w"] <= 24, panel["title"]
            for cell in itertools.product(range(g["x"], g["x"] + g["w"]), range(g["y"], g["y"] + g["h"])):
                assert cell not in cells, f"{panel['title']} overlaps {cells[cell]}"
                cells[cell] = panel["title"]

    def test_should_mark_exactly_the_dcgm_panels_as_gpu_only_when_loaded(self):
        gpu_panels = {p["title"] for p in panels(DASHBOARD)
                      if any(DCGM_PREFIX in t["expr"] for t in p.get("targets", []))}  # fmt: skip
        assert gpu_panels == GPU_ONLY_PANELS
        for panel in panels(DASHBOARD):
            assert panel.get("description", "").startswith("GPU-only") == (panel["title"] in GPU_ONLY_PANELS)

    def test_should_use_only_dcgm_default_counters_and_their_labels_when_gpu_only(self):
        gpu_queries = [q for q in QUERIES if q.gpu_only]
        assert gpu_queries
        assert unknown_metrics(gpu_queries, DCGM["default_counters"]) == []
        assert unknown_labels(gpu_queries, lambda _: set(DCGM["labels"])) == []


class TestMonitorsForTheDashboard:
    """Either monitor the chart renders must add what the dashboard's filters need beyond the scrape."""

    @pytest.mark.parametrize("kind", ["PodMonitor", "ServiceMonitor"])
    def test_should_add_the_ray_cluster_label_on_every_endpoint_when_enabled(self, kind):
        monitor = render_monitoring(ONLY[kind]).get(kind)
        endpoints = monitor["spec"].get("podMetricsEndpoints") or monitor["spec"]["endpoints"]
        for endpoint in endpoints:
            targets = {r.get("targetLabel") for r in endpoint.get("relabelings", [])}
            assert "ray_io_cluster" in targets, f"{kind} port {endpoint['port']}"

    def test_should_scrape_the_same_ports_with_either_monitor_when_enabled(self):
        pod_monitor = render_monitoring(ONLY["PodMonitor"]).get("PodMonitor")
        service_monitor = render_monitoring(ONLY["ServiceMonitor"]).get("ServiceMonitor")
        pod_ports = [e["port"] for e in pod_monitor["spec"]["podMetricsEndpoints"]]
        service_ports = [e["port"] for e in service_monitor["spec"]["endpoints"]]
        assert sorted(service_ports) == sorted(pod_ports)

    def test_should_scrape_every_port_ray_exports_metrics_on_when_enabled(self):
        endpoints = render_monitoring().get("PodMonitor")["spec"]["podMetricsEndpoints"]
        assert sorted(e["port"] for e in endpoints) == sorted(Ports().metrics_endpoints())


@pytest.mark.live
class TestDashboardAgainstLiveScrape:
    def test_should_find_every_metric_of_every_panel_and_variable_in_the_scrape_when_serving(self, live):
        assert unknown_metrics(CPU_QUERIES + VARIABLE_QUERIES, live.run.sample_names) == []

    def test_should_find_every_label_the_queries_select_on_when_prometheus_scrapes_the_run(self, live):
        assert unknown_labels(CPU_QUERIES + VARIABLE_QUERIES, live.series_labels) == []


@pytest.fixture(scope="module")
def variable_values(live) -> dict[str, list[str]]:
    """Each variable resolved like Grafana does, in order, each query using the ones before it."""
    values: dict[str, list[str]] = {}
    for var in variables(DASHBOARD):
        match = substitute(var.selector, values, RATE_INTERVAL)
        values[var.name] = live.prometheus.label_values(var.label, match, live.start, live.at)
    return values


@pytest.mark.live
class TestDashboardInPrometheus:
    def test_should_resolve_every_variable_to_a_value_when_prometheus_scrapes_the_run(self, variable_values):
        assert {name: bool(vals) for name, vals in variable_values.items()} == dict.fromkeys(VARIABLES, True)
        assert variable_values["namespace"] == ["llm-serving"]

    @pytest.mark.parametrize("query", CPU_QUERIES, ids=[q.where for q in CPU_QUERIES])
    def test_should_return_a_series_for_the_panel_query_when_prometheus_scrapes_the_run(
        self, live, variable_values, query
    ):
        expr = substitute(query.expr, variable_values, RATE_INTERVAL)
        series = live.prometheus.query(expr, live.at)
        assert series, f"no series at {live.at} for {expr}"
