"""Parsing of Serve's status API, Ray's Prometheus metrics and KubeRay's RayService status."""

from __future__ import annotations

import pytest

from loadtest.serve_status import (
    Autoscaling,
    parse_rayservice,
    parse_serve_applications,
    parse_serve_metrics,
    select_rayservice,
)
from tests.loadtest.builders import (
    DATA,
    LLM,
    T0,
    condition,
    rayservice,
    serve_doc,
    service_status,
    steady_status,
)


class TestParseServeApplications:
    def test_should_read_autoscaling_config_when_deployment_autoscales(self):
        deployment = parse_serve_applications(serve_doc())[f"llm/{LLM}"]
        assert deployment.autoscaling == Autoscaling(
            min_replicas=1,
            max_replicas=2,
            target_ongoing_requests=2.0,
            upscale_delay_s=2.0,
            downscale_delay_s=15.0,
            look_back_period_s=30.0,
            metrics_interval_s=10.0,
        )
        assert deployment.autoscaling.scales
        assert deployment.graceful_shutdown_timeout_s == 30.0

    def test_should_count_replicas_by_state_when_scaling(self):
        doc = serve_doc(
            target=2, replicas=(("a", "RUNNING", T0), ("b", "STARTING", T0 + 5), ("c", "STOPPING", T0))
        )
        deployment = parse_serve_applications(doc)[f"llm/{LLM}"]
        assert (deployment.target_replicas, deployment.running, deployment.starting) == (2, 1, 1)
        assert deployment.count("STOPPING") == 1
        assert deployment.replicas[1].start_time_s == T0 + 5

    def test_should_report_no_scaling_when_deployment_has_a_fixed_count(self):
        gateway = parse_serve_applications(serve_doc())["llm/OpenAiGateway"]
        assert gateway.autoscaling is None or not gateway.autoscaling.scales
        assert gateway.status == "HEALTHY"


class TestParseServeMetrics:
    def test_should_sum_series_per_deployment_when_reading_a_real_scrape(self):
        metrics = parse_serve_metrics((DATA / "ray_metrics.txt").read_text())
        assert metrics.target_replicas[f"llm/{LLM}"] == 1.0
        assert metrics.healthy_replicas[f"llm/{LLM}"] >= 1.0
        assert metrics.autoscaler_requests[f"llm/{LLM}"] >= 0.0
        assert "rag/Embedder" in metrics.target_replicas

    def test_should_add_healthy_replicas_when_one_series_per_replica(self):
        text = "\n".join(
            f'ray_serve_deployment_replica_healthy{{application="llm",deployment="D",replica="{r}"}} 1.0'
            for r in ("a", "b")
        )
        assert parse_serve_metrics(text + "\n").healthy_replicas == {"llm/D": 2.0}


class TestParseRayService:
    def test_should_read_head_service_and_statuses_when_service_is_steady(self):
        status = parse_rayservice(rayservice(status=steady_status()))
        assert (status.ready, status.upgrade_in_progress) == (True, False)
        assert status.cluster_name == "ray-vllm-x7k2p"
        assert status.head_service == "ray-vllm-x7k2p-head-svc"
        assert status.applications == {"llm": "RUNNING"}
        assert status.deployments == {f"llm/{LLM}": "HEALTHY", "llm/OpenAiGateway": "HEALTHY"}
        assert status.num_serve_endpoints == 1

    def test_should_show_upscaling_when_serve_is_adding_replicas(self):
        status = parse_rayservice(rayservice(status=steady_status(deployments={LLM: "UPSCALING"})))
        assert status.deployments == {f"llm/{LLM}": "UPSCALING"}

    def test_should_follow_the_active_cluster_when_an_upgrade_is_pending(self):
        body = steady_status()
        body["pendingServiceStatus"] = service_status(
            "ray-vllm-q9z4m", {LLM: "UPDATING"}, app_status="DEPLOYING"
        )
        body["conditions"][1] = condition("UpgradeInProgress", True, "BothActivePendingClustersExist")
        status = parse_rayservice(rayservice(status=body))
        assert status.upgrade_in_progress
        assert (status.cluster_name, status.deployments[f"llm/{LLM}"]) == ("ray-vllm-x7k2p", "HEALTHY")

    def test_should_have_no_head_when_the_first_cluster_is_starting(self):
        body = {
            "conditions": [condition("Ready", False, "Initializing")],
            "numServeEndpoints": 0,
            "observedGeneration": 1,
        }
        status = parse_rayservice(rayservice(status=body))
        assert (status.ready, status.head_service, status.deployments) == (False, "", {})


class TestSelectRayService:
    def test_should_pick_the_release_label_when_names_differ(self):
        items = [rayservice("ray-vllm-prod", release="prod"), rayservice("other", release="other")]
        assert select_rayservice(items, "prod")["metadata"]["name"] == "ray-vllm-prod"

    def test_should_fall_back_to_the_name_when_no_object_has_the_label(self):
        item = rayservice("prod", release="x")
        assert select_rayservice([item], "prod") is item

    def test_should_raise_when_the_release_has_no_rayservice(self):
        with pytest.raises(LookupError, match="found 0"):
            select_rayservice([rayservice("a", release="a")], "b")
