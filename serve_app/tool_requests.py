"""Tool-calling and structured-output requests the served model would refuse, as the client's 400.

vLLM refuses them too, but from inside the engine's frontend, after routing, with its command-line
flags in the message and no `param`: a chart user sets `engine.enableAutoToolChoice`, not
`--enable-auto-tool-choice`. Checked in the gateway once the request's model is resolved (an alias or
a canary arm may land on a model with or without automatic tool choice).
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, SchemaError
from ray.llm._internal.serve.core.configs.openai_api_models import ChatCompletionRequest

from serve_app.errors import ApiError


def _schemas(body: ChatCompletionRequest) -> list[tuple[str, str, Any]]:
    """(param, where, schema) of every JSON schema in the request: tool parameters, response_format."""
    found = [
        ("tools", f"tools[{i}].function.parameters", tool.function.parameters)
        for i, tool in enumerate(body.tools or [])
        if tool.function.parameters is not None
    ]
    response_format = body.response_format
    json_schema = getattr(response_format, "json_schema", None)
    if getattr(response_format, "type", None) == "json_schema" and json_schema is not None:
        found.append(("response_format", "response_format.json_schema.schema", json_schema.json_schema))
    return found


def tool_request_error(body: Any, model: str, auto_tool_models: frozenset[str]) -> ApiError | None:
    """The first problem of a chat `body` for the served `model`, or None; `auto_tool_models` are the
    models whose engine has enableAutoToolChoice. Other bodies pass: vLLM's models for them keep unknown
    fields (a `tools` on a completion) without reading them."""
    if not isinstance(body, ChatCompletionRequest):
        return None
    auto = body.tools and body.tool_choice == "auto"
    if auto and model not in auto_tool_models:
        # vLLM reads tools sent without a tool_choice as "auto", as OpenAI does.
        return ApiError(
            400,
            f"The model {model!r} does not choose tools by itself (its engine has no "
            'enableAutoToolChoice): force a function with tool_choice, send "required" or "none", '
            "or leave tools out",
            param="tool_choice",
        )
    for param, where, schema in _schemas(body):
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as err:
            return ApiError(400, f"{where} is not a valid JSON schema: {err.message}", param=param)
        except RecursionError:
            return ApiError(400, f"{where} is nested too deeply to check", param=param)
    return None
