"""A zero-work engine for the gateway-hop benchmark: Ray Serve LLM's own `LLMServer`, no vLLM behind it.

Ray Serve LLM picks the engine class of every `LLMServer` from `RAYLLM_VLLM_ENGINE_CLS` (its escape
hatch for tests). With `RAYLLM_VLLM_ENGINE_CLS=bench.zero_engine.ZeroWorkEngine` in the cluster's
environment the chart's own serveConfigV2 deploys unchanged, through `build_gateway_app`, and every
model answers a non-streamed chat instantly with a canned completion: what is left of a request's
time is the serving path itself (proxy, gateway, handle calls, LLMServer).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator

from ray.llm._internal.serve.core.configs.openai_api_models import (
    ChatCompletionResponse,
    ErrorInfo,
    ErrorResponse,
)
from ray.llm._internal.serve.core.engine.protocol import LLMEngine

CANNED_TEXT = "ok"


def unsupported(what: str) -> ErrorResponse:
    return ErrorResponse(
        error=ErrorInfo(message=f"the zero-work engine answers non-streamed chat only, not {what}",
                        type="BadRequestError", code=400)
    )  # fmt: skip


class ZeroWorkEngine(LLMEngine):
    def __init__(self, llm_config) -> None:
        self._model_id = llm_config.model_id

    async def start(self) -> None:
        """Nothing to load."""

    def routing_stats(self) -> dict:
        return {}

    async def resolve_lora(self, lora_model) -> None:
        raise NotImplementedError("the zero-work engine has no LoRA adapters")

    async def reset_prefix_cache(self) -> None:
        """No cache to reset."""

    async def chat(self, request, raw_request_info=None) -> AsyncGenerator:
        if request.stream:
            yield unsupported("a streamed chat")
            return
        yield ChatCompletionResponse(
            id=f"chatcmpl-{request.request_id}",
            created=int(time.time()),
            model=self._model_id,
            choices=[
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": CANNED_TEXT},
                    "finish_reason": "stop",
                }
            ],
            usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        )

    async def completions(self, request, raw_request_info=None) -> AsyncGenerator:
        yield unsupported("completions")

    async def embeddings(self, request, raw_request_info=None) -> AsyncGenerator:
        yield unsupported("embeddings")

    async def transcriptions(self, request, raw_request_info=None) -> AsyncGenerator:
        yield unsupported("transcriptions")
