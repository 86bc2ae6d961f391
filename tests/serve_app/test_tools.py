"""Tool calling and structured output through the gateway, with the official `openai` client.

`tiny` runs with the chart's `toolCallParser: llama3_json` and `enableAutoToolChoice: true`
(tests/serve_app/overlay.yaml); `tiny-v2` has no tool-call parser. Even random weights must give
JSON that fits the schema, because vLLM decodes under the schema's grammar: a `json_schema` answer
(its grammar has no free whitespace, `disable_any_whitespace`) and the arguments of a forced call of
a `strict` function. vLLM 0.32 builds a tool call from a structural tag whose JSON allows free
whitespace whatever that setting says, and random weights would spend `max_tokens` on it; so tool
requests bias the tokenizer's whitespace-only tokens away (`logit_bias`), as a trained model does by
itself. Every value the schemas allow is an enum, so each answer ends well inside `max_tokens`.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import openai
import pytest
from tokenizers import Tokenizer

from tests.serve_app.deployment import Stack

pytestmark = pytest.mark.live  # runs against the session's local Ray (conftest.py)

WEATHER = {
    "type": "object",
    "properties": {"city": {"enum": ["Paris", "Oslo", "Lima"]}, "unit": {"enum": ["C", "F"]}},
    "required": ["city", "unit"],
    "additionalProperties": False,
}
CLOCK = {
    "type": "object",
    "properties": {"zone": {"enum": ["UTC", "CET"]}},
    "required": ["zone"],
    "additionalProperties": False,
}


# `strict`: vLLM decodes the arguments under the function's schema (OpenAI's strict function calling);
# without it they are only well-formed JSON.
def function(name: str, parameters: dict) -> dict:
    return {"type": "function", "function": {"name": name, "parameters": parameters, "strict": True}}


TOOLS = [function("get_weather", WEATHER), function("get_time", CLOCK)]
SCHEMAS = {"get_weather": WEATHER, "get_time": CLOCK}
FORCED = {"type": "function", "function": {"name": "get_weather"}}
ANSWER = {
    "type": "object",
    "properties": {"answer": {"enum": ["yes", "no"]}, "confidence": {"enum": [1, 2, 3]}},
    "required": ["answer", "confidence"],
    "additionalProperties": False,
}
NOT_A_TOOL = {"type": "function", "function": {"name": "nope"}}
BAD_FORMAT = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "no-such-type"}}}
BAD_TOOL = function("f", {"type": "object", "required": "city"})  # `required` must be a list
MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]
MAX_TOKENS = 64
SEED = 7


@pytest.fixture(scope="module")
def no_whitespace(model_dirs: dict[str, Path]) -> dict[str, int]:
    """`logit_bias` that rules out the tiny tokenizer's whitespace-only tokens."""
    tokenizer = Tokenizer.from_file(str(model_dirs["tiny"] / "tokenizer.json"))
    decoded = {i: tokenizer.decode([i], skip_special_tokens=False) for i in range(tokenizer.get_vocab_size())}
    return {str(i): -100 for i, text in decoded.items() if text and not text.strip()}


def chat(stack: Stack, model: str = "tiny", **kwargs):
    # A fixed sampling seed: the same weights then give the same answer in every run. Unseeded, a
    # forced call once came back without a tool call in a clean-clone run (1 of about 10).
    return stack.openai().chat.completions.create(
        model=model, messages=MESSAGES, max_tokens=MAX_TOKENS, seed=SEED, **kwargs
    )


def streamed_tool_calls(stack: Stack, model: str, **kwargs) -> dict[int, dict[str, str]]:
    """Each tool call of a streamed answer, its name and arguments put together from the deltas."""
    calls: dict[int, dict[str, str]] = {}
    for chunk in chat(stack, model, stream=True, **kwargs):
        for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            call = calls.setdefault(delta.index, {"name": "", "arguments": ""})
            call["name"] += (delta.function.name or "") if delta.function else ""
            call["arguments"] += (delta.function.arguments or "") if delta.function else ""
    return calls


class TestForcedToolCalls:
    @pytest.mark.parametrize("model", ["tiny", "chat", "small"])  # by name, by alias, by size tier
    def test_should_call_the_named_function_with_valid_arguments_when_it_is_forced(
        self, stack: Stack, no_whitespace: dict[str, int], model: str
    ) -> None:
        choice = chat(stack, model, tools=TOOLS, tool_choice=FORCED, logit_bias=no_whitespace).choices[0]
        message = choice.message
        (call,) = message.tool_calls
        assert call.type == "function" and call.function.name == "get_weather"
        jsonschema.validate(json.loads(call.function.arguments), WEATHER)

    @pytest.mark.parametrize("model", ["tiny", "chat"])
    def test_should_stream_tool_call_deltas_that_add_up_to_valid_arguments_when_forced(
        self, stack: Stack, no_whitespace: dict[str, int], model: str
    ) -> None:
        calls = streamed_tool_calls(stack, model, tools=TOOLS, tool_choice=FORCED, logit_bias=no_whitespace)
        assert [call["name"] for call in calls.values()] == ["get_weather"]
        jsonschema.validate(json.loads(calls[0]["arguments"]), WEATHER)

    def test_should_answer_with_a_well_formed_completion_when_a_call_is_required(
        self, stack: Stack, no_whitespace: dict[str, int]
    ) -> None:
        choice = chat(stack, tools=TOOLS, tool_choice="required", logit_bias=no_whitespace).choices[0]
        # vLLM's grammar forces the call first, then lets random weights write on to max_tokens, after
        # which the parser may not find the call: only the shape is certain.
        assert choice.message.role == "assistant"
        assert {call.function.name for call in choice.message.tool_calls or []} <= set(SCHEMAS)

    @pytest.mark.parametrize("model", ["tiny", "chat"])
    def test_should_call_exactly_one_tool_with_valid_arguments_when_required_without_parallel_calls(
        self, stack: Stack, no_whitespace: dict[str, int], model: str
    ) -> None:
        # Without parallel calls vLLM's grammar is an array of exactly one call (maxItems 1) under the
        # tools' schemas, and it ends there: even random weights give one complete, valid call.
        choice = chat(
            stack,
            model,
            tools=TOOLS,
            tool_choice="required",
            parallel_tool_calls=False,
            logit_bias=no_whitespace,
        ).choices[0]
        (call,) = choice.message.tool_calls
        assert call.function.name in SCHEMAS
        jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])

    def test_should_answer_or_call_a_tool_when_the_model_may_choose(self, stack: Stack) -> None:
        choice = chat(stack, tools=TOOLS, tool_choice="auto").choices[0]
        # The random weights decide; either way the answer is a well-formed chat completion.
        assert choice.finish_reason in ("stop", "length", "tool_calls")
        assert choice.message.role == "assistant"


class TestStructuredOutput:
    @pytest.mark.parametrize("model", ["tiny", "chat"])
    @pytest.mark.parametrize("stream", [False, True])
    def test_should_answer_json_that_fits_the_schema_when_json_schema_is_asked(
        self, stack: Stack, model: str, stream: bool
    ) -> None:
        response_format = {"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER}}
        if stream:
            chunks = chat(stack, model, response_format=response_format, stream=True)
            content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        else:
            content = chat(stack, model, response_format=response_format).choices[0].message.content
        jsonschema.validate(json.loads(content), ANSWER)

    def test_should_answer_a_json_object_when_json_object_is_asked(self, stack: Stack) -> None:
        completion = stack.openai().chat.completions.create(
            model="tiny", messages=MESSAGES, max_tokens=256, response_format={"type": "json_object"}
        )
        choice = completion.choices[0]
        # Free-form JSON may be cut by max_tokens; a complete one must parse to an object.
        if choice.finish_reason == "stop":
            assert isinstance(json.loads(choice.message.content), dict)
        else:
            assert choice.message.content.lstrip().startswith("{")


class TestBadToolRequests:
    @pytest.mark.parametrize(
        ("kwargs", "param"),
        [
            pytest.param(
                {"tools": TOOLS, "tool_choice": NOT_A_TOOL}, "tool_choice", id="forced-tool-not-in-tools"
            ),
            pytest.param({"tool_choice": FORCED}, "tool_choice", id="tool-choice-without-tools"),
            pytest.param({"response_format": BAD_FORMAT}, "response_format", id="invalid-json-schema"),
            pytest.param(
                {"tools": [BAD_TOOL], "tool_choice": "required"}, "tools", id="invalid-tool-parameters"
            ),
        ],
    )
    def test_should_answer_400_naming_the_parameter_when_the_request_is_bad(
        self, stack: Stack, kwargs: dict, param: str
    ) -> None:
        with pytest.raises(openai.BadRequestError) as err:
            chat(stack, **kwargs)
        body = err.value.body
        assert body["type"] == "invalid_request_error", body
        assert body["param"] == param, body

    @pytest.mark.parametrize("model", ["tiny-v2", "large"])  # by name, and by the size tier it is behind
    def test_should_answer_400_when_auto_tool_choice_is_off_for_the_model(
        self, stack: Stack, model: str
    ) -> None:
        with pytest.raises(openai.BadRequestError) as err:
            chat(stack, model, tools=TOOLS, tool_choice="auto")
        assert err.value.body["param"] == "tool_choice", err.value.body
