"""The whole monitored run: `make serve`'s local run of the local preset with the monitoring objects
on, scraped from its start, a real Prometheus scraping it through the chart's own PodMonitor, bounded
traffic, then a scrape of every endpoint. Used by the proofs (tests/monitoring on the test session's
shared local run) and by tools/metrics_inventory.py (on a run of its own)."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from devkit.helm import Rendered, render_chart
from devkit.local_ray import Ports, free_ports
from devkit.local_run import LocalRun
from devkit.monitoring.harness import (
    LiveRun,
    Scraper,
    agent_route,
    drive,
    first_model,
    in_pod,
    scraping,
    serves_batches,
)
from devkit.monitoring.prometheus import Prometheus, head_pod, podmonitor_scrape_configs, running_prometheus

NAMESPACE = "llm-serving"
(PROMETHEUS_PORT,) = free_ports(1)
MONITORING_ON = {
    "monitoring.podMonitor.enabled": True,
    "monitoring.prometheusRule.enabled": True,
    "monitoring.dashboards.enabled": True,
}
MONITORING_SET = tuple(f"{key}={str(on).lower()}" for key, on in MONITORING_ON.items())  # as --set
# What Grafana's $__rate_interval would be for this run: a window covering all of the traffic.
RATE_INTERVAL = "1m"


def render_monitoring(set_values: dict | None = None) -> Rendered:
    """The local preset with every monitoring object on."""
    values = MONITORING_ON | (set_values or {})
    return render_chart(values_files=("values/local-cpu.yaml",), set_values=values, namespace=NAMESPACE)


def monitoring_set_values(state_dir: Path) -> tuple[str, ...]:
    """`--set`s of a local run with every monitoring object on; a Milvus Lite file and batch storage
    of its own in `state_dir` (the preset's paths are shared with every other local run on the
    machine, and Milvus Lite locks its file)."""
    return (
        *MONITORING_SET,
        f"rag.milvus.uri={state_dir / 'rag.db'}",
        f"batch.storage={state_dir / 'batch'}",
    )


@dataclass(eq=False)
class ScrapedRun:
    """A local run and the scraper that has watched its metric endpoints since before it started."""

    run: LocalRun
    scraper: Scraper

    def render(self) -> Rendered:
        """The chart rendered with the run's values, in the namespace the proofs put the release in."""
        return render_chart(
            values_files=self.run.values_files, set_values=list(self.run.set_values), namespace=NAMESPACE
        )


@contextlib.contextmanager
def scraped_local_run(state_dir: Path) -> Iterator[ScrapedRun]:
    """`make serve`'s local run of the local preset with monitoring on, on free ports, scraped from
    before its start (a gauge set once at engine start leaves the export ~20 s later); stopped on exit."""
    ports = Ports.free()
    run = LocalRun(ports, state_dir, set_values=monitoring_set_values(state_dir))
    with scraping(ports.metrics_endpoints()) as scraper:
        try:
            run.start()
            yield ScrapedRun(run, scraper)
        finally:
            run.stop()


@dataclass(eq=False)
class Live:
    """A monitored run in progress: the head, what was sent and scraped, the Prometheus, the render."""

    head: LocalRun
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
def observed(scraped: ScrapedRun, workdir: Path, rounds: int = 8) -> Iterator[Live]:
    """Start a Prometheus scraping the run like the PodMonitor, send `rounds` of traffic and yield once
    Prometheus has scraped all of it; Prometheus stops on exit, the run goes on."""
    rendered = scraped.render()
    pod = head_pod(rendered.get("RayService"), NAMESPACE)
    ports = scraped.run.ports
    scrape_configs = podmonitor_scrape_configs(rendered.get("PodMonitor"), pod, in_pod(ports), interval="1s")
    with running_prometheus(PROMETHEUS_PORT, workdir / "prometheus", scrape_configs) as prometheus:
        # Samples from before the traffic: rates over the traffic window need a starting point.
        prometheus.wait_for_scrape_after(time.time())
        serve_config = yaml.safe_load(rendered.serve_config_text)
        run = drive(
            scraped.run.ray, scraped.scraper, first_model(serve_config), rounds, agent_route(serve_config),
            serves_batches(serve_config),
        )  # fmt: skip
        prometheus.wait_for_scrape_after(run.traffic.exported)
        yield Live(head=scraped.run, run=run, prometheus=prometheus, rendered=rendered, at=time.time())


@contextlib.contextmanager
def monitored_run(workdir: Path, rounds: int = 8) -> Iterator[Live]:
    """A scraped local run of its own, observed: everything stops on exit."""
    with scraped_local_run(workdir / "run") as scraped, observed(scraped, workdir, rounds) as live:
        yield live
