"""The dashboard, the alerts and the KEDA trigger in standalone mode, proven against a live scrape.

A real Prometheus scrapes the session's standalone run (vLLM's own server, tests/conftest.py) through
the chart's standalone PodMonitor, relabelling included: vLLM exports `vllm:*`, the PodMonitor stores
them as `ray_vllm_*`, the names the dashboard and alerts use under Ray Serve. Every `ray_vllm_*`
metric a panel, variable, alert or the ScaledObject names must be there with the labels it selects on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest

from devkit.helm import Rendered, render_chart
from devkit.local_ray import free_ports
from devkit.monitoring.prometheus import (
    Prometheus,
    deployment_pod,
    podmonitor_scrape_configs,
    running_prometheus,
)
from devkit.monitoring.queries import (
    Query,
    alert_queries,
    dashboards,
    panel_queries,
    rule_groups,
    substitute,
    variables,
)
from devkit.monitoring.stack import MONITORING_SET, NAMESPACE, RATE_INTERVAL

VLLM_PREFIX = "ray_vllm_"
CLUSTER = "llm-ray-vllm"  # the release's fullname: the PodMonitor's ray_io_cluster in standalone mode
REQUESTS = 6


@dataclass
class Scraped:
    prometheus: Prometheus
    rendered: Rendered
    start: float
    end: float


def _vllm_queries(rendered: Rendered) -> list[Query]:
    """Every chart query that reads a vLLM metric (the ones standalone mode can answer)."""
    (dashboard,) = dashboards().values()
    queries = panel_queries(dashboard) + [v.query for v in variables(dashboard)]
    queries += alert_queries(rule_groups(rendered.get("PrometheusRule")))
    return [q for q in queries if any(m.startswith(VLLM_PREFIX) for m in q.metrics)]


@pytest.fixture(scope="module")
def scraped(standalone_run, tmp_path_factory) -> Iterator[Scraped]:
    port = standalone_run.ports.serve
    rendered = render_chart(
        standalone_run.values_files,
        [*standalone_run.set_values, f"standalone.port={port}", *MONITORING_SET,
         "models[0].deployment.autoscaling.enabled=true"],
        namespace=NAMESPACE,
    )  # fmt: skip
    (deployment,) = rendered.of_kind("Deployment")
    configs = podmonitor_scrape_configs(
        rendered.get("PodMonitor"), deployment_pod(deployment, NAMESPACE), {port: port}, "1s"
    )
    (prometheus_port,) = free_ports(1)
    workdir = tmp_path_factory.mktemp("standalone-prometheus")
    with running_prometheus(
        prometheus_port, workdir, configs, rule_groups(rendered.get("PrometheusRule"))
    ) as prom:
        start = time.time()
        client = openai.OpenAI(
            base_url=f"{standalone_run.base_url}/v1", api_key=standalone_run.extra_env["VLLM_API_KEY"],
            max_retries=0, timeout=120,
        )  # fmt: skip
        for _ in range(REQUESTS):
            for _chunk in client.chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": "Hello"}], max_tokens=8, stream=True
            ):
                pass
        prom.wait_for_scrape_after(time.time())
        yield Scraped(prom, rendered, start, time.time())


class TestStandaloneScrape:
    def test_should_store_vllms_metrics_under_the_ray_serve_names_when_scraped(self, scraped):
        names = scraped.prometheus.label_values(
            "__name__", '{__name__=~".*vllm.*"}', scraped.start, scraped.end
        )
        assert [n for n in names if n.startswith("vllm:")] == []
        assert f"{VLLM_PREFIX}num_requests_running" in names

    def test_should_find_every_vllm_metric_of_the_dashboard_and_alerts_with_their_labels_when_standalone(
        self, scraped
    ):
        missing = []
        for query in _vllm_queries(scraped.rendered):
            for selector in (s for s in query.selectors if s.metric.startswith(VLLM_PREFIX)):
                series = scraped.prometheus.series(selector.metric, scraped.start, scraped.end)
                labels = set().union(*(s.keys() for s in series)) if series else set()
                # Grouping by a label standalone lacks (Ray's ReplicaId) merges series; matchers must match.
                wanted = selector.labels | {"namespace", "ray_io_cluster", "model_name"}
                if not series or not wanted <= labels:
                    missing.append(f"{query.where}: {selector.metric} {sorted(wanted - labels)}")
        assert missing == []

    def test_should_resolve_the_namespace_cluster_and_model_variables_when_standalone(self, scraped):
        (dashboard,) = dashboards().values()
        values: dict[str, list[str]] = {}
        for var in variables(dashboard):
            if var.name in {"namespace", "cluster", "model"}:  # the ones the vLLM panels read
                expr = substitute(var.selector, values, RATE_INTERVAL)
                values[var.name] = scraped.prometheus.label_values(
                    var.label, expr, scraped.start, scraped.end
                )
        assert values == {"namespace": [NAMESPACE], "cluster": [CLUSTER], "model": ["tiny"]}

    def test_should_answer_the_keda_trigger_query_when_standalone(self, scraped):
        (trigger,) = scraped.rendered.get("ScaledObject")["spec"]["triggers"]
        (sample,) = scraped.prometheus.query(trigger["metadata"]["query"], scraped.end)
        assert float(sample["value"][1]) >= 0
