"""Application args (docs/contract.md) → pydantic validation → Ray Serve LLM's LLMConfig; no Ray cluster.

Rules the chart checks too (model names, routing) are tested in every layer by tests/test_rules.py.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from pydantic import ValidationError
from ray.serve.llm import CloudMirrorConfig

from serve_app.config import GatewayArgs, ModelArgs, RagArgs
from serve_app.llm import HF_TOKEN, ReplicaInit, to_llm_config

# The example of docs/contract.md, as the chart renders it.
CONTRACT_MODEL = {
    "name": "llama-3-8b",
    "source": "meta-llama/Llama-3.1-8B-Instruct",
    "tokenizerSource": None,
    "tensorParallelSize": 1,
    "accelerator": "L40S",
    "engine": {
        "maxModelLen": 8192,
        "gpuMemoryUtilization": 0.9,
        "dtype": "auto",
        "enforceEager": False,
        "maxNumSeqs": 256,
        "toolCallParser": None,
        "enableAutoToolChoice": False,
        "reasoningParser": None,
        "chatTemplate": None,
        "extraArgs": {},
    },
    "lora": None,
}
CONTRACT_RAG = {
    "embeddingModel": "all-MiniLM-L6-v2",
    "milvus": {"uri": "/tmp/rag.db", "collection": "docs", "tokenEnv": ""},
    "llm": {"app": "llm", "model": "chat"},
    "topK": 4,
    "scoreThreshold": 0.2,
    "promptTemplate": "Context: {context}\nQuestion: {question}",
}


def model(**overrides) -> ModelArgs:
    return ModelArgs.model_validate({**CONTRACT_MODEL, **overrides})


def error_locations(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in err["loc"]) for err in exc.errors()}


class TestGatewayArgs:
    def test_should_accept_the_contract_example_when_validated(self) -> None:
        args = GatewayArgs.model_validate(
            {"models": [CONTRACT_MODEL], "hfTokenEnv": "HF_TOKEN", "apiKeysEnv": "", "maxBodyBytes": 1048576}
        )
        assert args.models[0].deployment_name == "LLMServer:llama-3-8b"

    @pytest.mark.parametrize(
        ("change", "location"),
        [
            ({"engine": {"maxModelLen": 0}}, "models.0.engine.maxModelLen"),
            ({"engine": {"gpuMemoryUtilization": 1.5}}, "models.0.engine.gpuMemoryUtilization"),
            ({"engine": {"dtype": "int3"}}, "models.0.engine.dtype"),
            ({"engine": {"max_model_len": 512}}, "models.0.engine.max_model_len"),
            ({"engine": {"extraArgs": {"not_a_vllm_arg": 1}}}, "models.0.engine.extraArgs"),
            ({"engine": {"extraArgs": {"max_model_len": 512}}}, "models.0.engine.extraArgs"),
            ({"accelerator": "L41S"}, "models.0.accelerator"),
            ({"source": "http://example.com/model"}, "models.0.source"),
            ({"source": "s3://"}, "models.0.source"),
            ({"tokenizerSource": "s3://bucket/tok"}, "models.0.tokenizerSource"),
            ({"tensorParallelSize": 0}, "models.0.tensorParallelSize"),
            ({"lora": {"dynamicLoraLoadingPath": "/local/adapters"}}, "models.0.lora.dynamicLoraLoadingPath"),
            ({"workerGroup": "gpu"}, "models.0.workerGroup"),
        ],
    )
    def test_should_name_the_field_when_a_value_is_invalid(self, change: dict, location: str) -> None:
        with pytest.raises(ValidationError) as err:
            GatewayArgs.model_validate({"models": [{**CONTRACT_MODEL, **change}]})
        assert location in error_locations(err.value)

    def test_should_explain_the_problem_when_extra_args_repeat_a_typed_field(self) -> None:
        with pytest.raises(ValidationError, match=r"max_model_len \(use maxModelLen\)"):
            model(engine={"extraArgs": {"max_model_len": 512}})

    @pytest.mark.parametrize("field", ["apiKeysEnv", "hfTokenEnv"])
    def test_should_refuse_an_env_var_name_when_it_is_not_a_shell_name(self, field: str) -> None:
        with pytest.raises(ValidationError) as err:
            GatewayArgs.model_validate({"models": [CONTRACT_MODEL], field: "MY-KEYS"})
        assert field in error_locations(err.value)


class TestRagArgs:
    def test_should_accept_the_contract_example_when_validated(self) -> None:
        assert RagArgs.model_validate(CONTRACT_RAG).top_k == 4

    @pytest.mark.parametrize(
        ("change", "location"),
        [
            ({"promptTemplate": "Question: {question}"}, "promptTemplate"),
            ({"topK": 0}, "topK"),
            ({"scoreThreshold": 2}, "scoreThreshold"),
            ({"embeddingModel": "BAAI/bge-small"}, "embeddingModel"),
            ({"milvus": {"uri": "/tmp/x.db", "collection": "bad-name"}}, "milvus.collection"),
            ({"llm": {"app": "llm"}}, "llm.model"),
        ],
    )
    def test_should_name_the_field_when_a_value_is_invalid(self, change: dict, location: str) -> None:
        with pytest.raises(ValidationError) as err:
            RagArgs.model_validate({**CONTRACT_RAG, **change})
        assert location in error_locations(err.value)


class TestLlmConfig:
    def test_should_map_typed_engine_fields_to_vllm_kwargs_when_converting(self) -> None:
        config = to_llm_config(
            model(
                tensorParallelSize=2,
                engine={**CONTRACT_MODEL["engine"], "extraArgs": {"enable_prefix_caching": True}},
            ),
            hf_token_env="HF_TOKEN",
        )
        assert config.engine_kwargs == {
            "max_model_len": 8192,
            "gpu_memory_utilization": 0.9,
            "dtype": "auto",
            "enforce_eager": False,
            "max_num_seqs": 256,
            "enable_auto_tool_choice": False,
            "enable_prefix_caching": True,
            "tensor_parallel_size": 2,
        }

    def test_should_give_vllms_frontend_the_tool_and_reasoning_settings_when_set(self) -> None:
        engine = {
            "toolCallParser": "llama3_json",
            "enableAutoToolChoice": True,
            "reasoningParser": "deepseek_r1",
            "chatTemplate": "{{ messages }}",
        }
        config = to_llm_config(model(engine=engine), hf_token_env="HF_TOKEN")
        assert config.engine_kwargs == {
            "tool_call_parser": "llama3_json",
            "enable_auto_tool_choice": True,
            "reasoning_parser": "deepseek_r1",
            "chat_template": "{{ messages }}",
            "tensor_parallel_size": 1,
        }

    def test_should_set_ray_serve_llms_stream_batching_interval_when_the_model_has_one(self) -> None:
        config = to_llm_config(model(streamIntervalMs=0), hf_token_env="HF_TOKEN")
        assert config.experimental_configs == {"stream_batching_interval_ms": 0}

    def test_should_leave_the_stream_interval_to_ray_serve_llm_when_it_is_null(self) -> None:
        assert to_llm_config(model(), hf_token_env="HF_TOKEN").experimental_configs == {}

    def test_should_leave_unset_engine_fields_to_vllm_when_they_are_null(self) -> None:
        config = to_llm_config(model(engine={"maxModelLen": 512}), hf_token_env="HF_TOKEN")
        assert config.engine_kwargs == {"max_model_len": 512, "tensor_parallel_size": 1}

    def test_should_resolve_a_dot_path_against_model_root_when_it_is_set(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("MODEL_ROOT", str(tmp_path))
        config = to_llm_config(model(source="./models/tiny", tokenizerSource="./tok"), hf_token_env="")
        assert config.model_loading_config.model_source == str(tmp_path / "models" / "tiny")
        assert config.engine_kwargs["tokenizer"] == str(tmp_path / "tok")

    def test_should_resolve_a_dot_path_against_the_cwd_when_model_root_is_unset(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.delenv("MODEL_ROOT", raising=False)
        monkeypatch.chdir(tmp_path)
        assert to_llm_config(model(source="./m"), hf_token_env="").model_loading_config.model_source == str(
            tmp_path / "m"
        )

    @pytest.mark.parametrize("source", ["/models/llama", "meta-llama/Llama-3.1-8B-Instruct", "gpt2"])
    def test_should_keep_the_source_when_it_is_an_absolute_path_or_a_hf_id(self, source: str) -> None:
        assert (
            to_llm_config(model(source=source), hf_token_env="").model_loading_config.model_source == source
        )

    @pytest.mark.parametrize("source", ["s3://bucket/models/llama", "gs://bucket/llama"])
    def test_should_mirror_from_the_bucket_when_the_source_is_a_cloud_uri(self, source: str) -> None:
        loaded = to_llm_config(model(source=source), hf_token_env="").model_loading_config.model_source
        assert isinstance(loaded, CloudMirrorConfig)
        assert loaded.bucket_uri == source

    def test_should_enable_lora_and_configure_adapters_when_lora_is_set(self) -> None:
        config = to_llm_config(
            model(lora={"dynamicLoraLoadingPath": "s3://bucket/adapters/", "maxNumAdaptersPerReplica": 4}),
            hf_token_env="",
        )
        assert config.engine_kwargs["enable_lora"] is True
        assert config.lora_config.dynamic_lora_loading_path == "s3://bucket/adapters"
        assert config.lora_config.max_num_adapters_per_replica == 4

    # The engine's bundles, which LLMServer merges with the replica actor's own CPU; read without Ray
    # (LLMServer.get_deployment_options would start or join a cluster to read the runtime env).
    def test_should_ask_only_for_cpus_when_the_accelerator_is_cpu(self) -> None:
        engine = to_llm_config(
            model(accelerator="cpu", tensorParallelSize=2), hf_token_env=""
        ).get_engine_config()
        assert engine.placement_bundles == [{"CPU": 1}, {"CPU": 1}]
        assert engine.get_initialization_kwargs()["distributed_executor_backend"] == "mp"

    def test_should_ask_for_the_accelerator_type_when_a_gpu_is_named(self) -> None:
        engine = to_llm_config(model(accelerator="L40S"), hf_token_env="").get_engine_config()
        assert engine.placement_bundles == [{"GPU": 1, "accelerator_type:L40S": 0.001}]

    @staticmethod
    def replica_init(config) -> ReplicaInit:
        """The callback as Ray Serve LLM makes it in the replica, with the context it passes."""
        callback = config.callback_config.callback_class(
            llm_config=config, ctx_kwargs={"runtime_env": {}}, **config.callback_config.callback_kwargs
        )
        assert isinstance(callback, ReplicaInit)
        return callback

    def test_should_copy_the_token_to_hf_token_when_another_variable_holds_it(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("MY_HF", "hf_secret")
        # Recorded, so the callback's write to os.environ is undone after the test.
        monkeypatch.setenv(HF_TOKEN, "")
        callback = self.replica_init(to_llm_config(model(), hf_token_env="MY_HF"))
        asyncio.run(callback.on_before_node_init())
        assert callback.ctx.runtime_env["env_vars"][HF_TOKEN] == "hf_secret"
        assert os.environ[HF_TOKEN] == "hf_secret"

    def test_should_leave_hf_token_alone_when_it_already_holds_the_token(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(HF_TOKEN, "hf_own")
        callback = self.replica_init(to_llm_config(model(), hf_token_env=HF_TOKEN))
        asyncio.run(callback.on_before_node_init())
        assert callback.ctx.runtime_env == {} and os.environ[HF_TOKEN] == "hf_own"

    @pytest.mark.parametrize(
        ("source", "runs_download_task"),
        [("/models/llama", False), ("./tiny", False), ("meta-llama/Llama-3.1-8B-Instruct", False),
         ("s3://bucket/models/llama", True)],
    )  # fmt: skip
    def test_should_run_the_download_task_only_when_the_source_is_a_cloud_mirror(
        self, source: str, runs_download_task: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
        callback = self.replica_init(to_llm_config(model(source=source), hf_token_env=""))
        asyncio.run(callback.on_before_node_init())
        assert callback.ctx.run_init_node is runs_download_task
        # What the skipped task would have made (torch cannot make it without its parent).
        assert (tmp_path / "torch" / "kernels").is_dir() is not runs_download_task
