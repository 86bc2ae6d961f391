"""templates/rayservice.yaml: the KubeRay RayService (its serveConfigV2 is tested in test_serveconfig.py)."""

import jmespath

from devkit.helm import render_chart
from devkit.presets import VALUES_DIR

G6E = (VALUES_DIR / "g6e-multi-model.yaml",)
TP70B = (VALUES_DIR / "llama-70b-tp.yaml",)
LOCAL = (VALUES_DIR / "local-cpu.yaml",)


def _rayservice(values_files=(), set_values=None) -> dict:
    return render_chart(values_files, set_values).get("RayService")


SERVE_RUNTIME_ENV = [
    {"name": "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD", "value": "0"},
    {"name": "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP", "value": "0"},
    {"name": "RAY_SERVE_USE_GRPC_BY_DEFAULT", "value": "1"},
    {"name": "RAY_SERVE_AUTOSCALING_METRIC_RECORD_INTERVAL_FACTOR", "value": "0.02"},
    {"name": "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH", "value": "serve_app.proxy_errors.middlewares"},
]


def _cluster(values_files=(), set_values=None) -> dict:
    return _rayservice(values_files, set_values)["spec"]["rayClusterConfig"]


def _container(pod_template: dict) -> dict:
    (container,) = pod_template["spec"]["containers"]
    return container


class TestRayService:
    def test_should_name_the_rayservice_after_the_release_when_rendered_with_defaults(self):
        metadata = _rayservice()["metadata"]
        assert metadata["name"] == "llm-ray-vllm"
        assert metadata["labels"]["app.kubernetes.io/component"] == "ray-service"

    def test_should_cap_the_name_at_47_characters_when_the_release_name_is_long(self):
        rendered = render_chart(release="a" * 53)
        assert rendered.get("RayService")["metadata"]["name"] == "a" * 47

    def test_should_use_blue_green_upgrades_when_rendered_with_defaults(self):
        assert _rayservice()["spec"]["upgradeStrategy"] == {"type": "NewCluster"}

    def test_should_render_incremental_upgrade_options_when_the_70b_preset_asks_for_them(self):
        assert _rayservice(TP70B)["spec"]["upgradeStrategy"] == {
            "type": "NewClusterWithIncrementalUpgrade",
            "clusterUpgradeOptions": {
                "gatewayClassName": "istio",
                "stepSizePercent": 25,
                "intervalSeconds": 120,
                "maxSurgePercent": 50,
            },
        }

    def test_should_not_render_deprecated_fields_when_any_preset_is_rendered(self):
        for values_files in ((), G6E, TP70B, LOCAL):
            spec = _rayservice(values_files)["spec"]
            assert "serviceUnhealthySecondThreshold" not in spec
            assert "deploymentUnhealthySecondThreshold" not in spec

    def test_should_enable_token_auth_generated_by_kuberay_when_rendered_with_defaults(self):
        assert _cluster()["authOptions"] == {"mode": "token"}

    def test_should_point_token_auth_at_the_existing_secret_when_one_is_named(self):
        cluster = _cluster(set_values={"rayAuth.existingSecret": "ray-token"})
        assert cluster["authOptions"] == {"mode": "token", "secretName": "ray-token"}

    def test_should_disable_token_auth_when_turned_off_explicitly(self):
        assert _cluster(set_values={"rayAuth.enabled": False})["authOptions"] == {"mode": "disabled"}

    def test_should_pin_the_ray_version_when_rendered_with_defaults(self):
        assert _cluster()["rayVersion"] == "2.60.0"

    def test_should_run_the_v2_autoscaler_with_an_idle_timeout_longer_than_a_gpu_node_start(self):
        cluster = _cluster(TP70B)
        assert cluster["enableInTreeAutoscaling"] is True
        assert cluster["autoscalerOptions"]["version"] == "v2"
        assert cluster["autoscalerOptions"]["idleTimeoutSeconds"] == 1800
        assert cluster["autoscalerOptions"]["upscalingMode"] == "Default"

    def test_should_leave_out_autoscaler_options_when_the_autoscaler_is_off(self):
        cluster = _cluster(set_values={"autoscaler.enabled": False})
        assert cluster["enableInTreeAutoscaling"] is False
        assert "autoscalerOptions" not in cluster

    def test_should_take_the_redis_password_from_a_secret_when_gcs_fault_tolerance_is_on(self):
        assert _cluster(TP70B)["gcsFaultToleranceOptions"] == {
            "redisAddress": "ray-redis.cache.example.internal:6379",
            "redisPassword": {"valueFrom": {"secretKeyRef": {"name": "ray-redis", "key": "password"}}},
        }

    def test_should_leave_out_gcs_fault_tolerance_when_rendered_with_defaults(self):
        assert "gcsFaultToleranceOptions" not in _cluster()


class TestRayHead:
    def test_should_expose_gcs_dashboard_client_serve_and_metrics_ports_when_rendered(self):
        ports = _container(_cluster()["headGroupSpec"]["template"])["ports"]
        assert {p["name"]: p["containerPort"] for p in ports} == {
            "gcs-server": 6379,
            "dashboard": 8265,
            "client": 10001,
            "serve": 8000,
            "metrics": 8080,
            "as-metrics": 44217,
            "dash-metrics": 44227,
        }

    def test_should_keep_serve_replicas_off_the_head_when_rendered_with_defaults(self):
        assert _cluster()["headGroupSpec"]["rayStartParams"] == {"num-cpus": "0"}

    def test_should_let_the_head_run_replicas_when_the_local_preset_has_no_workers(self):
        cluster = _cluster(LOCAL)
        assert cluster["headGroupSpec"]["rayStartParams"] == {}
        assert cluster["workerGroupSpecs"] == []

    def test_should_request_no_gpu_for_the_head_when_rendered(self):
        resources = _container(_cluster()["headGroupSpec"]["template"])["resources"]
        assert resources == {
            "requests": {"cpu": "4", "memory": "16Gi"},
            "limits": {"cpu": "4", "memory": "16Gi"},
        }

    def test_should_label_the_head_service_for_the_service_monitor_when_rendered(self):
        labels = _cluster()["headGroupSpec"]["headService"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == "ray-head"
        assert labels["app.kubernetes.io/instance"] == "llm"

    def test_should_pin_the_head_to_the_cpu_pool_when_the_head_pool_is_enabled(self):
        spec = _cluster(TP70B)["headGroupSpec"]["template"]["spec"]
        assert spec["nodeSelector"] == {"karpenter.sh/nodepool": "llm-ray-vllm-head"}

    def test_should_run_as_non_root_with_no_capabilities_when_rendered(self):
        template = _cluster()["headGroupSpec"]["template"]
        assert template["spec"]["securityContext"]["runAsNonRoot"] is True
        assert template["spec"]["automountServiceAccountToken"] is False
        assert template["spec"]["serviceAccountName"] == "llm-ray-vllm"
        security = _container(template)["securityContext"]
        assert security == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


class TestServeRuntime:
    def test_should_keep_serve_code_and_routers_on_the_replica_loop_when_rendered_with_defaults(self):
        cluster = _cluster((VALUES_DIR / "g6e-multi-model.yaml",))
        templates = [cluster["headGroupSpec"]["template"]] + [
            g["template"] for g in cluster["workerGroupSpecs"]
        ]
        for template in templates:
            env = _container(template)["env"]
            assert [e for e in env if e["name"].startswith("RAY_SERVE_")] == SERVE_RUNTIME_ENV

    def test_should_restore_rays_defaults_when_all_four_are_switched_back(self):
        values = {
            "serveRuntime.userCodeInSeparateThread": True,
            "serveRuntime.routerInSeparateLoop": True,
            "serveRuntime.grpcHandles": False,
            "serveRuntime.autoscalingRecordIntervalFactor": 0.2,
        }
        env = {
            e["name"]: e.get("value")
            for e in _container(_cluster(set_values=values)["headGroupSpec"]["template"])["env"]
        }
        assert env["RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD"] == "1"
        assert env["RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP"] == "1"
        assert env["RAY_SERVE_USE_GRPC_BY_DEFAULT"] == "0"
        assert env["RAY_SERVE_AUTOSCALING_METRIC_RECORD_INTERVAL_FACTOR"] == "0.2"


class TestRayWorkerGroups:
    def test_should_render_one_worker_group_per_gpu_pool_when_the_g6e_preset_is_used(self):
        groups = _cluster(G6E)["workerGroupSpecs"]
        assert [(g["groupName"], g["minReplicas"], g["maxReplicas"], g["replicas"]) for g in groups] == [
            ("l40s-1x", 1, 10, 1),
            ("l40s-4x", 0, 2, 0),
        ]

    def test_should_request_the_pools_gpus_per_pod_when_rendered(self):
        groups = _cluster(G6E)["workerGroupSpecs"]
        resources = [_container(g["template"])["resources"] for g in groups]
        assert resources[1] == {
            "requests": {"cpu": "44", "memory": "360Gi", "nvidia.com/gpu": 4},
            "limits": {"cpu": "44", "memory": "360Gi", "nvidia.com/gpu": 4},
        }
        assert jmespath.search('[*].limits."nvidia.com/gpu"', resources) == [1, 4]

    def test_should_pin_workers_to_their_karpenter_pool_and_tolerate_the_gpu_taint_when_karpenter_is_on(self):
        spec = _cluster(G6E)["workerGroupSpecs"][0]["template"]["spec"]
        assert spec["nodeSelector"] == {"karpenter.sh/nodepool": "llm-ray-vllm-l40s-flex"}
        assert spec["tolerations"] == [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]

    def test_should_not_select_a_karpenter_pool_when_karpenter_is_off(self):
        spec = _cluster()["workerGroupSpecs"][0]["template"]["spec"]
        assert "nodeSelector" not in spec

    def test_should_mount_shared_memory_sized_from_values_when_rendered(self):
        spec = _cluster(G6E)["workerGroupSpecs"][1]["template"]["spec"]
        assert spec["volumes"][0] == {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "64Gi"}}
        assert {"name": "dshm", "mountPath": "/dev/shm"} in _container({"spec": spec})["volumeMounts"]

    def test_should_mark_workers_do_not_disrupt_so_karpenter_never_evicts_busy_gpu_nodes(self):
        for group in _cluster(G6E)["workerGroupSpecs"]:
            assert group["template"]["metadata"]["annotations"] == {"karpenter.sh/do-not-disrupt": "true"}

    def test_should_drain_the_ray_node_before_the_pod_stops_when_rendered_with_defaults(self):
        for group in _cluster(G6E)["workerGroupSpecs"]:
            spec = group["template"]["spec"]
            assert spec["terminationGracePeriodSeconds"] == 115
            assert _container(group["template"])["lifecycle"] == {
                "preStop": {
                    "exec": {"command": ["python", "-m", "serve_app.node_drain", "--deadline-s", "100"]}
                }
            }

    def test_should_take_the_drain_deadline_and_grace_from_values_when_set(self):
        group = _cluster(
            G6E, {"workerDrain.deadlineSeconds": 60, "workerDrain.terminationGracePeriodSeconds": 90}
        )["workerGroupSpecs"][0]
        assert group["template"]["spec"]["terminationGracePeriodSeconds"] == 90
        assert _container(group["template"])["lifecycle"]["preStop"]["exec"]["command"][-1] == "60"

    def test_should_leave_kubernetes_defaults_when_the_drain_is_off(self):
        group = _cluster(G6E, {"workerDrain.enabled": False})["workerGroupSpecs"][0]
        assert "terminationGracePeriodSeconds" not in group["template"]["spec"]
        assert "lifecycle" not in _container(group["template"])

    def test_should_pass_secrets_by_reference_only_when_secrets_are_named(self):
        env = _container(_cluster(G6E)["workerGroupSpecs"][0]["template"])["env"]
        assert env == [
            {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}},
            {
                "name": "RAY_VLLM_API_KEYS",
                "valueFrom": {"secretKeyRef": {"name": "llm-api-keys", "key": "keys"}},
            },
            *SERVE_RUNTIME_ENV,
        ]

    def test_should_append_extra_env_after_the_secret_references_when_given(self):
        env = _container(
            _cluster(set_values={"extraEnv": [{"name": "VLLM_LOGGING_LEVEL", "value": "DEBUG"}]})[
                "workerGroupSpecs"
            ][0]["template"]
        )["env"]
        assert env == [*SERVE_RUNTIME_ENV, {"name": "VLLM_LOGGING_LEVEL", "value": "DEBUG"}]

    def test_should_pull_with_the_named_secrets_in_every_ray_pod_when_given(self):
        cluster = _cluster(set_values={"imagePullSecrets": [{"name": "ghcr"}]})
        pods = [cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]
        assert [pod["spec"]["imagePullSecrets"] for pod in pods] == [[{"name": "ghcr"}]] * 2

    def test_should_use_the_image_digest_when_one_is_given(self):
        digest = "sha256:" + "a" * 64
        container = _container(
            _cluster(set_values={"image.digest": digest})["workerGroupSpecs"][0]["template"]
        )
        assert container["image"] == f"ghcr.io/ray-vllm/serve-app@{digest}"
