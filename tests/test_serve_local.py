"""devkit.serve_local's plan of a local run: the worker nodes it starts, the deploy body it sends, what
an update may change, and its errors for bad values."""

from __future__ import annotations

import pytest

from devkit.helm import render_chart
from devkit.local_ray import LocalRay, Ports
from devkit.presets import VALUES_DIR
from devkit.serve_local import (
    main,
    render,
    restart_needed,
    serve_runtime_env,
    update,
    with_http_options,
    worker_nodes,
)

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


class TestUpdate:
    """`serve_local.py --update` applies a new render to the running run only when Serve can apply it."""

    def test_should_need_no_restart_when_only_serve_config_options_change(self):
        running = serve_runtime_env(render_chart(LOCAL)) | {"PATH": "/usr/bin"}
        assert (
            restart_needed(render_chart((*LOCAL, VALUES_DIR / "local-cpu-autoscale.yaml")), running, []) == []
        )

    def test_should_name_the_variable_when_a_serve_runtime_setting_changes(self):
        running = serve_runtime_env(render_chart(LOCAL))
        rendered = render_chart(LOCAL, {"serveRuntime.autoscalingRecordIntervalFactor": 0.5})
        assert restart_needed(rendered, running, []) == [
            "RAY_SERVE_AUTOSCALING_METRIC_RECORD_INTERVAL_FACTOR: '0.02' -> '0.5'"
        ]

    def test_should_name_the_nodes_when_the_worker_groups_change(self):
        running = serve_runtime_env(render_chart(LOCAL))
        assert restart_needed(render_chart(NODES), running, []) == ["worker nodes: [] -> ['gpu-0', 'gpu-1']"]

    def test_should_refuse_with_the_command_to_run_when_no_run_is_up(self, tmp_path):
        with pytest.raises(SystemExit, match=r"no local run is up in .*: start one with `make serve`"):
            update(LocalRay(Ports.free(), tmp_path), render_chart(LOCAL), timeout_s=1)


class TestRender:
    def test_should_exit_with_the_file_name_when_a_values_file_is_missing(self, tmp_path):
        with pytest.raises(SystemExit, match=f"^no such values file: {tmp_path / 'nope.yaml'}$"):
            render([str(LOCAL[0]), str(tmp_path / "nope.yaml")], [])

    def test_should_exit_with_the_schema_message_when_a_value_is_refused(self):
        with pytest.raises(
            SystemExit, match=r"(?s)the chart refused these values:.*/head/resources/requests/cpu"
        ):
            render([str(LOCAL[0])], ["head.resources.requests.cpu=four"])


class TestStandalone:
    def test_should_exit_with_the_setting_to_change_when_vllm_would_bind_every_interface(self):
        # Refused before anything starts: the GPU preset's pods bind 0.0.0.0.
        with pytest.raises(SystemExit, match=r"bind 0\.0\.0\.0; a local run binds 127\.0\.0\.1 only: set"):
            main(["-f", str(VALUES_DIR / "standalone-g6e.yaml"), "--detach"])
