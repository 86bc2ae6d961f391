"""The whole monitored run: Ray Serve LLM on a loopback-only head, a real Prometheus scraping it
through the chart's own PodMonitor, bounded traffic, then a scrape of every endpoint. Used by the
proofs (tests/monitoring/conftest.py) and by tools/metrics_inventory.py for the panel images."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devkit import serve_local
from devkit.helm import Rendered, render_chart
from devkit.local_ray import Ports, free_ports
from devkit.monitoring.harness import LiveRun, RayHead, deploy_body, drive, in_pod, running_head, scraping
from devkit.monitoring.prometheus import Prometheus, head_pod, podmonitor_scrape_configs, running_prometheus

NAMESPACE = "llm-serving"
# Ports of their own, so a user's `make serve` and this suite can run side by side.
PORTS = Ports.free()
(PROMETHEUS_PORT,) = free_ports(1)
MONITORING_ON = {
    "monitoring.podMonitor.enabled": True,
    "monitoring.prometheusRule.enabled": True,
    "monitoring.dashboards.enabled": True,
}
# What Grafana's $__rate_interval would be for this run: a window covering all of the traffic.
RATE_INTERVAL = "1m"


def render_monitoring(set_values: dict | None = None) -> Rendered:
    """The local preset with every monitoring object on."""
    values = MONITORING_ON | (set_values or {})
    return render_chart(values_files=("values/local-cpu.yaml",), set_values=values, namespace=NAMESPACE)


@dataclass(eq=False)
class Live:
    """A monitored run in progress: the head, what was sent and scraped, the Prometheus, the render."""

    head: RayHead
    run: LiveRun
    prometheus: Prometheus
    rendered: Rendered
    at: float  # when queries are evaluated: after Prometheus scraped everything the traffic caused

    @property
    def start(self) -> float:
        """Start of the window series and label look-ups cover: the deploy before the traffic too."""
        return self.run.traffic.started - 300

    @functools.cache  # noqa: B019  (one Live per session)
    def series_labels(self, metric: str) -> frozenset[str]:
        """Label names on the series Prometheus stored for a metric: the scrape's own labels plus
        those the PodMonitor's relabelling added."""
        series = self.prometheus.series(metric, self.start, self.at)
        return frozenset(label for s in series for label in s) - {"__name__"}


@contextlib.contextmanager
def monitored_run(workdir: Path, rounds: int = 8) -> Iterator[Live]:
    """Render the chart, start a Prometheus scraping like the PodMonitor and Ray, deploy, send
    `rounds` of traffic and yield once Prometheus has scraped all of it; everything stops on exit."""
    # A Milvus Lite file of its own: the preset's path is shared with every other local run.
    rendered = render_monitoring({"rag.milvus.uri": str(workdir / "rag.db")})
    pod = head_pod(rendered.get("RayService"), NAMESPACE)
    scrape_configs = podmonitor_scrape_configs(rendered.get("PodMonitor"), pod, in_pod(PORTS), interval="1s")
    body = deploy_body(rendered.serve_config_text, PORTS)
    with (
        running_prometheus(PROMETHEUS_PORT, workdir / "prometheus", scrape_configs) as prometheus,
        running_head(workdir / "ray", body, PORTS, serve_local.serve_runtime_env(rendered)) as head,
        scraping(PORTS.metrics_endpoints()) as scraper,
    ):
        run = drive(head, scraper, body, rounds=rounds)
        prometheus.wait_for_scrape_after(run.traffic.exported)
        yield Live(head=head, run=run, prometheus=prometheus, rendered=rendered, at=time.time())
