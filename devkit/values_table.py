"""Generate the values table of chart/README.md from the `## @param` comments in chart/values.yaml.

    python tools/values_table.py           rewrite the table between the markers in chart/README.md
    python tools/values_table.py --check   exit 1 if the table is stale

`## @section Title` starts a table; `## @param key description` adds a row whose value is the default
in values.yaml (`list[].key` rows show the first default item's value). tests/chart/test_values_docs.py
checks that the comments, values.schema.json and this table describe the same keys.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass

import yaml

from devkit import REPO

VALUES = REPO / "chart" / "values.yaml"
README = REPO / "chart" / "README.md"
START, END = "<!-- values-table:start -->", "<!-- values-table:end -->"
_LINE = re.compile(r"^\s*## @(param|section) (\S+(?: \S+)*?)\s*$")


@dataclass(frozen=True)
class Param:
    section: str
    key: str
    description: str


def params(values_text: str) -> list[Param]:
    """The documented keys in order, each with its section."""
    found, section = [], ""
    for line in values_text.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        kind, rest = match.groups()
        if kind == "section":
            section = rest
        else:
            key, _, description = rest.partition(" ")
            found.append(Param(section, key, description))
    return found


def default_of(values: dict, key: str):
    """The default at a documented key (`a.b`, `list[].c`); None when the defaults do not have it."""
    node = values
    for part in key.split("."):
        is_list = part.endswith("[]")
        node = node.get(part.removesuffix("[]")) if isinstance(node, dict) else None
        if is_list:
            node = node[0] if isinstance(node, list) and node else None
    return node


def table(values_text: str) -> str:
    """The Markdown tables, one per section."""
    values = yaml.safe_load(values_text)
    out, section = [], None
    for param in params(values_text):
        if param.section != section:
            section = param.section
            out += ["", f"### {section}", "", "| Name | Description | Value |", "| --- | --- | --- |"]
        value = json.dumps(default_of(values, param.key)).replace("|", r"\|")
        description = param.description.replace("|", r"\|")
        out.append(f"| `{param.key}` | {description} | `{value}` |")
    return "\n".join(out).strip() + "\n"


def readme_with_table(readme_text: str, values_text: str) -> str:
    """The README with the table between the markers replaced."""
    head, _, rest = readme_text.partition(START)
    _, _, tail = rest.partition(END)
    if not rest:
        raise SystemExit(f"{README}: markers {START} ... {END} not found")
    return f"{head}{START}\n{table(values_text)}{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if chart/README.md is stale")
    args = parser.parse_args()
    current = README.read_text()
    wanted = readme_with_table(current, VALUES.read_text())
    if args.check:
        if current != wanted:
            print(
                f"{README.relative_to(REPO)}: values table is stale; run `make values-table`", file=sys.stderr
            )
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
