"""The one module that calls Helm: render the chart like `helm template`, then validate every object.

Rendering goes through helm-python-sdk (Helm's Go SDK in-process) with an install dry run, so release
name, namespace, values, `--set`, Kubernetes version and API versions behave as in `helm template`.
Every object (test hooks included) is validated strictly by devkit/schema.py before it is returned, and
the RayService's serveConfigV2 by Ray's own schema. Any Helm failure raises HelmRenderError.
"""

from __future__ import annotations

import functools
import io
import json
import re
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python
import yaml
from helm_python import _native

from devkit import REPO, schema

CHART_DIR = REPO / "chart"
DEFAULT_KUBE_VERSION = "1.30"
# The same split Helm applies to a template file with several documents (releaseutil.SplitManifests).
_DOC_SEPARATOR = re.compile(r"(?:^|\s*\n)---\s*")


class HelmRenderError(Exception):
    """Helm refused to render (schema, preflight `fail`, template or kubeVersion error); Helm's message."""


@dataclass(frozen=True)
class Rendered:
    """One render: the text `helm template` prints and its parsed objects."""

    text: str
    objects: list[dict] = field(repr=False)
    notes: str = field(repr=False, default="")

    def of_kind(self, kind: str) -> list[dict]:
        """Every object of a kind, in render order."""
        return [obj for obj in self.objects if obj["kind"] == kind]

    def get(self, kind: str, name: str | None = None) -> dict:
        """The one object of a kind (and name); KeyError when there is not exactly one."""
        found = [obj for obj in self.of_kind(kind) if name is None or obj["metadata"]["name"] == name]
        if len(found) != 1:
            names = [obj["metadata"]["name"] for obj in self.of_kind(kind)]
            raise KeyError(f"expected one {kind}{f' named {name}' if name else ''}, rendered: {names}")
        return found[0]

    @functools.cached_property
    def serve_config_text(self) -> str:
        """The RayService's serveConfigV2 string, byte for byte."""
        return self.get("RayService")["spec"]["serveConfigV2"]

    @functools.cached_property
    def serve_config(self) -> dict:
        """serveConfigV2 parsed (and validated with Ray's ServeDeploySchema)."""
        return schema.validate_serve_config(self.serve_config_text)


def render_chart(
    values_files: Iterable[str | Path] = (),
    set_values: Mapping[str, Any] | Sequence[str] | None = None,
    release: str = "llm",
    namespace: str = "default",
    kube_version: str = DEFAULT_KUBE_VERSION,
    api_versions: Iterable[str] = (),
) -> Rendered:
    """Render the chart like `helm template -f ... --set ...` and validate every object.

    `set_values` is either `["a.b=c", ...]` (Helm's `--set` syntax) or `{"a.b": value}` where each value
    is any JSON value (Helm's `--set-json`). Files merge like Helm's `-f` (later wins, maps merge deep),
    then the sets apply on top.
    """
    try:
        values = user_values(values_files, set_values)
    except helm_python.HelmError as exc:
        raise HelmRenderError(str(exc)) from exc
    options = {
        "namespace": namespace,
        "kube_version": f"v{kube_version}.0",
        "api_versions": list(api_versions),
    }
    chart, config, values_json = _chart(), _config(namespace), json.dumps(values)
    try:
        # Private call: Config.install() does not pass kube_version/api_versions, the native call does.
        payload = _native.call_string(
            "helm_install",
            config._raw(),
            config._context_arg(None),
            *config._chart_args(chart),
            release,
            values_json,
            json.dumps({**options, "dry_run": "client"}),
        )
        hooks = _render_hooks(_hooks_chart(), values_json, {**options, "name": release})
    except helm_python.HelmError as exc:
        raise HelmRenderError(str(exc)) from exc
    release_info = json.loads(payload)
    text = release_info["manifest"] + "".join(f"---\n# Source: {path}\n{doc}\n" for path, doc in hooks)
    objects = [obj for obj in yaml.load_all(text, Loader=yaml.CSafeLoader) if obj]
    schema.validate_objects(objects, kube_version, text)
    rendered = Rendered(text=text, objects=objects, notes=release_info.get("notes", ""))
    if rendered.of_kind("RayService"):
        rendered.serve_config  # noqa: B018  (validates serveConfigV2 now, not at first use)
    return rendered


def user_values(
    values_files: Iterable[str | Path] = (), set_values: Mapping[str, Any] | Sequence[str] | None = None
) -> dict:
    """The user-supplied values Helm would build from `-f` files and `--set`/`--set-json` flags."""
    values: dict = {}
    for path in map(Path, values_files):
        values = _merge_maps(values, _values_file(str(path.resolve()), path.stat().st_mtime_ns))
    if isinstance(set_values, Mapping):
        sets = [helm_python.parse_set_json(f"{key}={json.dumps(value)}") for key, value in set_values.items()]
    else:
        sets = [helm_python.parse_set_string(expression) for expression in set_values or ()]
    for parsed in sets:
        values = _apply_set(values, parsed)
    return values


@functools.cache
def _chart() -> helm_python.Chart:
    return helm_python.Chart.load(CHART_DIR)


@functools.cache
def _config(namespace: str) -> helm_python.Config:
    # Memory storage and a client dry run: nothing contacts a cluster.
    return helm_python.Config(namespace=namespace, storage_driver="memory")


@functools.cache
def _hooks_chart() -> helm_python.Chart:
    """The chart cut down to its partials and the templates that declare hooks.

    An install leaves hooks out of its manifest, so they are rendered on their own: without the other
    templates and the schema (the install has checked the values) that render takes a few ms.
    """
    keep = [CHART_DIR / "Chart.yaml", CHART_DIR / "values.yaml"]
    keep += [
        path
        for path in sorted((CHART_DIR / "templates").rglob("*"))
        if path.is_file() and (path.name.startswith("_") or "helm.sh/hook" in path.read_text())
    ]
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for path in keep:
            tar.add(path, arcname=f"{_chart().name}/{path.relative_to(CHART_DIR)}")
    return helm_python.Chart.load_archive(archive.getvalue())


def _render_hooks(chart: helm_python.Chart, values_json: str, options: dict) -> list[tuple[str, str]]:
    """(path, document) of every hook a chart renders, in Helm's order (weight, then name)."""
    templates = json.loads(
        _native.call_string(
            "helm_render", chart._raw(), values_json, json.dumps({**options, "is_install": True})
        )
    )
    return _hooks(templates)


@functools.cache
def _values_file(path: str, mtime_ns: int) -> dict:
    # Helm's own YAML reading, so `yes`, `on`, `1e3` mean what they mean to `helm -f`.
    return helm_python.values_from_yaml(Path(path).read_text())


def _merge_maps(base: dict, override: dict) -> dict:
    """Helm's mergeMaps for `-f` files: maps merge deep, anything else in the later file wins."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_maps(out[key], value)
        else:
            out[key] = value
    return out


def _apply_set(base: Any, parsed: Any) -> Any:
    """Helm's strvals.ParseInto: a set writes into existing maps and list items, index by index."""
    if isinstance(parsed, dict) and isinstance(base, dict):
        return {**base, **{key: _apply_set(base.get(key), value) for key, value in parsed.items()}}
    if isinstance(parsed, list) and isinstance(base, list):
        # `a[2].b=c` parses to [None, None, {b: c}]: the None slots leave existing items as they are.
        merged = list(base) + [None] * (len(parsed) - len(base))
        for i, new in enumerate(parsed):
            if new is not None:
                merged[i] = _apply_set(merged[i], new)
        return merged
    return parsed


def _hooks(templates: dict[str, str]) -> list[tuple[str, str]]:
    """(path, document) of every hook among rendered templates, in Helm's order (weight, then name)."""
    hooks = []
    for path, content in templates.items():
        # Like Helm: NOTES.txt and partials are not manifests; a file without the word holds no hook.
        if path.endswith("NOTES.txt") or Path(path).name.startswith("_") or "helm.sh/hook" not in content:
            continue
        for doc in _DOC_SEPARATOR.split(content):
            doc = doc.strip()
            if "helm.sh/hook" not in doc:
                continue
            parsed = yaml.load(doc, Loader=yaml.CSafeLoader)
            annotations = (parsed.get("metadata") or {}).get("annotations") or {}
            if "helm.sh/hook" in annotations:
                weight = int(annotations.get("helm.sh/hook-weight", 0))
                hooks.append((weight, parsed["metadata"]["name"], path, doc))
    return [(path, doc) for _, _, path, doc in sorted(hooks)]
