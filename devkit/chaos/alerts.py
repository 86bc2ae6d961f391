"""The chart's alerts during the faults: a real Prometheus scrapes the local run like the chart's
PodMonitor and evaluates the chart's PrometheusRule every second; a watcher notes when each alert
starts firing and when it stops."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from devkit.helm import render_chart
from devkit.local_ray import free_ports
from devkit.local_run import LocalRun
from devkit.monitoring.harness import in_pod
from devkit.monitoring.prometheus import Prometheus, head_pod, podmonitor_scrape_configs, running_prometheus
from devkit.monitoring.stack import MONITORING_SET, NAMESPACE

# A stalled replica ends itself 20-30 s after the stall (serve_app/engine_health.py; its series then
# go), so the window here is short; clusters keep the chart's 5m. Two of Ray's 10 s metric exports: a
# working engine's token counter moves in every window.
STALL_WINDOW = "20s"
POLL_S = 1.0


def alert_key(labels: dict[str, str]) -> str:
    """An alert's name, with the deployment or model it is about when it names one."""
    about = labels.get("deployment") or labels.get("model_name") or labels.get("application")
    return f"{labels['alertname']} ({about})" if about else labels["alertname"]


class AlertWatch(threading.Thread):
    """Polls Prometheus' firing alerts; keeps, per alert name, the spans it was firing."""

    def __init__(self, prometheus: Prometheus) -> None:
        super().__init__(name="alert-watch", daemon=True)
        self.prometheus = prometheus
        self.spans: dict[str, list[list[float | None]]] = {}  # name → [[start, end or None], ...]
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self._halt.wait(POLL_S):
            with contextlib.suppress(OSError, RuntimeError):
                self.note(
                    {alert_key(a["labels"]) for a in self.prometheus.alerts() if a["state"] == "firing"}
                )

    def note(self, firing: set[str], now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            for name in firing:
                spans = self.spans.setdefault(name, [])
                if not spans or spans[-1][1] is not None:
                    spans.append([now, None])
            for name, spans in self.spans.items():
                if name not in firing and spans[-1][1] is None:
                    spans[-1][1] = now

    def firing(self) -> set[str]:
        with self._lock:
            return {name for name, spans in self.spans.items() if spans[-1][1] is None}

    def since(self, moment: float) -> dict[str, dict[str, float | None]]:
        """Each alert that fired after `moment`: seconds from it to the first firing, and to its end."""
        with self._lock:
            seen = {}
            for name, spans in self.spans.items():
                later = [span for span in spans if span[1] is None or span[1] > moment]
                if later:
                    start, end = max(later[0][0], moment), later[-1][1]
                    seen[name] = {
                        "firing_after_s": round(start - moment, 1),
                        "resolved_after_s": None if end is None else round(end - moment, 1),
                    }
            return seen

    def wait_quiet(self, timeout_s: float) -> bool:
        """Until no alert fires (True) or `timeout_s` passed (False)."""
        deadline = time.monotonic() + timeout_s
        while self.firing() and time.monotonic() < deadline:
            time.sleep(POLL_S)
        return not self.firing()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)


@contextlib.contextmanager
def watching_alerts(run: LocalRun, workdir: Path) -> Iterator[AlertWatch]:
    """A Prometheus with the chart's PodMonitor scrape and PrometheusRule (rendered with the run's
    values and the short stall window) over `run`, watched until exit."""
    rendered = render_chart(
        values_files=run.values_files,
        set_values=[
            *run.set_values,
            *MONITORING_SET,
            f"monitoring.prometheusRule.stallWindow={STALL_WINDOW}",
        ],
        namespace=NAMESPACE,
    )
    pod = head_pod(rendered.get("RayService"), NAMESPACE)
    scrape = podmonitor_scrape_configs(rendered.get("PodMonitor"), pod, in_pod(run.ports), interval="1s")
    groups = rendered.get("PrometheusRule")["spec"]["groups"]
    (port,) = free_ports(1)
    with running_prometheus(port, workdir, scrape, groups) as prometheus:
        watch = AlertWatch(prometheus)
        watch.start()
        try:
            yield watch
        finally:
            watch.stop()
