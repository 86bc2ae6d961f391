"""templates/standalone-deployment.yaml: in standalone mode each model is a Deployment of vLLM's own
OpenAI server, started with the engine settings Ray Serve LLM gets from the same values."""

import pytest

from devkit.helm import render_chart
from devkit.presets import PRESETS, VALUES_DIR
from serve_app.config import GatewayArgs
from serve_app.llm import resolve_path, to_llm_config

STANDALONE = (VALUES_DIR / "standalone-g6e.yaml",)
LOCAL = PRESETS["local-cpu-standalone"]
SELECTOR = {
    "app.kubernetes.io/name": "ray-vllm",
    "app.kubernetes.io/instance": "llm",
    "app.kubernetes.io/component": "vllm-server",
    "ray-vllm/model": "llama-3-1-8b",
}
# Engine values beyond the presets: every kind of value a flag can take.
ENGINE_CASES = {
    "typed": {"maxModelLen": 4096, "gpuMemoryUtilization": 0.85, "dtype": "bfloat16", "maxNumSeqs": 3},
    "eager-on": {"enforceEager": True},
    "tools-and-reasoning": {
        "toolCallParser": "llama3_json",
        "enableAutoToolChoice": True,
        "reasoningParser": "deepseek_r1",
        "chatTemplate": "{% for m in messages %}{{ m['content'] }}{% endfor %}",
    },
    "extra-scalars": {"extraArgs": {"kv_cache_memory_bytes": 268435456, "seed": 7, "cpu_offload_gb": 1.5}},
    "extra-bools": {"extraArgs": {"enable_prefix_caching": False, "enable_chunked_prefill": True}},
    "extra-string-and-dict": {
        "extraArgs": {
            "quantization": "fp8",
            "hf_overrides": {"rope_scaling": {"rope_type": "dynamic", "factor": 2.0}},
        }
    },
    "extra-list": {
        "extraArgs": {
            "allowed_media_domains": ["a.example", "b.example"],
            "cudagraph_capture_sizes": [1, 2, 4],
        }
    },
}


def _container(rendered) -> dict:
    return rendered.get("Deployment")["spec"]["template"]["spec"]["containers"][0]


def _parse(args: list[str]):
    """vLLM's own command-line parser of `python -m vllm.entrypoints.openai.api_server`."""
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    return make_arg_parser(FlexibleArgumentParser()).parse_args(args)


def _rayservice_configs(values_files, set_values) -> list:
    """What Ray Serve LLM starts each model with when the same values render in rayservice mode."""
    rendered = render_chart(values_files, {**set_values, "mode": "rayservice"})
    args = GatewayArgs.model_validate(rendered.serve_config["applications"][0]["args"])
    return [to_llm_config(model, hf_token_env=args.hf_token_env) for model in args.models]


def _standalone_args(values_files, set_values) -> list[list[str]]:
    rendered = render_chart(values_files, {**set_values, "mode": "standalone"})
    return [d["spec"]["template"]["spec"]["containers"][0]["args"] for d in rendered.of_kind("Deployment")]


def _assert_same_engine(values_files, set_values):
    """Every engine argument, model and name Ray Serve LLM gets, vLLM's parser reads from the flags."""
    configs = _rayservice_configs(values_files, set_values)
    flags = _standalone_args(values_files, set_values)
    assert len(flags) == len(configs)
    for config, args in zip(configs, flags, strict=True):
        parsed = _parse(args)
        # A `./` path is the pod's working directory to vLLM, $MODEL_ROOT to serve_app (make serve: the same).
        assert resolve_path(parsed.model) == config.model_loading_config.model_source
        assert parsed.served_model_name == [config.model_loading_config.model_id]
        engine = {key: getattr(parsed, key) for key in config.engine_kwargs}
        if "tokenizer" in engine:
            engine["tokenizer"] = resolve_path(engine["tokenizer"])
        assert engine == {key: _as_parsed(engine[key], value) for key, value in config.engine_kwargs.items()}


def _as_parsed(parsed, kwarg):
    """vLLM's parser turns a JSON flag such as --structured-outputs-config into its config class;
    the same class built from the kwarg's dict compares equal when the flag carried the same values."""
    return type(parsed)(**kwarg) if isinstance(kwarg, dict) and not isinstance(parsed, dict) else kwarg


class TestDeployment:
    def test_should_run_vllms_openai_server_with_the_models_flags_when_standalone(self):
        container = _container(render_chart(STANDALONE))
        assert container["command"] == ["python", "-m", "vllm.entrypoints.openai.api_server"]
        assert container["args"] == [
            "--model", "meta-llama/Llama-3.1-8B-Instruct", "--served-model-name", "llama-3.1-8b",
            "--host", "0.0.0.0", "--port", "8000", "--disable-uvicorn-access-log",
            "--tensor-parallel-size", "1",
            "--dtype", "auto", "--enable-auto-tool-choice", "--no-enforce-eager",
            "--gpu-memory-utilization", "0.9", "--max-model-len", "16384", "--max-num-seqs", "256",
            "--scheduling-policy", "priority", "--tool-call-parser", "llama3_json",
        ]  # fmt: skip

    def test_should_keep_vllms_access_log_when_asked(self):
        args = _container(render_chart(STANDALONE, {"standalone.accessLog": True}))["args"]
        assert "--disable-uvicorn-access-log" not in args
        assert args[:8] == [
            "--model",
            "meta-llama/Llama-3.1-8B-Instruct",
            "--served-model-name",
            "llama-3.1-8b",
            "--host",
            "0.0.0.0",
            "--port",
            "8000",
        ]

    def test_should_size_the_pod_by_its_worker_group_when_standalone(self):
        rendered = render_chart(STANDALONE)
        pod = rendered.get("Deployment")["spec"]["template"]["spec"]
        assert pod["containers"][0]["resources"] == {
            "requests": {"cpu": "7", "memory": "56Gi", "nvidia.com/gpu": 1},
            "limits": {"cpu": "7", "memory": "56Gi", "nvidia.com/gpu": 1},
        }
        assert pod["nodeSelector"] == {"karpenter.sh/nodepool": "llm-ray-vllm-l40s-flex"}
        assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
        assert pod["volumes"][0] == {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}

    def test_should_request_no_gpu_when_the_model_runs_on_cpu(self):
        pod = render_chart(LOCAL).get("Deployment")["spec"]["template"]["spec"]
        assert pod["containers"][0]["resources"]["limits"] == {"cpu": "14", "memory": "100Gi"}
        assert "tolerations" not in pod and "nodeSelector" not in pod

    def test_should_probe_vllms_health_endpoint_within_the_startup_budget_when_standalone(self):
        container = _container(render_chart(STANDALONE, {"standalone.probes.startupSeconds": 601}))
        health = {"httpGet": {"path": "/health", "port": "http"}, "timeoutSeconds": 5}
        assert container["startupProbe"] == health | {"periodSeconds": 10, "failureThreshold": 61}
        assert container["readinessProbe"] == health | {"periodSeconds": 10, "failureThreshold": 3}
        assert container["livenessProbe"] == container["readinessProbe"]

    def test_should_read_the_token_and_the_api_key_from_their_secrets_when_given(self):
        container = _container(render_chart(STANDALONE, {"extraEnv": [{"name": "X", "value": "1"}]}))
        assert container["env"] == [
            {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}},
            {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "llm-api-key", "key": "key"}}},
            {"name": "X", "value": "1"},
        ]

    def test_should_leave_the_count_to_the_autoscaler_when_autoscaling(self):
        spec = render_chart(STANDALONE).get("Deployment")["spec"]
        assert "replicas" not in spec
        assert spec["selector"] == {"matchLabels": SELECTOR}
        assert spec["template"]["metadata"]["labels"].items() >= SELECTOR.items()

    def test_should_keep_serving_during_an_upgrade_when_rolled(self):
        strategy = render_chart(STANDALONE).get("Deployment")["spec"]["strategy"]
        assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}

    def test_should_set_the_fixed_count_when_autoscaling_is_off(self):
        spec = render_chart(LOCAL, {"models[0].deployment.numReplicas": 3}).get("Deployment")["spec"]
        assert spec["replicas"] == 3

    def test_should_render_one_deployment_per_model_without_ray_when_standalone(self):
        two = [
            {"name": "a/B.1", "source": "./m", "accelerator": "cpu"},
            {"name": "c", "source": "./m", "accelerator": "cpu"},
        ]
        rendered = render_chart(LOCAL, {"models": two})
        assert [d["metadata"]["name"] for d in rendered.of_kind("Deployment")] == [
            "llm-ray-vllm-vllm-a-b-1",
            "llm-ray-vllm-vllm-c",
        ]
        assert rendered.of_kind("RayService") == []

    def test_should_render_no_deployment_when_rayservice(self):
        assert render_chart().of_kind("Deployment") == []


class TestEngineFlags:
    @pytest.mark.parametrize("preset", ["standalone-g6e", "local-cpu-standalone", "local-cpu-chaos"])
    def test_should_give_vllm_the_engine_ray_serve_llm_gets_when_a_preset_is_rendered(self, preset):
        single_model = {
            "routing.aliases": None,
            "routing.sizeTiers": None,
            "routing.canaries": None,
            "rag.enabled": False,
            "agent.enabled": False,
            "batch.enabled": False,
        }
        _assert_same_engine(PRESETS[preset], single_model)

    @pytest.mark.parametrize("engine", list(ENGINE_CASES.values()), ids=list(ENGINE_CASES))
    def test_should_give_vllm_the_engine_ray_serve_llm_gets_when_engine_values_are_set(self, engine):
        _assert_same_engine(LOCAL, {"models[0].engine": engine, "models[0].tokenizerSource": "./tok"})
