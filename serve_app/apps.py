"""Application builders: the only `import_path`s the chart's serveConfigV2 uses.

Serve validates each application's `args` into the builder's pydantic annotation before calling it,
so invalid values fail the deploy with the field's path. Deployment options (replicas, autoscaling,
limits, health checks, resources) are not set here: they come from serveConfigV2's `deployments:`.
"""

from __future__ import annotations

from ray import serve
from ray.serve.deployment import Application

from serve_app.agent import AGENT_ENDPOINTS, AgentIngress
from serve_app.batch import Batcher
from serve_app.config import (
    AGENT_DEPLOYMENT,
    BATCH_DEPLOYMENT,
    EMBEDDER_DEPLOYMENT,
    GATEWAY_DEPLOYMENT,
    RAG_DEPLOYMENT,
    AgentArgs,
    GatewayArgs,
    RagArgs,
)
from serve_app.embedder import Embedder
from serve_app.ingress import EndpointMap, fastapi_ingress
from serve_app.rag import RAG_ENDPOINTS, RagIngress

# A multipart upload's bytes beyond the file's own (boundaries, part headers, the purpose field).
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def _ingress(
    cls: type,
    endpoints: EndpointMap,
    args: GatewayArgs | RagArgs | AgentArgs,
    path_limits: dict[str, int] | None = None,
) -> type:
    return fastapi_ingress(
        cls,
        endpoints,
        max_body_bytes=args.max_body_bytes,
        api_keys_env=args.api_keys_env,
        path_limits=path_limits,
    )


def build_gateway_app(args: GatewayArgs) -> Application:
    """Application `llm`: one `LLMServer:<name>` per model behind the `OpenAiGateway` ingress."""
    # Imported here, not with the module: Ray Serve LLM and vLLM take ~10 s of CPU to import, and the
    # RAG and agent applications' builds import this module too.
    from ray.llm._internal.serve.core.configs.openai_api_models import to_model_metadata
    from ray.serve.llm import build_llm_deployment

    from serve_app.gateway import BATCH_ENDPOINTS, GATEWAY_ENDPOINTS, OpenAiGateway
    from serve_app.llm import to_llm_config
    from serve_app.llm_server import LLMServer

    args = GatewayArgs.model_validate(args)
    turns = args.batch.turns() if args.batch else None
    llm_configs = {m.name: to_llm_config(m, hf_token_env=args.hf_token_env, turns=turns) for m in args.models}
    if args.batch is None:
        ingress_cls, batcher = _ingress(OpenAiGateway, GATEWAY_ENDPOINTS, args), None
    else:
        uploads = {"/v1/files": args.batch.max_file_bytes + MULTIPART_OVERHEAD_BYTES}
        ingress_cls = _ingress(OpenAiGateway, GATEWAY_ENDPOINTS | BATCH_ENDPOINTS, args, uploads)
        # One replica: it owns the batch records (serve_app/batch_service.py).
        batcher = serve.deployment(Batcher, name=BATCH_DEPLOYMENT, num_replicas=1).bind(args.batch)
    options = OpenAiGateway.get_deployment_options(list(llm_configs.values()))
    return serve.deployment(ingress_cls, name=GATEWAY_DEPLOYMENT, **options).bind(
        llm_deployments={
            name: build_llm_deployment(config, deployment_cls=LLMServer)
            for name, config in llm_configs.items()
        },
        model_cards={name: to_model_metadata(name, config) for name, config in llm_configs.items()},
        lora_paths={
            name: config.lora_config.dynamic_lora_loading_path
            for name, config in llm_configs.items()
            if config.lora_config is not None
        },
        deployment_names={m.name: m.deployment_name for m in args.models},
        api_keys_env=args.api_keys_env,
        stream_idle_timeout_s=args.stream_idle_timeout_s,
        response_timeout_s=args.response_timeout_s,
        auto_tool_models=frozenset(m.name for m in args.models if m.engine.enable_auto_tool_choice),
        priority_models=frozenset(m.name for m in args.models if m.engine.scheduling_policy == "priority"),
        batcher=batcher,
        batch_wait_s=args.batch.yield_max_s if args.batch else 0.0,
        batch_start_wait_s=args.batch.model_start_wait_s if args.batch else 0.0,
    )


def build_rag_app(args: RagArgs) -> Application:
    """Application `rag`: `RagIngress` over an `Embedder`, generating through the `llm` application."""
    args = RagArgs.model_validate(args)
    ingress_cls = _ingress(RagIngress, RAG_ENDPOINTS, args)
    embedder = serve.deployment(Embedder, name=EMBEDDER_DEPLOYMENT).bind(args.embedding_model)
    return serve.deployment(ingress_cls, name=RAG_DEPLOYMENT).bind(embedder=embedder, args=args)


def build_agent_app(args: AgentArgs) -> Application:
    """Application `agent`: `AgentIngress`, calling the `llm` (and `rag`) applications through handles."""
    args = AgentArgs.model_validate(args)
    ingress_cls = _ingress(AgentIngress, AGENT_ENDPOINTS, args)
    return serve.deployment(ingress_cls, name=AGENT_DEPLOYMENT).bind(args=args)
