"""A model's args → Ray Serve LLM's `LLMConfig`, from which `build_llm_deployment` makes its `LLMServer`."""

from __future__ import annotations

import os

from ray.llm._internal.common.callbacks.base import CallbackBase, CallbackConfig
from ray.serve.llm import CloudMirrorConfig, LLMConfig, LoraConfig, ModelLoadingConfig

from serve_app.config import ModelArgs, source_kind
from serve_app.turns import TURNS_CONFIG

HF_TOKEN = "HF_TOKEN"
# Ray Serve LLM's per-model stream batching interval (LLMServer._get_batch_interval_ms reads it).
STREAM_INTERVAL_CONFIG = "stream_batching_interval_ms"


class ReplicaInit(CallbackBase):
    """Runs in the replica before its engine starts: the HF token, and no download task when there is
    nothing to download.

    - `hf_env`: exposes the token held by that variable as HF_TOKEN (vLLM, huggingface_hub and Ray
      Serve LLM's download tasks all read HF_TOKEN); the token never enters the visible config.
    - `downloads`: only a cloud mirror is copied by Ray Serve LLM's per-node download task; for a
      local path or a Hugging Face id that task only makes torch's kernels folder, yet it costs a
      Ray worker process per node (~10 s of a replica's start on a busy node). Without it the
      replica makes that folder itself.
    """

    async def on_before_node_init(self) -> None:
        token = os.environ.get(self.kwargs["hf_env"]) if self.kwargs["hf_env"] else None
        if token:
            os.environ[HF_TOKEN] = token
            self.ctx.runtime_env.setdefault("env_vars", {})[HF_TOKEN] = token
        if not self.kwargs["downloads"]:
            self.ctx.run_init_node = False
            os.makedirs(os.path.join(torch_home(), "kernels"), exist_ok=True)


def torch_home() -> str:
    """torch.hub's cache folder, as torch.hub._get_torch_home() computes it, without importing torch."""
    cache = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
    return os.path.expanduser(os.environ.get("TORCH_HOME", os.path.join(cache, "torch")))


def resolve_path(source: str) -> str:
    """A `./` path is relative to $MODEL_ROOT (set by `make serve`), else to the working directory."""
    if source.startswith("./"):
        return os.path.normpath(os.path.join(os.environ.get("MODEL_ROOT") or os.getcwd(), source))
    return source


def model_source(source: str) -> str | CloudMirrorConfig:
    return CloudMirrorConfig(bucket_uri=source) if source_kind(source) == "cloud" else resolve_path(source)


def to_llm_config(model: ModelArgs, *, hf_token_env: str, turns: dict[str, float] | None = None) -> LLMConfig:
    """`turns`: the settings with which the model's replicas hold background requests (serve_app/turns.py)."""
    engine_kwargs = {**model.engine.to_vllm_kwargs(), "tensor_parallel_size": model.tensor_parallel_size}
    if model.tokenizer_source:
        engine_kwargs["tokenizer"] = resolve_path(model.tokenizer_source)
    if model.lora:
        engine_kwargs.setdefault("enable_lora", True)
    if model.accelerator == "cpu":
        hardware = {"accelerator_config": {"kind": "cpu"}}
    else:
        hardware = {"accelerator_type": model.accelerator} if model.accelerator else {}
    callback = CallbackConfig(
        callback_class=ReplicaInit,
        callback_kwargs={
            "hf_env": "" if hf_token_env == HF_TOKEN else hf_token_env,
            "downloads": source_kind(model.source) == "cloud",
        },
    )
    experimental: dict = {TURNS_CONFIG: turns} if turns else {}
    if model.stream_interval_ms is not None:
        experimental[STREAM_INTERVAL_CONFIG] = model.stream_interval_ms
    return LLMConfig(
        model_loading_config=ModelLoadingConfig(model_id=model.name, model_source=model_source(model.source)),
        engine_kwargs=engine_kwargs,
        lora_config=(
            LoraConfig(
                dynamic_lora_loading_path=model.lora.dynamic_lora_loading_path,
                max_num_adapters_per_replica=model.lora.max_num_adapters_per_replica,
            )
            if model.lora
            else None
        ),
        **hardware,
        callback_config=callback,
        experimental_configs=experimental,
    )
