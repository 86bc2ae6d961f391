"""The rules several layers check (docs/rules.md), one table of cases for all of them.

Each case goes to every layer that checks its rule: the chart (values.schema.json or the preflight,
at `helm install`), the app's pydantic models (a serveConfigV2 or `reconfigure` that never went
through Helm) and the router (when the gateway applies a routing, the served models known). Every
layer must refuse it naming the same key; the preflight, pydantic and the router in the same words.
Cases that break no rule must pass every layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from pydantic import ValidationError
from ray.llm._internal.serve.core.server.builder import LLMServer, _get_deployment_name

from devkit.helm import HelmRenderError, render_chart
from serve_app.config import GATEWAY_DEPLOYMENT, GatewayArgs, ModelArgs, RoutingConfig, llm_deployment_name
from serve_app.llm import to_llm_config
from serve_app.routing import Router

# A CPU model: the chart renders it without worker groups, pydantic validates it without a GPU.
MODEL = {"source": "./models/m", "accelerator": "cpu"}
REUSED = "pick a name no model, alias, size tier or canary uses"


@dataclass(frozen=True)
class Case:
    id: str
    models: tuple[str, ...]
    routing: dict = field(default_factory=dict)
    # Layer ("schema", "preflight", "pydantic", "router") → what its refusal says; a layer not listed
    # does not check the rule. No refusals: the case breaks no rule.
    refusals: dict[str, str] = field(default_factory=dict)
    engine: dict = field(default_factory=dict)  # the first model's engine values


def said_by(problem: str, *layers: str) -> dict[str, str]:
    return dict.fromkeys(layers, problem)


def canary(name: str, *arms: tuple[str, int]) -> dict:
    return {"name": name, "arms": [{"model": model, "weight": weight} for model, weight in arms]}


CASES = [
    Case(
        "auto-tool-choice-without-a-parser",
        ("a",),
        engine={"enableAutoToolChoice": True},
        refusals=said_by(
            "models[0].engine.enableAutoToolChoice is true but toolCallParser is not set; set "
            "models[0].engine.toolCallParser to the parser of the model's tool-call format, or "
            "enableAutoToolChoice to false",
            "preflight",
            "pydantic",
        ),
    ),
    Case(
        "tool-call-parser-vllm-lacks",
        ("a",),
        engine={"toolCallParser": "llama9_json"},
        refusals=said_by(
            'models[0].engine.toolCallParser: "llama9_json" is not a tool parser of vLLM; use one of '
            '["apertus","cohere_command3",',
            "preflight",
            "pydantic",
        ),
    ),
    Case(
        "reasoning-parser-vllm-lacks",
        ("a",),
        engine={"reasoningParser": "r2"},
        refusals=said_by(
            'models[0].engine.reasoningParser: "r2" is not a reasoning parser of vLLM; use one of '
            '["cohere_command3",',
            "preflight",
            "pydantic",
        ),
    ),
    Case(
        "tools-and-reasoning-vllm-has",
        ("a",),
        engine={"toolCallParser": "llama3_json", "enableAutoToolChoice": True, "reasoningParser": "qwen3"},
    ),
    Case(
        "tool-call-parser-of-a-plugin",
        ("a",),
        engine={"toolCallParser": "mine", "extraArgs": {"tool_parser_plugin": "/plugins/mine.py"}},
    ),
    Case(
        "canary-weights-not-100",
        ("a", "b"),
        {"canaries": [canary("ab", ("a", 90), ("b", 20))]},
        said_by(
            "routing.canaries[0].arms: weights add up to 110, not 100; adjust arms[].weight",
            "preflight",
            "pydantic",
        ),
    ),
    Case(
        "canary-with-one-arm",
        ("a",),
        {"canaries": [canary("ab", ("a", 100))]},
        {
            "schema": "at '/routing/canaries/0/arms': minItems: got 1, want 2",
            "pydantic": "canaries.0.arms\n  List should have at least 2 items",
        },
    ),
    Case(
        "canary-weight-over-100",
        ("a", "b"),
        {"canaries": [canary("ab", ("a", 150), ("b", -50))]},
        {
            "schema": "at '/routing/canaries/0/arms/0/weight': maximum: got 150, want 100",
            "pydantic": "canaries.0.arms.0.weight\n  Input should be less than or equal to 100",
        },
    ),
    Case(
        "alias-to-an-unknown-model",
        ("a", "b"),
        {"aliases": {"chat": "gpt-5"}},
        said_by(
            'routing.aliases.chat: "gpt-5" is not a model or canary; point it at one of ["a","b"]',
            "preflight",
            "router",
        ),
    ),
    Case(
        "size-tier-to-an-unknown-model",
        ("a", "b"),
        {"sizeTiers": {"large": "llama-405b"}, "canaries": [canary("ab", ("a", 50), ("b", 50))]},
        said_by(
            'routing.sizeTiers.large: "llama-405b" is not a model or canary; point it at one of '
            '["a","ab","b"]',
            "preflight",
            "router",
        ),
    ),
    Case(
        "canary-arm-on-an-unknown-model",
        ("a", "b"),
        {"canaries": [canary("ab", ("a", 50), ("nope", 50))]},
        said_by(
            'routing.canaries[0].arms[1].model: "nope" is not a model; use one of ["a","b"]',
            "preflight",
            "router",
        ),
    ),
    Case(
        "canary-arm-on-a-canary",
        ("a", "b"),
        {"canaries": [canary("ab", ("a", 50), ("b", 50)), canary("abc", ("a", 50), ("ab", 50))]},
        said_by(
            'routing.canaries[1].arms[1].model: "ab" is not a model; use one of ["a","b"]',
            "preflight",
            "router",
        ),
    ),
    Case(
        "alias-named-like-a-model",
        ("a", "b"),
        {"aliases": {"b": "a"}},
        said_by(f'routing.aliases.b: "b" is already used by models[1].name; {REUSED}', "preflight", "router"),
    ),
    Case(
        "canary-named-like-a-model",
        ("a", "b"),
        {"canaries": [canary("a", ("a", 50), ("b", 50))]},
        said_by(
            f'routing.canaries[0].name: "a" is already used by models[0].name; {REUSED}',
            "preflight",
            "router",
        ),
    ),
    Case(
        "size-tier-named-like-an-alias",
        ("a", "b"),
        {"aliases": {"small": "a"}, "sizeTiers": {"small": "b"}},
        said_by(
            f'routing.sizeTiers.small: "small" is already used by routing.aliases.small; {REUSED}',
            "preflight",
            "pydantic",
        ),
    ),
    Case(
        "canary-named-like-a-size-tier",
        ("a", "b"),
        {"sizeTiers": {"ab": "a"}, "canaries": [canary("ab", ("a", 50), ("b", 50))]},
        said_by(
            f'routing.canaries[0].name: "ab" is already used by routing.sizeTiers.ab; {REUSED}',
            "preflight",
            "pydantic",
        ),
    ),
    Case(
        "duplicate-model-names",
        ("m", "m"),
        refusals=said_by(
            'models[1].name: "m" is used twice; every model needs its own name', "preflight", "pydantic"
        ),
    ),
    Case(
        "models-sharing-a-deployment-name",
        ("org/m.1", "org--m_1"),
        refusals=said_by(
            'models[1].name: "org--m_1" has the deployment name "LLMServer:org--m_1" of models[0].name '
            "(/ becomes --, . becomes _); rename one of them",
            "preflight",
            "pydantic",
        ),
    ),
    Case(
        "model-name-with-a-colon",
        ("base:adapter",),
        refusals={
            "schema": "at '/models/0/name': 'base:adapter' does not match pattern",
            "pydantic": "models.0.name\n  Value error, use letters, digits and . _ / -",
        },
    ),
    Case(
        "alias-name-with-a-colon",
        ("a",),
        {"aliases": {"chat:v2": "a"}},
        {
            # Helm's validator loses the location of a map key; the key itself is named.
            "schema": "invalid propertyName 'chat:v2'",
            "pydantic": "aliases.chat:v2.[key]\n  Value error, use letters, digits and . _ / -",
        },
    ),
    Case(
        "alias-and-size-tier-on-a-canary",
        ("a", "b"),
        {
            "aliases": {"chat": "ab"},
            "sizeTiers": {"small": "a", "large": "ab"},
            "canaries": [canary("ab", ("a", 90), ("b", 10))],
        },
    ),
    Case("names-with-slashes-and-dots", ("org/m.1", "org/m.2"), {"aliases": {"chat": "org/m.1"}}),
]


def _models(case: Case) -> list[dict]:
    models = [{"name": name, **MODEL} for name in case.models]
    models[0] |= {"engine": case.engine} if case.engine else {}
    return models


def _chart(case: Case) -> None:
    render_chart(set_values={"models": _models(case), "routing": case.routing})


def _pydantic(case: Case) -> None:
    GatewayArgs.model_validate({"models": _models(case)})
    RoutingConfig.model_validate(case.routing)


def _router(case: Case) -> None:
    Router(RoutingConfig.model_validate(case.routing), case.models)


def _cases(*layers: str) -> list:
    return [pytest.param(c, id=c.id) for c in CASES if set(layers) & c.refusals.keys()]


VALID = [pytest.param(c, id=c.id) for c in CASES if not c.refusals]


class TestEveryLayerRefusesTheSameCase:
    @pytest.mark.parametrize("case", _cases("schema", "preflight"))
    def test_should_refuse_the_install_naming_the_key_when_values_break_the_rule(self, case: Case) -> None:
        with pytest.raises(HelmRenderError) as err:
            _chart(case)
        assert case.refusals.get("schema", case.refusals.get("preflight")) in str(err.value)

    @pytest.mark.parametrize("case", _cases("pydantic"))
    def test_should_raise_a_validation_error_naming_the_key_when_the_args_break_the_rule(
        self, case: Case
    ) -> None:
        with pytest.raises(ValidationError) as err:
            _pydantic(case)
        assert case.refusals["pydantic"] in str(err.value)

    @pytest.mark.parametrize("case", _cases("router"))
    def test_should_refuse_the_routing_naming_the_key_when_the_router_applies_it(self, case: Case) -> None:
        with pytest.raises(ValueError) as err:
            _router(case)
        assert case.refusals["router"] in str(err.value)

    @pytest.mark.parametrize("layer", [_chart, _pydantic, _router], ids=["chart", "pydantic", "router"])
    @pytest.mark.parametrize("case", VALID)
    def test_should_accept_the_case_in_every_layer_when_it_breaks_no_rule(self, case: Case, layer) -> None:
        layer(case)

    @pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES if c.refusals])
    def test_should_check_the_rule_in_two_layers_in_one_wording_when_the_table_is_read(
        self, case: Case
    ) -> None:
        assert len(case.refusals) >= 2
        # Helm's schema messages are its own; the preflight, pydantic and the router share theirs.
        assert len({text for layer, text in case.refusals.items() if layer != "schema"}) == 1


# Model name → its deployment: Ray Serve LLM's `LLMServer:` + the name with `/`→`--` and `.`→`_`.
DEPLOYMENT_NAMES = [
    ("llama-3-8b", "LLMServer:llama-3-8b"),
    ("llama-3.1-8b", "LLMServer:llama-3_1-8b"),
    ("meta-llama/Llama-3.1-8B-Instruct", "LLMServer:meta-llama--Llama-3_1-8B-Instruct"),
    ("Qwen/Qwen2.5-32B-Instruct", "LLMServer:Qwen--Qwen2_5-32B-Instruct"),
    ("org/m.v1.2", "LLMServer:org--m_v1_2"),
    ("a_b--c", "LLMServer:a_b--c"),
]


class TestLlmDeploymentName:
    @pytest.mark.parametrize(("name", "deployment"), DEPLOYMENT_NAMES)
    def test_should_name_the_deployment_like_ray_serve_llm_when_ray_builds_it(
        self, name: str, deployment: str
    ) -> None:
        config = to_llm_config(ModelArgs.model_validate({"name": name, **MODEL}), hf_token_env="")
        assert f"{LLMServer.__name__}:{_get_deployment_name(config)}" == deployment

    @pytest.mark.parametrize(("name", "deployment"), DEPLOYMENT_NAMES)
    def test_should_give_the_same_name_when_python_names_the_deployment(
        self, name: str, deployment: str
    ) -> None:
        assert llm_deployment_name(name) == deployment

    def test_should_render_the_same_names_when_the_chart_names_the_deployments(self) -> None:
        models = [{"name": name, **MODEL} for name, _ in DEPLOYMENT_NAMES]
        app = render_chart(set_values={"models": models}).serve_config["applications"][0]
        assert [d["name"] for d in app["deployments"]] == [
            GATEWAY_DEPLOYMENT,
            *(deployment for _, deployment in DEPLOYMENT_NAMES),
        ]
