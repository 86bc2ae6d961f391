"""serve_app.agent_tools: the agent's tools and how one tool call of the model is run."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from serve_app.agent_tools import CALCULATOR, CLOCK, Tool, calculate, http_tool, parse_arguments, run_tool


async def _sleeps(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "woke"


async def _fails() -> None:
    raise RuntimeError("disk on fire")


SLEEPER = Tool("sleep", "", {"type": "object", "properties": {"seconds": {"type": "number"}}}, _sleeps)
BROKEN = Tool("broken", "", {"type": "object"}, _fails)
TOOLS = {t.name: t for t in (CALCULATOR, CLOCK, SLEEPER, BROKEN)}


def run(name: str, arguments: str, timeout_s: float = 5.0):
    return asyncio.run(run_tool(TOOLS, name, arguments, timeout_s))


class TestCalculate:
    @pytest.mark.parametrize(
        ("expression", "value"),
        [("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("7 / 2", 3.5), ("7 // 2", 3), ("-2 ** 2", -4), ("10 % 4", 2)],
    )
    def test_should_evaluate_arithmetic_when_given_numbers_and_operators(self, expression, value) -> None:
        assert calculate(expression) == value

    @pytest.mark.parametrize(
        ("expression", "says"),
        [
            ("__import__('os').system('id')", "only numbers"),
            ("x + 1", "only numbers"),
            ("True + 1", "only numbers"),
            ("2 ** 100000", "exponents above 1000"),
            ("1" * 600, "longer than 500"),
        ],
    )
    def test_should_refuse_anything_but_arithmetic_when_asked_to_evaluate(self, expression, says) -> None:
        with pytest.raises(ValueError, match=says):
            calculate(expression)


class TestParseArguments:
    def test_should_read_a_json_object_when_the_model_sent_one(self) -> None:
        assert parse_arguments('{"a": 1}') == ({"a": 1}, False, None)

    def test_should_repair_once_when_the_object_is_wrapped_in_prose(self) -> None:
        assert parse_arguments('Sure! ```json\n{"a": 1}\n```') == ({"a": 1}, True, None)

    @pytest.mark.parametrize("text", ["", "nope", "[1, 2]", "{'a': 1}"])
    def test_should_report_an_error_when_no_json_object_is_found(self, text: str) -> None:
        args, repaired, error = parse_arguments(text)
        assert (args, repaired) == (None, False)
        assert error.startswith("arguments are not a JSON object")


class TestRunTool:
    def test_should_return_the_result_when_the_call_is_good(self) -> None:
        outcome = run("calculator", '{"expression": "6 * 7"}')
        assert (outcome.result, outcome.error) == (42, None)
        assert outcome.message_content() == '{"result": 42}'

    def test_should_tell_the_model_the_tools_when_it_names_an_unknown_one(self) -> None:
        outcome = run("weather", "{}")
        assert (
            outcome.error
            == "unknown tool 'weather'; the tools are ['broken', 'calculator', 'clock', 'sleep']"
        )

    def test_should_report_the_schema_problem_when_arguments_do_not_fit(self) -> None:
        outcome = run("calculator", '{"expr": "1"}')
        assert outcome.error == "arguments do not fit the tool's schema: 'expression' is a required property"

    def test_should_report_a_timeout_when_the_tool_takes_too_long(self) -> None:
        outcome = run("sleep", '{"seconds": 10}', timeout_s=0.05)
        assert outcome.error == "sleep took longer than 0.05 s"

    def test_should_report_the_exception_when_the_tool_fails(self) -> None:
        assert run("broken", "{}").error == "broken failed: RuntimeError: disk on fire"
        assert (
            run("calculator", '{"expression": "1/0"}').error
            == "calculator failed: ZeroDivisionError: division by zero"
        )

    def test_should_mark_the_outcome_repaired_when_the_arguments_needed_it(self) -> None:
        outcome = run("calculator", 'call: {"expression": "1+1"}')
        assert (outcome.result, outcome.repaired) == (2, True)

    def test_should_answer_the_time_in_the_zone_when_asked(self) -> None:
        stamp = datetime.datetime.fromisoformat(run("clock", '{"timezone": "Asia/Tokyo"}').result)
        assert stamp.utcoffset() == datetime.timedelta(hours=9)
        assert "unknown time zone 'Mars/Olympus'" in run("clock", '{"timezone": "Mars/Olympus"}').error


class TestHttpTool:
    def test_should_fetch_only_from_allowed_hosts_when_called(self) -> None:
        async def get(url: str) -> str:
            return f"body of {url}"

        tools = {"http_get": http_tool(get, frozenset({"docs.ray.io"}))}
        ok = asyncio.run(run_tool(tools, "http_get", '{"url": "https://docs.ray.io/en/latest"}', 5))
        assert ok.result == "body of https://docs.ray.io/en/latest"
        refused = asyncio.run(run_tool(tools, "http_get", '{"url": "http://169.254.169.254/latest"}', 5))
        assert refused.error == (
            "http_get failed: PermissionError: host '169.254.169.254' is not on the allow-list "
            "['docs.ray.io']"
        )
