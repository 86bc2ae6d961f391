"""Pydantic models of each Serve application's `args` and of the gateway's `user_config`.

Field names are the chart values' names in camelCase (docs/contract.md); Python attributes are their
snake_case twins. Every model forbids unknown keys, so a typo in the values fails the deploy with the
field's path in the message. Only pydantic is imported here: the chart's tests validate rendered
`args` with these models without starting Ray.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

# A name clients send as `model` (values.schema.json's routeName): no ":", because Ray Serve LLM reads
# "<base>:<adapter>" as a LoRA adapter.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")


def _valid_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            "use letters, digits and . _ / - (a letter or digit first), at most 128 characters; no ':', "
            "which Ray Serve LLM reads as <model>:<LoRA adapter>"
        )
    return value


ModelName = Annotated[str, AfterValidator(_valid_name)]
RouteName = ModelName
EnvVarName = Annotated[str, StringConstraints(pattern=r"^([A-Za-z_][A-Za-z0-9_]*)?$")]

CLOUD_PREFIXES = ("s3://", "gs://")
LORA_PREFIXES = ("s3://", "gs://", "abfss://", "azure://")
HF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
LLM_SERVER_PREFIX = "LLMServer:"
BUNDLED_EMBEDDING_MODELS = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})
GATEWAY_DEPLOYMENT = "OpenAiGateway"
RAG_DEPLOYMENT = "RagIngress"
EMBEDDER_DEPLOYMENT = "Embedder"


# Defaults of the gateway's backstops for an upstream that neither answers nor fails (a stalled
# engine; a replica gone without its connection closing); the chart sets gateway.streamIdleTimeoutS
# and gateway.responseTimeoutS. A stream's first chunk and each gap between chunks: vLLM emits a
# token every few tens of ms, and even a long prefill under load is far below 60 s.
STREAM_IDLE_TIMEOUT_S = 60.0
# A non-streamed response sends no byte until the whole completion is ready, so it gets the budget
# of a long generation (Ray Serve LLM's own router timeout is 600 s).
RESPONSE_TIMEOUT_S = 300.0


class _Args(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid")


def llm_deployment_name(model_name: str) -> str:
    """Ray Serve LLM's name for a model's deployment (`build_llm_deployment`): the one definition on the
    Python side; the chart's is `ray-vllm.llmDeploymentName` (tests/test_rules.py keeps them equal)."""
    return LLM_SERVER_PREFIX + model_name.replace("/", "--").replace(".", "_")


# Problems are worded as the chart's preflight words them (Go's %q and toJson), keyed by the values'
# names, so a routing refused by `helm install` and one refused by `reconfigure` read the same.
def _quoted(name: str) -> str:
    return json.dumps(name)


def _one_of(names: Iterable[str]) -> str:
    return json.dumps(sorted(set(names)), separators=(",", ":"))


def problem_list(what: str, problems: Sequence[str]) -> str:
    return f"{len(problems)} problem(s) in the {what}:\n- " + "\n- ".join(problems)


def _reused_names(names: Iterable[tuple[str, str]], owners: dict[str, str]) -> list[str]:
    """Each (key, name) whose name an earlier key (or `owners`) already holds."""
    problems = []
    for key, name in names:
        if name in owners:
            problems.append(
                f"{key}: {_quoted(name)} is already used by {owners[name]}; pick a name no model, alias, "
                "size tier or canary uses"
            )
        else:
            owners[name] = key
    return problems


@cache
def vllm_parser_names(kind: Literal["tool", "reasoning"]) -> frozenset[str]:
    """The parsers vLLM registers (`--tool-call-parser`, `--reasoning-parser`); imported lazily."""
    if kind == "tool":
        from vllm.tool_parsers import ToolParserManager as manager
    else:
        from vllm.reasoning import ReasoningParserManager as manager
    return frozenset(manager.list_registered())


def engine_problems(key: str, engine: EngineArgs) -> list[str]:
    """A model's tool-call and reasoning settings that vLLM would refuse at start, worded as the
    chart's preflight words them."""
    problems = []
    if engine.enable_auto_tool_choice and not engine.tool_call_parser:
        problems.append(
            f"{key}.enableAutoToolChoice is true but toolCallParser is not set; set {key}.toolCallParser "
            "to the parser of the model's tool-call format, or enableAutoToolChoice to false"
        )
    for kind, value, field, plugin in (
        ("tool", engine.tool_call_parser, "toolCallParser", "tool_parser_plugin"),
        ("reasoning", engine.reasoning_parser, "reasoningParser", "reasoning_parser_plugin"),
    ):
        if value and plugin not in engine.extra_args and value not in vllm_parser_names(kind):
            problems.append(
                f"{key}.{field}: {_quoted(value)} is not a {kind} parser of vLLM; use one of "
                f"{_one_of(vllm_parser_names(kind))}, or load yours with {key}.extraArgs.{plugin}"
            )
    return problems


@cache
def vllm_engine_arg_names() -> frozenset[str]:
    """Every keyword vLLM's engine and OpenAI frontend accept; imported lazily (vLLM is heavy)."""
    import dataclasses

    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.entrypoints.launchers.cli_args import FrontendArgs

    return frozenset(f.name for cls in (AsyncEngineArgs, FrontendArgs) for f in dataclasses.fields(cls))


class EngineArgs(_Args):
    """vLLM engine settings; typed fields become vLLM's snake_case kwargs, `extraArgs` go verbatim."""

    max_model_len: int | None = Field(default=None, gt=0)
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    dtype: Literal["auto", "half", "float16", "bfloat16", "float", "float32"] | None = None
    enforce_eager: bool | None = None
    max_num_seqs: int | None = Field(default=None, gt=0)
    # priority: a request's lower `priority` is scheduled first (batch lines go after interactive ones)
    scheduling_policy: Literal["fcfs", "priority"] | None = None
    # vLLM's OpenAI frontend: tool calls, reasoning output, chat template (GatewayArgs checks the names).
    tool_call_parser: str | None = Field(default=None, min_length=1)
    enable_auto_tool_choice: bool | None = None
    reasoning_parser: str | None = Field(default=None, min_length=1)
    chat_template: str | None = Field(default=None, min_length=1)
    extra_args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("extra_args")
    @classmethod
    def _only_untyped_vllm_args(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            return value  # nothing to check, and vLLM (slow to import) stays unimported
        owned = {name: field.alias for name, field in cls.model_fields.items() if name != "extra_args"}
        owned |= {
            "tensor_parallel_size": "tensorParallelSize",
            "tokenizer": "tokenizerSource",
            "model": "source",
            "served_model_name": "name",
        }
        clashes = sorted(f"{key} (use {owned[key]})" for key in value if key in owned)
        if clashes:
            raise ValueError(f"set through their typed fields, not extraArgs: {', '.join(clashes)}")
        unknown = sorted(set(value) - vllm_engine_arg_names())
        if unknown:
            raise ValueError(f"not vLLM engine arguments (snake_case names expected): {', '.join(unknown)}")
        return value

    def to_vllm_kwargs(self) -> dict[str, Any]:
        typed = self.model_dump(exclude={"extra_args"}, exclude_none=True)
        return {**typed, **self.extra_args}


class LoraArgs(_Args):
    dynamic_lora_loading_path: str
    max_num_adapters_per_replica: int = Field(default=16, gt=0)

    @field_validator("dynamic_lora_loading_path")
    @classmethod
    def _cloud_path(cls, value: str) -> str:
        if not value.startswith(LORA_PREFIXES):
            raise ValueError(f"must start with one of {', '.join(LORA_PREFIXES)}")
        return value.rstrip("/")


SourceKind = Literal["local", "cloud", "hf"]


def source_kind(source: str) -> SourceKind:
    """`/abs` and `./rel` are local paths, `s3://`/`gs://` cloud mirrors, anything else a HF id."""
    if source.startswith(("/", "./")):
        return "local"
    if source.startswith(CLOUD_PREFIXES):
        return "cloud"
    return "hf"


def _check_source(value: str) -> str:
    kind = source_kind(value)
    if kind == "cloud" and len(value.split("://", 1)[1].strip("/")) == 0:
        raise ValueError("a cloud mirror needs a bucket, e.g. s3://bucket/models/llama")
    if kind == "hf" and not HF_ID.match(value):
        raise ValueError(
            "expected a Hugging Face id (org/name), an s3:// or gs:// mirror, or a local path starting "
            "with / or ./"
        )
    return value


@cache
def ray_accelerator_types() -> frozenset[str]:
    from ray.util.accelerators import accelerators

    return frozenset(v for k, v in vars(accelerators).items() if k.isupper() and isinstance(v, str))


class ModelArgs(_Args):
    name: ModelName
    source: str
    tokenizer_source: str | None = None
    tensor_parallel_size: int = Field(default=1, gt=0)
    accelerator: str | None = None
    engine: EngineArgs = Field(default_factory=EngineArgs)
    lora: LoraArgs | None = None
    # How long the replica gathers a stream's tokens before sending them on as one message (Ray Serve
    # LLM's stream batching); 0: each token on its own; None: Ray Serve LLM's default (50 ms).
    stream_interval_ms: float | None = Field(default=None, ge=0, le=1000)

    @field_validator("source")
    @classmethod
    def _valid_source(cls, value: str) -> str:
        return _check_source(value)

    @field_validator("tokenizer_source")
    @classmethod
    def _valid_tokenizer_source(cls, value: str | None) -> str | None:
        if value is not None and source_kind(_check_source(value)) == "cloud":
            raise ValueError(
                "vLLM loads tokenizers from a Hugging Face id or a local path, not a cloud mirror"
            )
        return value

    @field_validator("accelerator")
    @classmethod
    def _known_accelerator(cls, value: str | None) -> str | None:
        if value in (None, "cpu") or value in ray_accelerator_types():
            return value
        raise ValueError(
            f"expected 'cpu' or a Ray accelerator type ({', '.join(sorted(ray_accelerator_types()))})"
        )

    @property
    def deployment_name(self) -> str:
        return llm_deployment_name(self.name)


BATCH_DEPLOYMENT = "Batcher"
# Where batch files live; values.schema.json allows "" too (batch off), which the preflight refuses when on.
STORAGE_PATTERN = r"^(/.*|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^?]*)?([?].*)?)$"


class BatchArgs(_Args):
    """The OpenAI Files and Batches API on the gateway: where files and batch records live, limits,
    and how many lines of one batch are in flight."""

    # `s3://bucket/prefix[?pyarrow S3 options]`, or a directory (the local run's, or a mounted volume)
    storage: str = Field(pattern=STORAGE_PATTERN)
    max_file_bytes: int = Field(default=100 * 1_048_576, ge=1024, le=1024 * 1_048_576)
    max_lines: int = Field(default=50_000, ge=1, le=1_000_000)
    max_in_progress: int = Field(default=4, ge=1, le=1000)
    concurrency: int = Field(default=4, ge=1, le=1024)
    retry_attempts: int = Field(default=5, ge=1, le=100)  # calls per line while the model is overloaded
    retry_wait_s: float = Field(default=2.0, gt=0, le=600)  # doubled after each
    # Lines for a model Serve is (re)starting (no replica running) wait up to this, once per start.
    model_start_wait_s: float = Field(default=1800.0, ge=0, le=86400)
    # vLLM `priority` of the lines on models with priority scheduling (interactive requests: 0)
    priority: int = Field(default=10, ge=1, le=1_000_000)
    # On those models a line waits on its replica until no interactive request has been in flight
    # there for yield_quiet_s, at most yield_max_s (0: no wait): serve_app/turns.py.
    yield_quiet_s: float = Field(default=2.0, ge=0, le=600)
    yield_max_s: float = Field(default=60.0, ge=0, le=3600)

    def turns(self) -> dict[str, float] | None:
        """serve_app.turns.Turns' settings, None when lines do not wait."""
        return {"quiet_s": self.yield_quiet_s, "max_hold_s": self.yield_max_s} if self.yield_max_s else None


class GatewayArgs(_Args):
    """`args` of `serve_app.apps:build_gateway_app` (application `llm`)."""

    models: list[ModelArgs] = Field(min_length=1)
    hf_token_env: EnvVarName = "HF_TOKEN"
    api_keys_env: EnvVarName = ""
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    stream_idle_timeout_s: float = Field(default=STREAM_IDLE_TIMEOUT_S, gt=0, le=3600)
    response_timeout_s: float = Field(default=RESPONSE_TIMEOUT_S, gt=0, le=3600)
    batch: BatchArgs | None = None  # None: no /v1/files and /v1/batches

    @field_validator("models")
    @classmethod
    def _consistent(cls, models: list[ModelArgs]) -> list[ModelArgs]:
        problems, names, deployments = [], {}, {}
        for i, model in enumerate(models):
            key, name, deployment = f"models[{i}].name", model.name, model.deployment_name
            if name in names:
                problems.append(f"{key}: {_quoted(name)} is used twice; every model needs its own name")
            elif deployment in deployments:
                problems.append(
                    f"{key}: {_quoted(name)} has the deployment name {_quoted(deployment)} of "
                    f"{deployments[deployment]} (/ becomes --, . becomes _); rename one of them"
                )
            else:
                names[name], deployments[deployment] = key, key
        for i, model in enumerate(models):
            problems += engine_problems(f"models[{i}].engine", model.engine)
        if problems:
            raise ValueError(problem_list("models", problems))
        return models


class CanaryArm(_Args):
    model: ModelName
    weight: int = Field(ge=0, le=100)


class Canary(_Args):
    name: RouteName
    sticky_header: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]+$")
    # One arm would be an alias: a split needs two.
    arms: list[CanaryArm] = Field(min_length=2)


class RoutingConfig(_Args):
    """`user_config` of the `OpenAiGateway` deployment; applied by `reconfigure` without a restart.

    Validation checks what the routing alone decides; `problems_with(models)` what needs the served
    models too, which the router checks when the routing is applied (docs/rules.md).
    """

    aliases: dict[RouteName, RouteName] = Field(default_factory=dict)
    size_tiers: dict[RouteName, RouteName] = Field(default_factory=dict)
    canaries: list[Canary] = Field(default_factory=list)

    def _pointers(self) -> list[tuple[str, str, str]]:
        """(key, name, target) of every alias and size tier, in the chart's order (sorted by name)."""
        return [
            (f"routing.{section}.{name}", name, target)
            for section, names in (("aliases", self.aliases), ("sizeTiers", self.size_tiers))
            for name, target in sorted(names.items())
        ]

    def _route_names(self) -> list[tuple[str, str]]:
        """(key, name) of every name this routing adds, in the chart's order."""
        return [(key, name) for key, name, _ in self._pointers()] + [
            (f"routing.canaries[{i}].name", c.name) for i, c in enumerate(self.canaries)
        ]

    @model_validator(mode="after")
    def _weights_add_up_and_names_are_unique(self) -> RoutingConfig:
        problems = [
            f"routing.canaries[{i}].arms: weights add up to {total}, not 100; adjust arms[].weight"
            for i, c in enumerate(self.canaries)
            if (total := sum(arm.weight for arm in c.arms)) != 100
        ] + _reused_names(self._route_names(), {})
        if problems:
            raise ValueError(problem_list("routing", problems))
        return self

    def problems_with(self, models: Sequence[str]) -> list[str]:
        """Aliases and tiers point at a model or canary, arms at a model; no name is a model's name."""
        model_keys = {name: f"models[{i}].name" for i, name in enumerate(models)}
        targets = [*models, *(c.name for c in self.canaries)]
        return (
            [
                f"{key}: {_quoted(target)} is not a model or canary; point it at one of {_one_of(targets)}"
                for key, _, target in self._pointers()
                if target not in targets
            ]
            + [
                f"routing.canaries[{i}].arms[{j}].model: {_quoted(arm.model)} is not a model; use one of "
                f"{_one_of(models)}"
                for i, c in enumerate(self.canaries)
                for j, arm in enumerate(c.arms)
                if arm.model not in model_keys
            ]
            + _reused_names(self._route_names(), dict(model_keys))
        )


class MilvusArgs(_Args):
    uri: str = Field(min_length=1)
    collection: str = Field(default="docs", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
    token_env: EnvVarName = ""


class LlmTarget(_Args):
    app: str = Field(default="llm", min_length=1)
    model: RouteName


DEFAULT_PROMPT_TEMPLATE = (
    "Answer the question using only the context below. If the context does not contain the answer, "
    "say so.\n\nContext:\n{context}\n\nQuestion: {question}"
)


class RagArgs(_Args):
    """`args` of `serve_app.apps:build_rag_app` (application `rag`)."""

    embedding_model: str = "all-MiniLM-L6-v2"
    milvus: MilvusArgs
    llm: LlmTarget
    top_k: int = Field(default=4, ge=1, le=100)
    score_threshold: float = Field(default=0.2, ge=-1, le=1)
    prompt_template: str = DEFAULT_PROMPT_TEMPLATE
    api_keys_env: EnvVarName = ""
    max_body_bytes: int = Field(default=8 * 1_048_576, ge=1024, le=256 * 1_048_576)

    @field_validator("embedding_model")
    @classmethod
    def _local_embedding_model(cls, value: str) -> str:
        if value in BUNDLED_EMBEDDING_MODELS or value.startswith("/"):
            return value
        raise ValueError(
            "expected all-MiniLM-L6-v2 (bundled, offline) or the absolute path of a sentence-transformers "
            "model"
        )

    @field_validator("prompt_template")
    @classmethod
    def _has_placeholders(cls, value: str) -> str:
        missing = [p for p in ("{context}", "{question}") if p not in value]
        if missing:
            raise ValueError(f"missing placeholder(s) {', '.join(missing)}")
        return value


AGENT_DEPLOYMENT = "AgentIngress"
HostName = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
]
DEFAULT_AGENT_PROMPT = (
    "You are an assistant that completes the user's task step by step. Use the tools when they help; "
    "when you have the answer, reply with it and call no tool."
)


class AgentLimits(_Args):
    """Bounds of one agent run; hitting one ends the run with its status."""

    max_steps: int = Field(default=8, ge=1, le=64)
    max_tokens: int = Field(default=8192, ge=16, le=1_000_000)
    max_tokens_per_call: int = Field(default=1024, ge=1, le=1_000_000)  # within the model's context
    wall_time_s: float = Field(default=120.0, gt=0, le=3600)
    tool_time_s: float = Field(default=20.0, gt=0, le=600)


class AgentHttpArgs(_Args):
    """The HTTP tool: off unless hosts are allowed."""

    allowed_hosts: list[HostName] = Field(default_factory=list)
    max_bytes: int = Field(default=65536, ge=1024, le=8 * 1_048_576)


class AgentArgs(_Args):
    """`args` of `serve_app.apps:build_agent_app` (application `agent`)."""

    llm: LlmTarget
    rag_app: str = ""  # the RAG application the retrieval tool searches; "": no retrieval tool
    top_k: int = Field(default=4, ge=1, le=100)
    limits: AgentLimits = Field(default_factory=AgentLimits)
    http: AgentHttpArgs = Field(default_factory=AgentHttpArgs)
    system_prompt: str = DEFAULT_AGENT_PROMPT
    api_keys_env: EnvVarName = ""
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
