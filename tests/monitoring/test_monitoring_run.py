"""The live run behind the monitoring proofs: loopback only, and scraped the way the chart says."""

from __future__ import annotations

import urllib.error

import psutil
import pytest

from devkit.loopback import listeners, off_loopback
from devkit.monitoring.harness import HOST, http_text
from devkit.monitoring.prometheus import RAYCLUSTER_SUFFIX
from devkit.monitoring.stack import NAMESPACE


@pytest.mark.live
class TestMonitoringRun:
    def test_should_listen_on_loopback_only_when_ray_and_prometheus_run(self, live):
        processes = [*live.head.processes(), psutil.Process(live.prometheus.proc.pid)]
        assert listeners(processes)
        assert off_loopback(processes) == []

    def test_should_scrape_every_podmonitor_endpoint_as_the_rayservice_cluster_when_running(self, live):
        endpoints = [e["port"] for e in live.rendered.get("PodMonitor")["spec"]["podMetricsEndpoints"]]
        targets = live.prometheus.targets()
        assert sorted(t["labels"]["endpoint"] for t in targets) == sorted(endpoints)
        cluster = f"{live.rendered.get('RayService')['metadata']['name']}-{RAYCLUSTER_SUFFIX}"
        for target in targets:
            assert target["health"] == "up", target
            assert (target["labels"]["namespace"], target["labels"]["ray_io_cluster"]) == (NAMESPACE, cluster)

    def test_should_export_vllm_metrics_only_under_the_ray_prefix_when_served_by_ray_serve_llm(self, live):
        vllm = [name for name in live.run.families if "vllm" in name]
        assert vllm
        assert [name for name in vllm if not name.startswith("ray_vllm_")] == []

    def test_should_not_serve_metrics_on_the_serve_proxy_port_when_running(self, live):
        with pytest.raises(urllib.error.HTTPError) as err:
            http_text(f"http://{HOST}:{live.head.ports.serve}/metrics")
        assert err.value.code == 404

    def test_should_answer_every_request_and_fail_the_bad_ones_when_traffic_is_sent(self, live):
        traffic = live.run.traffic
        assert traffic.completions == traffic.streamed > 0
        assert traffic.errors == {404: 1, 400: 1}
