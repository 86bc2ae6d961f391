"""serve_app.tool_requests: tool and structured-output requests a served model would refuse, on vLLM's
own request model, without Ray."""

from __future__ import annotations

import pytest
from ray.llm._internal.serve.core.configs.openai_api_models import ChatCompletionRequest, CompletionRequest

from serve_app.tool_requests import tool_request_error

TOOL = {"type": "function", "function": {"name": "clock", "parameters": {"type": "object"}}}
AUTO = frozenset({"tiny"})
OBJECT = {"type": "object"}


def request(**extra) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}
    )


class TestToolRequestError:
    @pytest.mark.parametrize(
        "extra",
        [
            pytest.param({"tools": [TOOL]}, id="tools-without-tool-choice"),
            pytest.param({"tools": [TOOL], "tool_choice": "auto"}, id="auto"),
        ],
    )
    def test_should_refuse_auto_naming_tool_choice_when_the_model_has_no_auto_tool_choice(
        self, extra
    ) -> None:
        error = tool_request_error(request(**extra), "tiny-v2", AUTO)
        assert (error.status, error.param) == (400, "tool_choice")
        assert error.message.startswith("The model 'tiny-v2' does not choose tools by itself")

    @pytest.mark.parametrize(
        "extra",
        [
            pytest.param({"tools": [TOOL]}, id="auto-on-a-model-with-auto"),
            pytest.param({"tools": [TOOL], "tool_choice": "required"}, id="required"),
            pytest.param({"tools": [TOOL], "tool_choice": "none"}, id="none"),
            pytest.param({"response_format": {"type": "json_object"}}, id="json-object"),
            pytest.param(
                {"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": OBJECT}}},
                id="json-schema",
            ),
        ],
    )  # fmt: skip
    def test_should_pass_the_request_when_the_model_can_serve_it(self, extra) -> None:
        model = "tiny" if "tool_choice" not in extra else "tiny-v2"
        assert tool_request_error(request(**extra), model, AUTO) is None

    def test_should_name_the_tool_when_its_parameters_are_not_a_schema(self) -> None:
        bad = {
            "type": "function",
            "function": {"name": "f", "parameters": {"type": "object", "required": "x"}},
        }
        error = tool_request_error(request(tools=[TOOL, bad], tool_choice="required"), "tiny", AUTO)
        assert (error.status, error.param) == (400, "tools")
        assert (
            error.message
            == "tools[1].function.parameters is not a valid JSON schema: 'x' is not of type 'array'"
        )

    def test_should_name_response_format_when_its_schema_is_not_a_schema(self) -> None:
        response_format = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "nope"}}}
        error = tool_request_error(request(response_format=response_format), "tiny", AUTO)
        assert (error.status, error.param) == (400, "response_format")
        assert error.message.startswith("response_format.json_schema.schema is not a valid JSON schema: ")

    def test_should_pass_a_completion_whatever_unknown_fields_it_carries(self) -> None:
        body = CompletionRequest.model_validate(
            {"model": "m", "prompt": "0", "tools": True, "tool_choice": "auto"}
        )
        assert tool_request_error(body, "tiny-v2", AUTO) is None

    def test_should_refuse_a_schema_nested_deeper_than_the_check_goes(self) -> None:
        schema: dict = {"type": "object"}
        for _ in range(5000):
            schema = {"type": "object", "properties": {"a": schema}}
        response_format = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
        error = tool_request_error(request(response_format=response_format), "tiny", AUTO)
        assert (error.status, error.param) == (400, "response_format")
