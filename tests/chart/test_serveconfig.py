"""templates/_serveconfig.tpl: serveConfigV2 follows docs/contract.md: names, import paths, args."""

import jmespath
import pytest
from pydantic import ValidationError

from devkit.helm import HelmRenderError, render_chart
from devkit.presets import PRESETS, RAYSERVICE_PRESETS, VALUES_DIR
from serve_app.config import (
    BATCH_DEPLOYMENT,
    GATEWAY_DEPLOYMENT,
    BatchArgs,
    GatewayArgs,
    ModelArgs,
    llm_deployment_name,
)

G6E = (VALUES_DIR / "g6e-multi-model.yaml",)
LOCAL = (VALUES_DIR / "local-cpu.yaml",)


def _config(values_files=(), set_values=None) -> dict:
    return render_chart(values_files, set_values).serve_config


def _app(config: dict, name: str) -> dict:
    (app,) = [a for a in config["applications"] if a["name"] == name]
    return app


def _deployment(app: dict, name: str) -> dict:
    (deployment,) = [d for d in app["deployments"] if d["name"] == name]
    return deployment


class TestServeApplications:
    def test_should_deploy_the_gateway_app_at_root_when_rendered_with_defaults(self):
        config = _config()
        assert jmespath.search("applications[*].[name, route_prefix, import_path]", config) == [
            ["llm", "/", "serve_app.apps:build_gateway_app"],
        ]

    def test_should_add_the_rag_and_agent_apps_at_their_prefixes_when_they_are_enabled(self):
        config = _config(LOCAL)
        assert jmespath.search("applications[*].[name, route_prefix, import_path]", config) == [
            ["llm", "/", "serve_app.apps:build_gateway_app"],
            ["rag", "/rag", "serve_app.apps:build_rag_app"],
            ["agent", "/agent", "serve_app.apps:build_agent_app"],
        ]

    @pytest.mark.parametrize("preset", sorted(RAYSERVICE_PRESETS))
    def test_should_name_one_llmserver_deployment_per_model_plus_the_gateway_when_a_preset_is_rendered(
        self, preset
    ):
        rendered = render_chart(PRESETS[preset])
        models = jmespath.search("applications[0].args.models[*].name", rendered.serve_config)
        batcher = (
            [BATCH_DEPLOYMENT] if jmespath.search("applications[0].args.batch", rendered.serve_config) else []
        )
        expected = [GATEWAY_DEPLOYMENT] + [llm_deployment_name(m) for m in models] + batcher
        assert jmespath.search("applications[0].deployments[*].name", rendered.serve_config) == expected

    def test_should_keep_the_rendered_string_and_the_parsed_config_identical_when_parsed_again(self):
        rendered = render_chart(LOCAL)
        assert rendered.serve_config_text.startswith("applications:\n")
        assert rendered.serve_config["applications"][0]["name"] == "llm"


class TestGatewayArgs:
    def test_should_pass_models_with_camelcase_fields_and_no_chart_only_keys_when_rendered(self):
        args = _app(_config(G6E), "llm")["args"]
        assert args["models"][2] == {
            "name": "qwen2.5-32b",
            "source": "Qwen/Qwen2.5-32B-Instruct",
            "tokenizerSource": None,
            "tensorParallelSize": 2,
            "accelerator": "L40S",
            "engine": {
                "maxModelLen": 16384,
                "gpuMemoryUtilization": 0.92,
                "dtype": "auto",
                "enforceEager": False,
                "maxNumSeqs": 256,
                "schedulingPolicy": "priority",
                "toolCallParser": "hermes",
                "enableAutoToolChoice": True,
                "reasoningParser": None,
                "chatTemplate": None,
                "extraArgs": {},
            },
            "lora": None,
            "streamIntervalMs": 50,
        }

    def test_should_merge_engine_overrides_over_model_defaults_when_a_model_sets_some_keys(self):
        models = _app(_config(LOCAL), "llm")["args"]["models"]
        assert models[0]["engine"] == {
            "maxModelLen": 512,
            "gpuMemoryUtilization": 0.9,
            "dtype": "float32",
            "enforceEager": True,
            "maxNumSeqs": 8,
            "schedulingPolicy": "priority",
            "toolCallParser": "llama3_json",
            "enableAutoToolChoice": True,
            "reasoningParser": None,
            "chatTemplate": None,
            "extraArgs": {
                "kv_cache_memory_bytes": 268435456,
                "structured_outputs_config": {"backend": "xgrammar", "disable_any_whitespace": True},
            },
        }

    def test_should_name_the_secret_env_vars_only_when_their_secrets_are_set(self):
        assert _app(_config(), "llm")["args"] | {"models": None} == {
            "models": None,
            "hfTokenEnv": "HF_TOKEN",
            "apiKeysEnv": "",
            "maxBodyBytes": 1048576,
            "streamIdleTimeoutS": 60,
            "responseTimeoutS": 300,
        }
        assert _app(_config(G6E), "llm")["args"]["apiKeysEnv"] == "RAY_VLLM_API_KEYS"

    def test_should_pass_the_backstop_timeouts_to_the_gateway_when_set(self):
        values = {"gateway.streamIdleTimeoutS": 15, "gateway.responseTimeoutS": 120.5}
        args = GatewayArgs.model_validate(_app(_config(set_values=values), "llm")["args"])
        assert (args.stream_idle_timeout_s, args.response_timeout_s) == (15, 120.5)

    def test_should_pass_lora_settings_through_when_a_model_has_adapters(self):
        lora = {"dynamicLoraLoadingPath": "s3://adapters/llama", "maxNumAdaptersPerReplica": 4}
        args = _app(_config(G6E, set_values={"models[0].lora": lora}), "llm")["args"]
        assert args["models"][0]["lora"] == lora


STREAM_INTERVAL_REFUSAL = "at '/models/0/streamIntervalMs'"
# (a model's streamIntervalMs, the chart's refusal or None): the schema and the app's args agree.
STREAM_INTERVAL_CASES = [
    (0, None),
    (12.5, None),
    (1000, None),
    (-1, STREAM_INTERVAL_REFUSAL),
    (1001, STREAM_INTERVAL_REFUSAL),
    ("fast", STREAM_INTERVAL_REFUSAL),
]


class TestStreamInterval:
    def test_should_give_every_model_the_default_when_none_sets_its_own(self):
        models = _app(_config(LOCAL), "llm")["args"]["models"]
        assert [m["streamIntervalMs"] for m in models] == [50, 50]

    def test_should_take_a_models_own_interval_over_the_default_when_it_sets_one(self):
        values = {"modelDefaults.streamIntervalMs": 20, "models[1].streamIntervalMs": 5}
        models = _app(_config(LOCAL, values), "llm")["args"]["models"]
        assert [m["streamIntervalMs"] for m in models] == [20, 5]

    def test_should_keep_zero_when_a_model_turns_stream_batching_off(self):
        models = _app(_config(LOCAL, {"models[0].streamIntervalMs": 0}), "llm")["args"]["models"]
        assert [m["streamIntervalMs"] for m in models] == [0, 50]

    def test_should_refuse_a_null_default_when_installing(self):
        with pytest.raises(HelmRenderError, match="streamIntervalMs"):
            _config(LOCAL, {"modelDefaults.streamIntervalMs": None})

    @pytest.mark.parametrize(
        ("interval", "refusal"), STREAM_INTERVAL_CASES, ids=[str(c[0]) for c in STREAM_INTERVAL_CASES]
    )
    def test_should_agree_with_the_app_on_the_interval_when_a_model_sets_it(self, interval, refusal):
        values = {"models[0].streamIntervalMs": interval}
        if refusal is None:
            args = GatewayArgs.model_validate(_app(_config(LOCAL, values), "llm")["args"])
            assert args.models[0].stream_interval_ms == interval
            return
        with pytest.raises(HelmRenderError) as refused:
            _config(LOCAL, values)
        assert refusal in str(refused.value)
        model = {"name": "m", "source": "./m", "accelerator": "cpu", "streamIntervalMs": interval}
        with pytest.raises(ValidationError, match="streamIntervalMs"):
            ModelArgs.model_validate(model)


class TestGatewayDeployment:
    def test_should_put_routing_in_the_gateway_user_config_when_routes_are_set(self):
        gateway = _deployment(_app(_config(LOCAL), "llm"), "OpenAiGateway")
        assert gateway["user_config"] == {
            "aliases": {"chat": "tiny"},
            "sizeTiers": {"small": "tiny", "large": "tiny-b"},
            "canaries": [
                {
                    "name": "tiny-canary",
                    "stickyHeader": "x-user-id",
                    "arms": [{"model": "tiny", "weight": 90}, {"model": "tiny-b", "weight": 10}],
                }
            ],
        }

    def test_should_carry_gateway_autoscaling_numbers_through_when_rendered_with_defaults(self):
        gateway = _deployment(_app(_config(), "llm"), "OpenAiGateway")
        assert gateway["autoscaling_config"] == {
            "min_replicas": 1,
            "max_replicas": 4,
            "target_ongoing_requests": 64,
            "upscale_delay_s": 10,
            "downscale_delay_s": 300,
        }
        assert "num_replicas" not in gateway
        assert (gateway["max_ongoing_requests"], gateway["max_queued_requests"]) == (256, 1024)
        assert gateway["ray_actor_options"] == {"num_cpus": 1}


class TestModelDeployments:
    def test_should_carry_autoscaling_numbers_through_when_a_model_overrides_some(self):
        deployment = _deployment(_app(_config(G6E), "llm"), "LLMServer:qwen2_5-32b")
        assert deployment["autoscaling_config"] == {
            "min_replicas": 0,
            "max_replicas": 4,
            "initial_replicas": 1,
            "target_ongoing_requests": 16,
            "upscale_delay_s": 30,
            "downscale_delay_s": 600,
        }
        assert deployment["max_ongoing_requests"] == 32
        assert deployment["max_queued_requests"] == 256

    def test_should_render_optional_autoscaling_knobs_only_when_they_are_set(self):
        config = _config(
            set_values={
                "modelDefaults.deployment.autoscaling.upscalingFactor": 2,
                "modelDefaults.deployment.autoscaling.downscalingFactor": 0.5,
                "modelDefaults.deployment.autoscaling.lookBackPeriodS": 60,
            }
        )
        autoscaling = _deployment(_app(config, "llm"), "LLMServer:llama-3-8b")["autoscaling_config"]
        assert autoscaling == {
            "min_replicas": 1,
            "max_replicas": 2,
            "target_ongoing_requests": 32,
            "upscale_delay_s": 30,
            "downscale_delay_s": 600,
            "look_back_period_s": 60,
            "upscaling_factor": 2,
            "downscaling_factor": 0.5,
        }

    def test_should_use_fixed_replicas_when_autoscaling_is_off(self):
        deployment = _deployment(_app(_config(LOCAL), "llm"), "LLMServer:tiny")
        # min = max, not num_replicas: Ray Serve LLM's own autoscaling_config would override num_replicas.
        assert deployment["autoscaling_config"] == {"min_replicas": 1, "max_replicas": 1}
        assert "num_replicas" not in deployment

    def test_should_give_a_tensor_parallel_replica_one_gpu_bundle_per_shard_on_its_worker_group(self):
        deployment = _deployment(_app(_config(G6E), "llm"), "LLMServer:qwen2_5-32b")
        assert deployment["placement_group_bundles"] == [
            {"CPU": 1, "GPU": 1, "accelerator_type:L40S": 0.001},
            {"GPU": 1, "accelerator_type:L40S": 0.001},
        ]
        assert deployment["placement_group_strategy"] == "STRICT_PACK"
        assert deployment["placement_group_bundle_label_selector"] == [{"ray.io/node-group": "l40s-4x"}] * 2

    def test_should_give_four_gpus_to_each_replica_when_the_70b_preset_uses_tensor_parallel_4(self):
        config = _config((VALUES_DIR / "llama-70b-tp.yaml",))
        deployment = _deployment(_app(config, "llm"), "LLMServer:llama-3_3-70b")
        assert sum(bundle.get("GPU", 0) for bundle in deployment["placement_group_bundles"]) == 4
        assert deployment["placement_group_bundles"][0]["CPU"] == 4

    def test_should_place_cpu_models_without_gpus_or_node_group_when_the_accelerator_is_cpu(self):
        deployment = _deployment(_app(_config(LOCAL), "llm"), "LLMServer:tiny")
        assert deployment["placement_group_bundles"] == [{"CPU": 2}]
        assert "placement_group_bundle_label_selector" not in deployment


class TestRagApplication:
    def test_should_pass_rag_args_with_the_gateway_as_its_llm_when_rag_is_enabled(self):
        args = _app(_config(LOCAL), "rag")["args"]
        assert args | {"promptTemplate": None} == {
            "embeddingModel": "all-MiniLM-L6-v2",
            "milvus": {"uri": "/tmp/ray-vllm-rag.db", "collection": "docs", "tokenEnv": ""},
            "llm": {"app": "llm", "model": "chat"},
            "topK": 2,
            "scoreThreshold": 0.2,
            "promptTemplate": None,
            "apiKeysEnv": "",
        }
        assert "{context}" in args["promptTemplate"] and "{question}" in args["promptTemplate"]

    def test_should_name_the_secret_envs_and_scale_the_embedder_when_the_rag_preset_is_used(self):
        app = _app(_config((VALUES_DIR / "rag.yaml",)), "rag")
        assert app["args"]["milvus"]["tokenEnv"] == "MILVUS_TOKEN"
        assert app["args"]["apiKeysEnv"] == "RAY_VLLM_API_KEYS"
        assert [d["name"] for d in app["deployments"]] == ["RagIngress", "Embedder"]
        assert _deployment(app, "Embedder")["autoscaling_config"]["max_replicas"] == 4
        assert _deployment(app, "Embedder")["ray_actor_options"] == {"num_cpus": 2}


class TestAgentApp:
    def test_should_pass_the_limits_tools_and_model_to_the_agent_when_enabled(self):
        args = _app(_config(LOCAL, {"agent.http.allowedHosts": ["docs.ray.io"]}), "agent")["args"]
        assert args == {
            "llm": {"app": "llm", "model": "chat"},
            "ragApp": "rag",
            "topK": 2,
            "limits": {
                "maxSteps": 6,
                "maxTokens": 4096,
                "maxTokensPerCall": 48,
                "wallTimeS": 120,
                "toolTimeS": 20,
            },
            "http": {"allowedHosts": ["docs.ray.io"], "maxBytes": 65536},
            "systemPrompt": (
                "You are an assistant that completes the user's task step by step. Use the tools when they "
                "help; when you have the answer, reply with it and call no tool."
            ),
            "apiKeysEnv": "",
        }

    @pytest.mark.parametrize(
        "preset", sorted(p for p, files in RAYSERVICE_PRESETS.items() if files[0] != LOCAL[0])
    )
    def test_should_deploy_no_agent_when_a_gpu_preset_is_rendered(self, preset):
        assert "agent" not in [app["name"] for app in _config(RAYSERVICE_PRESETS[preset])["applications"]]

    def test_should_offer_no_retrieval_when_rag_is_off(self):
        args = _app(_config(LOCAL, {"rag.enabled": False}), "agent")["args"]
        assert (args["ragApp"], args["http"]["allowedHosts"]) == ("", [])

    def test_should_size_the_agent_deployment_from_its_block_when_rendered(self):
        [deployment] = _app(_config(LOCAL), "agent")["deployments"]
        assert deployment | {"ray_actor_options": None} == {
            "name": "AgentIngress",
            "num_replicas": 1,
            "max_ongoing_requests": 64,
            "max_queued_requests": 256,
            "ray_actor_options": None,
            "health_check_period_s": 10,
            "health_check_timeout_s": 30,
            "graceful_shutdown_timeout_s": 30,
        }

    def test_should_validate_as_the_apps_args_when_the_builder_reads_them(self):
        from serve_app.config import AgentArgs

        args = AgentArgs.model_validate(_app(_config(LOCAL), "agent")["args"])
        assert (args.llm.model, args.rag_app, args.limits.max_steps) == ("chat", "rag", 6)


BATCH_ON = {"batch.enabled": True, "batch.storage": "/tmp/batch"}
SCHEMA_REFUSAL = "at '/batch/storage'"  # Helm names the key and the pattern
# batch.storage with batch on: what the chart says (None: it renders), for the chart and pydantic alike.
STORAGE_CASES = [
    ("s3://my-bucket/batches", None),
    ("s3://my-bucket", None),
    ("s3://my.bucket-1/a/b?region=eu-west-1", None),
    ("/data/batch", None),
    ("", "batch.storage: batch.enabled needs a place for files and batch records"),
    ("data/batch", SCHEMA_REFUSAL),
    ("s3://My_Bucket/x", SCHEMA_REFUSAL),
    ("s3://ab/x", SCHEMA_REFUSAL),
    ("https://bucket.s3.amazonaws.com/x", SCHEMA_REFUSAL),
]


class TestBatchApi:
    def test_should_pass_the_storage_and_limits_to_the_gateway_when_enabled(self):
        args = _app(_config(LOCAL, BATCH_ON | {"batch.concurrency": 2}), "llm")["args"]
        assert args["batch"] == {
            "storage": "/tmp/batch",
            "maxFileBytes": 104857600,
            "maxLines": 50000,
            "maxInProgress": 4,
            "concurrency": 2,
            "retryAttempts": 5,
            "retryWaitS": 2,
            "modelStartWaitS": 1800,
            "priority": 10,
            "yieldQuietS": 2,
            "yieldMaxS": 60,
        }

    def test_should_run_one_batcher_replica_when_enabled(self):
        deployments = _app(_config(LOCAL, BATCH_ON | {"batch.numCpus": 0.25}), "llm")["deployments"]
        assert [d for d in deployments if d["name"] == BATCH_DEPLOYMENT] == [
            {"name": BATCH_DEPLOYMENT, "num_replicas": 1, "ray_actor_options": {"num_cpus": 0.25}}
        ]

    def test_should_serve_no_batch_api_when_disabled(self):
        llm = _app(_config(LOCAL, {"batch.enabled": False}), "llm")
        assert "batch" not in llm["args"] and BATCH_DEPLOYMENT not in [d["name"] for d in llm["deployments"]]

    @pytest.mark.parametrize(
        ("storage", "refusal"), STORAGE_CASES, ids=[c[0] or "empty" for c in STORAGE_CASES]
    )
    def test_should_agree_with_the_app_on_the_storage_when_it_is_set(self, storage, refusal):
        values = BATCH_ON | {"batch.storage": storage}
        if refusal is None:
            args = GatewayArgs.model_validate(_app(_config(LOCAL, values), "llm")["args"])
            assert args.batch.storage == storage
            return
        with pytest.raises(HelmRenderError) as refused:
            _config(LOCAL, values)
        assert refusal in str(refused.value)
        with pytest.raises(ValidationError, match="storage"):
            BatchArgs.model_validate({"storage": storage})

    def test_should_validate_as_the_apps_args_when_the_builder_reads_them(self):
        args = GatewayArgs.model_validate(_app(_config(LOCAL, BATCH_ON), "llm")["args"])
        assert (args.batch.storage, args.batch.max_lines) == ("/tmp/batch", 50000)
