"""`LLMServer`: the model deployment, Ray Serve LLM's `LLMServer` with three additions.

- Its health check also proves the engine core answers (serve_app/engine_health.py), and ends the
  replica when the engine is dead or stalled.
- Its start runs the engine's lazily compiled sampling kernel once (serve_app/engine_warmup.py), so
  the first request with logprobs does not stall the engine core for the compile.
- Background requests (batch lines: a `priority` above interactive requests' 0) wait their turn
  (serve_app/turns.py) when the model's `LLMConfig.experimental_configs` carries TURNS_CONFIG.

Named `LLMServer` on purpose: `build_llm_deployment` names a deployment `<class name>:<model>`, and the
chart's serveConfigV2, the gateway and the dashboards know them as `LLMServer:<model>`.
"""

from __future__ import annotations

import functools

from ray.serve.llm.deployment import LLMServer as RayLLMServer

from serve_app.engine_health import EngineHealth
from serve_app.engine_warmup import warm_up
from serve_app.turns import TURNS_CONFIG, Turns


class LLMServer(RayLLMServer):
    @functools.cached_property
    def _engine_health(self) -> EngineHealth:
        return EngineHealth()

    @functools.cached_property
    def _turns(self) -> Turns | None:
        settings = self._llm_config.experimental_configs.get(TURNS_CONFIG)
        return Turns(**settings) if settings else None

    async def start(self) -> None:
        await super().start()
        # Ray Serve LLM's VLLMEngine keeps vLLM's AsyncLLM here; another engine class is not warmed up.
        await warm_up(getattr(self.engine, "_engine_client", None))

    async def check_health(self) -> None:
        await self._engine_health.check(self.engine, super().check_health)

    async def chat(self, request, raw_request_info=None):
        return await self._in_turn(super().chat, request, raw_request_info)

    async def completions(self, request, raw_request_info=None):
        return await self._in_turn(super().completions, request, raw_request_info)

    async def embeddings(self, request, raw_request_info=None):
        return await self._in_turn(super().embeddings, request, raw_request_info)

    async def _in_turn(self, method, request, raw_request_info):
        """The answer stream of `method`; a background request's only once its turn has come."""
        turns = self._turns
        if turns is None:
            return await method(request, raw_request_info)
        if (getattr(request, "priority", 0) or 0) > 0:
            await turns.wait_turn()
            return await method(request, raw_request_info)
        return turns.track(await method(request, raw_request_info))
