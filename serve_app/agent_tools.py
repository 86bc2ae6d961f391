"""The agent's tools: each a name, a JSON schema for its arguments and an async function.

A tool's result or failure is what the model sees next, never an HTTP error: `run_tool` turns an
unknown name, arguments that are not JSON (repaired once), arguments outside the schema, an exception
and a timeout into a `ToolOutcome` with an error.
"""

from __future__ import annotations

import ast
import asyncio
import datetime
import json
import operator
import re
import zoneinfo
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments
    run: Callable[..., Awaitable[Any]]

    def argument_problem(self, args: dict[str, Any]) -> str | None:
        """The first way `args` do not fit the tool's schema, or None."""
        problems = sorted(Draft202012Validator(self.parameters).iter_errors(args), key=lambda e: list(e.path))
        return problems[0].message if problems else None

    def spec(self) -> dict[str, Any]:
        """The OpenAI `tools[]` entry the model is offered."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass(frozen=True)
class ToolOutcome:
    result: Any = None
    error: str | None = None
    repaired: bool = False  # the arguments were not JSON as sent, but were after one repair

    def message_content(self) -> str:
        """What the `tool` message tells the model."""
        return json.dumps({"error": self.error} if self.error else {"result": self.result})


def _first_json_object(text: str) -> str | None:
    """The repair: the first `{...}` in text the model wrapped in prose or a code fence."""
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else None


def parse_arguments(text: str) -> tuple[dict[str, Any] | None, bool, str | None]:
    """(arguments, repaired, error) from a tool call's `arguments` string."""
    for candidate, repaired in ((text, False), (_first_json_object(text or ""), True)):
        if candidate is None:
            continue
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value, repaired, None
    return None, False, f"arguments are not a JSON object: {text[:200]!r}"


async def run_tool(tools: Mapping[str, Tool], name: str, arguments: str, timeout_s: float) -> ToolOutcome:
    """Runs one tool call of the model, bounded by `timeout_s`."""
    tool = tools.get(name)
    if tool is None:
        return ToolOutcome(error=f"unknown tool {name!r}; the tools are {sorted(tools)}")
    args, repaired, error = parse_arguments(arguments)
    if args is None:
        return ToolOutcome(error=error)
    if problem := tool.argument_problem(args):
        return ToolOutcome(error=f"arguments do not fit the tool's schema: {problem}", repaired=repaired)
    try:
        return ToolOutcome(result=await asyncio.wait_for(tool.run(**args), timeout_s), repaired=repaired)
    except TimeoutError:
        return ToolOutcome(error=f"{name} took longer than {timeout_s:g} s", repaired=repaired)
    except Exception as err:  # a tool's failure is a result the model sees
        return ToolOutcome(error=f"{name} failed: {type(err).__name__}: {err}", repaired=repaired)


# The calculator evaluates arithmetic on numbers only: no names, calls or attributes.
_OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.USub: operator.neg, ast.UAdd: operator.pos,
}  # fmt: skip
MAX_EXPONENT = 1000  # 10**1000 is fine; 10**10**10 would hold the replica for minutes
MAX_EXPRESSION = 500


def calculate(expression: str) -> float | int:
    """The value of an arithmetic expression (+ - * / // % ** and parentheses)."""
    if len(expression) > MAX_EXPRESSION:
        raise ValueError(f"the expression is longer than {MAX_EXPRESSION} characters")

    def value(node: ast.AST) -> float | int:
        match node:
            case ast.Constant(value=number) if isinstance(number, int | float) and not isinstance(
                number, bool
            ):
                return number
            case ast.BinOp(left, op, right) if type(op) in _OPERATORS:
                left_value, right_value = value(left), value(right)
                if isinstance(op, ast.Pow) and abs(right_value) > MAX_EXPONENT:
                    raise ValueError(f"exponents above {MAX_EXPONENT} are refused")
                return _OPERATORS[type(op)](left_value, right_value)
            case ast.UnaryOp(op, operand) if type(op) in _OPERATORS:
                return _OPERATORS[type(op)](value(operand))
        raise ValueError(f"only numbers and + - * / // % ** are allowed, not {ast.unparse(node)!r}")

    return value(ast.parse(expression, mode="eval").body)


async def _calculator(expression: str) -> float | int:
    return calculate(expression)


async def _clock(timezone: str = "UTC") -> str:
    try:
        zone = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {timezone!r} (use an IANA name such as Europe/Paris)") from None
    return datetime.datetime.now(zone).isoformat(timespec="seconds")


CALCULATOR = Tool(
    "calculator",
    "Evaluate an arithmetic expression with + - * / // % ** and parentheses.",
    {
        "type": "object",
        "properties": {"expression": {"type": "string", "maxLength": MAX_EXPRESSION}},
        "required": ["expression"],
        "additionalProperties": False,
    },
    _calculator,
)
CLOCK = Tool(
    "clock",
    "The current date and time in a time zone (IANA name, UTC by default).",
    {
        "type": "object",
        "properties": {"timezone": {"type": "string", "pattern": r"^[A-Za-z_]+(/[A-Za-z_+-]+)*$"}},
        "additionalProperties": False,
    },
    _clock,
)


def retrieval_tool(search: Callable[[str, int], Awaitable[list[dict[str, Any]]]], top_k: int) -> Tool:
    """Searches the RAG application's collection (`search(question, top_k)` → the hits)."""

    async def run(query: str) -> list[dict[str, Any]]:
        return await search(query, top_k)

    return Tool(
        "retrieve",
        "Search the document collection; returns the passages closest to the query, with their source.",
        {
            "type": "object",
            "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 2000}},
            "required": ["query"],
            "additionalProperties": False,
        },
        run,
    )


def http_tool(get: Callable[[str], Awaitable[str]], allowed_hosts: frozenset[str]) -> Tool:
    """GET a URL whose host is on the allow-list (`get(url)` → the body, bounded by the caller)."""

    async def run(url: str) -> str:
        match = re.match(r"^https?://([^/:?#]+)", url)
        host = match.group(1).lower() if match else ""
        if host not in allowed_hosts:
            raise PermissionError(f"host {host or url!r} is not on the allow-list {sorted(allowed_hosts)}")
        return await get(url)

    return Tool(
        "http_get",
        f"Fetch a web page from one of these hosts: {', '.join(sorted(allowed_hosts))}.",
        {
            "type": "object",
            "properties": {"url": {"type": "string", "pattern": "^https?://"}},
            "required": ["url"],
            "additionalProperties": False,
        },
        run,
    )
