"""Every PromQL query the chart ships, and what each one selects.

The dashboard's panel targets and template variables, and the PrometheusRule's alert expressions,
as (where, expr) pairs; a small PromQL reader that finds the metric selectors in an expression
(name, label matchers) and the labels it groups or matches on; Grafana's variable substitution.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from devkit.helm import CHART_DIR

DASHBOARD_DIR = CHART_DIR / "files" / "dashboards"
DCGM_PREFIX = "DCGM_FI_"
_TOKEN = re.compile(
    r'(?P<string>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')'
    r"|(?P<range>\[[^\]]*\])"
    r"|(?P<duration>\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*(?![a-zA-Z0-9_:]))"  # after `offset`
    r"|(?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r"|(?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?)"
    r"|(?P<punct>=~|!~|!=|==|<=|>=|[{}(),=<>+\-*/^%])"
    r"|(?P<space>\s+)"
)
AGGREGATIONS = frozenset({
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
})  # fmt: skip
GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "atan2"})


@dataclass(frozen=True)
class Selector:
    """`name{label op "value", ...}` as written in a query."""

    metric: str
    matchers: tuple[tuple[str, str, str], ...] = ()

    @property
    def labels(self) -> set[str]:
        return {label for label, _, _ in self.matchers}


@dataclass
class Query:
    """One PromQL expression of the chart and where it lives."""

    where: str
    expr: str
    selectors: list[Selector] = field(init=False)
    grouping: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.selectors, self.grouping = parse(self.expr)

    @property
    def metrics(self) -> set[str]:
        return {s.metric for s in self.selectors}

    @property
    def gpu_only(self) -> bool:
        """Every metric from the DCGM exporter: nothing a CPU run can produce."""
        return all(m.startswith(DCGM_PREFIX) for m in self.metrics)


def tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None:
            raise ValueError(f"cannot read PromQL at {expr[pos : pos + 30]!r} in {expr!r}")
        pos = match.end()
        if match.lastgroup != "space":
            out.append((match.lastgroup, match.group()))
    return out


def parse(expr: str) -> tuple[list[Selector], set[str]]:
    """The metric selectors of an expression and the labels of its by/on/... clauses."""
    toks = tokens(expr)
    selectors: list[Selector] = []
    grouping: set[str] = set()
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        following = toks[i + 1][1] if i + 1 < len(toks) else ""
        if kind != "ident":
            i += 1
        elif text in GROUPING:
            close = _closing(toks, i + 1, "(", ")")
            grouping |= {t for k, t in toks[i + 2 : close] if k == "ident"}
            i = close + 1
        elif text in AGGREGATIONS or text in KEYWORDS or following == "(":
            i += 1  # an aggregation, operator keyword or function: its arguments follow
        else:
            matchers: tuple[tuple[str, str, str], ...] = ()
            i += 1
            if following == "{":
                close = _closing(toks, i, "{", "}")
                body = [t for _, t in toks[i + 1 : close] if t != ","]
                matchers = tuple((body[j], body[j + 1], body[j + 2][1:-1]) for j in range(0, len(body), 3))
                i = close + 1
            selectors.append(Selector(text, matchers))
    return selectors, grouping


def _closing(toks: list[tuple[str, str]], start: int, opening: str, closing: str) -> int:
    if toks[start][1] != opening:
        raise ValueError(f"expected {opening!r} at token {start}: {toks}")
    depth = 0
    for j in range(start, len(toks)):
        depth += {opening: 1, closing: -1}.get(toks[j][1], 0)
        if depth == 0:
            return j
    raise ValueError(f"unbalanced {opening}{closing}: {toks}")


# -- the dashboard ------------------------------------------------------------------------------


def dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARD_DIR.glob("*.json"))}


def panels(dashboard: dict) -> list[dict]:
    """Every panel, those nested in collapsed rows included."""
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def panel_queries(dashboard: dict) -> list[Query]:
    return [
        Query(f"panel {panel['title']!r} target {target['refId']}", target["expr"])
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\)$")


@dataclass(frozen=True)
class Variable:
    """A Grafana query variable: `label_values(<selector>, <label>)`."""

    name: str
    selector: str
    label: str

    @property
    def query(self) -> Query:
        return Query(f"variable ${self.name}", self.selector)


def variables(dashboard: dict) -> list[Variable]:
    out = []
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        match = _LABEL_VALUES.match(var["query"]["query"])
        if match is None:
            raise ValueError(f"variable {var['name']}: only label_values(selector, label) is supported")
        out.append(Variable(var["name"], match["selector"], match["label"]))
    return out


def substitute(expr: str, values: dict[str, list[str]], rate_interval: str) -> str:
    """Grafana's interpolation for a Prometheus data source: a multi-value variable in a regex
    matcher becomes `(a|b)` with each value regex-escaped, its backslashes doubled for the PromQL
    string literal it lands in."""

    def value(match: re.Match) -> str:
        name = match["name"]
        if name == "__rate_interval":
            return rate_interval
        chosen = [re.escape(v).replace("\\", "\\\\") for v in values[name]]
        return chosen[0] if len(chosen) == 1 else "(" + "|".join(chosen) + ")"

    return re.sub(r"\$\{?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)\}?", value, expr)


# -- the alert rules ----------------------------------------------------------------------------


def rule_groups(rendered_rule: dict) -> list[dict]:
    return rendered_rule["spec"]["groups"]


def alert_queries(groups: list[dict]) -> list[Query]:
    return [
        Query(f"alert {rule['alert']}", rule["expr"])
        for group in groups
        for rule in group["rules"]
        if "alert" in rule
    ]


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


# -- checks shared by the dashboard and alert proofs ----------------------------------------------


def unknown_metrics(queries: list[Query], known: set[str] | dict) -> list[str]:
    """`where: metric` for every selected metric missing from `known`."""
    return [f"{q.where}: {m}" for q in queries for m in sorted(q.metrics) if m not in known]


def unknown_labels(queries: list[Query], labels_of) -> list[str]:
    """`where: metric{label}` for every label a query matches on that its metric does not carry, and
    `where: by/on (label)` for every grouping label none of the query's metrics carries."""
    problems = []
    for q in queries:
        for selector in q.selectors:
            problems += [
                f"{q.where}: {selector.metric}{{{label}}}"
                for label in sorted(selector.labels - labels_of(selector.metric))
            ]
        carried = set().union(*(labels_of(m) for m in q.metrics))
        problems += [f"{q.where}: by/on ({label})" for label in sorted(q.grouping - carried)]
    return problems  # fmt: skip
