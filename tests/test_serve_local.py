"""devkit.serve_local's plan of a local run: the worker nodes it starts, the deploy body it sends, what
an update may change, and its errors for bad values."""

from __future__ import annotations

import pytest

from devkit.helm import render_chart
from devkit.local_ray import LocalRay, Ports
from devkit.presets import VALUES_DIR
from devkit.serve_local import (
    gcs_fault_tolerance_env,
    head_num_cpus,
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
GCS_FT = (*LOCAL, VALUES_DIR / "local-cpu-gcs-ft.yaml")


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

    def test_should_give_every_node_the_gateway_cpus_when_the_head_takes_no_replica(self):
        # head.numCpus 0: the gateway (1 CPU; RAG and Batcher off) may land on either node beside a
        # model (2 CPUs).
        rendered = render_chart(GCS_FT, {"rag.enabled": False, "batch.enabled": False})
        assert head_num_cpus(rendered) == 0
        assert worker_nodes(rendered) == [("gpu-0", "gpu", 3), ("gpu-1", "gpu", 3)]

    def test_should_give_every_node_the_batcher_cpus_too_when_batches_are_served(self):
        # The Batcher (0.5 CPU) beside the gateway: ceil(1.5) spare CPUs on each node.
        rendered = render_chart(GCS_FT, {"rag.enabled": False, "batch.numCpus": 0.5})
        assert worker_nodes(rendered) == [("gpu-0", "gpu", 4), ("gpu-1", "gpu", 4)]

    def test_should_size_the_head_by_the_replicas_when_the_values_set_no_head_cpus(self):
        assert head_num_cpus(render_chart(NODES)) is None


class TestGcsFaultTolerance:
    def test_should_add_nothing_when_fault_tolerance_is_off(self):
        assert gcs_fault_tolerance_env(render_chart(LOCAL), Ports()) == {}

    def test_should_give_the_head_the_redis_address_and_a_namespace_when_on(self):
        assert gcs_fault_tolerance_env(render_chart(GCS_FT), Ports(redis=6390)) == {
            "RAY_REDIS_ADDRESS": "127.0.0.1:6390",
            "RAY_external_storage_namespace": "llm-ray-vllm",
        }

    def test_should_use_the_values_namespace_when_one_is_set(self):
        rendered = render_chart(GCS_FT, {"gcsFaultTolerance.externalStorageNamespace": "llm-prod"})
        assert gcs_fault_tolerance_env(rendered, Ports())["RAY_external_storage_namespace"] == "llm-prod"

    def test_should_name_the_local_address_when_the_values_point_elsewhere(self):
        rendered = render_chart(GCS_FT, {"gcsFaultTolerance.redisAddress": "redis.example:6379"})
        with pytest.raises(SystemExit, match=r"set gcsFaultTolerance.redisAddress=127.0.0.1:7000$"):
            gcs_fault_tolerance_env(rendered, Ports(redis=7000))


class TestDeployBody:
    def test_should_bind_the_proxies_to_loopback_and_keep_the_rendered_config(self):
        rendered = render_chart(NODES)
        body = with_http_options(rendered.serve_config_text, Ports(serve=18000))
        assert body["http_options"]["host"] == "127.0.0.1" and body["http_options"]["port"] == 18000
        # A proxy on every node, as in a cluster (each worker node's on a port of its own).
        assert "proxy_location" not in body


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
