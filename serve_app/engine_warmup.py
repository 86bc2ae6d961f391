"""Runs the engine's lazily compiled sampling kernel before the replica takes traffic.

vLLM compiles the rank of a returned logprob (`vllm.v1.sample.ops.logprobs.batched_count_greater_than`)
with torch.compile on first use, inside a model step, and once more, for dynamic shapes, on the first
call with another number of rows. Each time the engine core answers nothing while inductor generates
and builds the kernel: on a busy 2-core machine with a cold compile cache, long enough (20 s and more)
for the health check's silence limit to end a healthy replica in the middle of traffic. Two one-token
requests with logprobs at start, one sequence then two, take both compiles out of serving time.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

logger = logging.getLogger("ray.serve")


async def warm_up(engine_client: Any) -> None:
    """Compiles the logprob kernel for one row and for any number of rows; nothing on a pooling model."""
    if engine_client is None or "generate" not in await engine_client.get_supported_tasks():
        return
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    start = time.monotonic()
    for n in (1, 2):
        params = SamplingParams(n=n, max_tokens=1, temperature=1.0, logprobs=1)
        prompt = TokensPrompt(prompt_token_ids=[0])
        async for _ in engine_client.generate(prompt, params, request_id=f"warm-up-{uuid.uuid4().hex}"):
            pass
    logger.info("Engine warm-up (logprob kernel) took %.1f s", time.monotonic() - start)
