"""devkit.serve_local's plan of a local run: the worker nodes it starts and the deploy body it sends."""

from __future__ import annotations

from devkit.helm import render_chart
from devkit.local_ray import Ports
from devkit.presets import VALUES_DIR
from devkit.serve_local import with_http_options, worker_nodes

LOCAL = (VALUES_DIR / "local-cpu.yaml",)
NODES = (*LOCAL, VALUES_DIR / "local-cpu-nodes.yaml")


class TestWorkerNodes:
    def test_should_start_no_worker_node_when_the_preset_has_no_worker_group(self):
        assert worker_nodes(render_chart(LOCAL)) == []

    def test_should_start_one_node_per_pod_sized_for_one_replica_when_models_use_a_group(self):
        # LLMServer:tiny's bundle is 2 CPUs (the replica actor's 1 + the engine's 1).
        assert worker_nodes(render_chart(NODES)) == [("gpu-0", "gpu", 2), ("gpu-1", "gpu", 2)]

    def test_should_give_a_group_without_models_one_cpu_when_nothing_is_placed_on_it(self):
        group = {"name": "spare", "gpusPerPod": 1, "minReplicas": 1, "maxReplicas": 1}
        rendered = render_chart(LOCAL, {f"workerGroups[0].{key}": value for key, value in group.items()})
        assert worker_nodes(rendered) == [("spare-0", "spare", 1)]


class TestDeployBody:
    def test_should_bind_the_proxy_to_loopback_and_keep_the_rendered_config_when_single_node(self):
        rendered = render_chart(LOCAL)
        body = with_http_options(rendered.serve_config_text, Ports(serve=18000))
        assert body["http_options"]["host"] == "127.0.0.1" and body["http_options"]["port"] == 18000
        assert "proxy_location" not in body

    def test_should_keep_the_proxy_on_the_head_when_worker_nodes_share_loopback(self):
        body = with_http_options(render_chart(NODES).serve_config_text, Ports(), head_only=True)
        assert body["proxy_location"] == "HeadOnly"
