"""The one module that calls Helm: render the chart like `helm template`, then validate every object.

Rendering goes through helm-python-sdk (Helm's Go SDK in-process): Helm's install checks (release name,
kubeVersion) and Helm's render, its documents sorted as `helm template` prints them, so release name,
namespace, values, `--set`, Kubernetes version and API versions behave as in `helm template`.
Every object (test hooks included) is validated strictly by devkit/schema.py before it is returned, and
the RayService's serveConfigV2 by Ray's own schema. Any Helm failure raises HelmRenderError. Values are
checked against values.schema.json by jsonschema-rs first (Helm's own check only for values it refuses).
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
# Helm's releaseutil.InstallOrder: the order an install applies (and `helm template` prints) kinds in.
INSTALL_ORDER = (
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
    "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
    "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding",
    "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
)  # fmt: skip
_KIND_RANK = {kind: rank for rank, kind in enumerate(INSTALL_ORDER)}


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
    values_json = json.dumps(values)
    try:
        # Helm compiles values.schema.json at every render (half its time); jsonschema-rs compiles it once
        # and checks the values Helm checks (defaults coalesced). Values it refuses go through Helm's
        # install, so a refusal carries the message `helm install` prints.
        if problems := schema.values_problems(
            _chart().merge_values(values), CHART_DIR / "values.schema.json"
        ):
            install_dry_run(values_json, release, namespace, options)
            raise HelmRenderError(
                "jsonschema-rs refuses values Helm's values.schema.json check accepts:\n"
                + "\n".join(problems)
            )
        # Helm's install checks the release name and the chart's kubeVersion; on a chart with no templates
        # they cost a millisecond. The install of the whole chart takes twice its render (manifest building
        # a client dry run never uses), so the templates are rendered once and sorted here like Helm does.
        install_dry_run("{}", release, namespace, options, chart=_metadata_chart())
        templates = render_templates(values_json, release, options)
    except helm_python.HelmError as exc:
        raise HelmRenderError(str(exc)) from exc
    documents = sorted_documents(templates)
    text = "".join(f"---\n# Source: {path}\n{doc}\n" for path, doc, _ in documents)
    objects = [obj for _, _, obj in documents if obj]
    schema.validate_objects(objects, kube_version, text)
    rendered = Rendered(
        text=text, objects=objects, notes=templates.get(f"{_chart().name}/templates/NOTES.txt", "")
    )
    if rendered.of_kind("RayService"):
        rendered.serve_config  # noqa: B018  (validates serveConfigV2 now, not at first use)
    return rendered


def render_templates(values_json: str, release: str, options: dict) -> dict[str, str]:
    """Helm's render of the chart's templates alone, values taken as checked: {path: rendered text}."""
    return json.loads(
        _native.call_string(
            "helm_render",
            _unchecked_chart()._raw(),
            values_json,
            json.dumps({**options, "name": release, "is_install": True}),
        )
    )


def install_dry_run(
    values_json: str, release: str, namespace: str, options: dict, chart: helm_python.Chart | None = None
) -> dict:
    """`helm install --dry-run=client`: the release Helm builds (its manifest leaves hooks out; notes)."""
    config = _config(namespace)
    # Private call: Config.install() does not pass kube_version/api_versions, the native call does.
    payload = _native.call_string(
        "helm_install",
        config._raw(),
        config._context_arg(None),
        *config._chart_args(chart or _chart()),
        release,
        values_json,
        json.dumps({**options, "dry_run": "client"}),
    )
    return json.loads(payload)


def sorted_documents(templates: dict[str, str]) -> list[tuple[str, str, Any]]:
    """(path, document, parsed) of rendered templates in the order `helm template` prints them.

    Helm's releaseutil.SortManifests: files by path, documents in file order; hooks (documents with a
    `helm.sh/hook` annotation) after the rest; each part stably sorted by kind in INSTALL_ORDER, kinds Helm
    does not know after those, alphabetically. Partials and NOTES.txt are not manifests.
    """
    manifests, hooks = [], []
    for path in sorted(templates):
        if Path(path).name.startswith("_") or path.endswith("NOTES.txt") or not templates[path].strip():
            continue
        # Helm 4.2's SplitManifests trims each document's leading whitespace only: `helm template` keeps
        # the newline a file ends with, which prints as a blank line before the next `---`.
        for piece in _DOC_SEPARATOR.split(templates[path]):
            if not piece:
                continue
            doc = piece.lstrip()
            try:
                parsed = yaml.load(doc, Loader=yaml.CSafeLoader)
            except yaml.YAMLError as exc:
                raise HelmRenderError(f"YAML parse error on {path}: {exc}") from exc
            head = parsed if isinstance(parsed, dict) else {}
            annotations = (head.get("metadata") or {}).get("annotations") or {}
            (hooks if "helm.sh/hook" in annotations else manifests).append(
                (head.get("kind") or "", path, doc, parsed)
            )
    return [(path, doc, parsed) for _, path, doc, parsed in _by_kind(manifests) + _by_kind(hooks)]


def _by_kind(documents: list[tuple]) -> list[tuple]:
    return sorted(documents, key=lambda d: (0, _KIND_RANK[d[0]], "") if d[0] in _KIND_RANK else (1, 0, d[0]))


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
def _unchecked_chart() -> helm_python.Chart:
    """The chart without values.schema.json: render_chart has checked the values with the same schema."""
    return _chart_archive(lambda path: path.name != "values.schema.json")


@functools.cache
def _metadata_chart() -> helm_python.Chart:
    """Chart.yaml alone: what Helm's install checks of release name and kubeVersion need, no templates."""
    return _chart_archive(lambda path: path.name == "Chart.yaml")


def _chart_archive(keep) -> helm_python.Chart:
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for path in sorted(CHART_DIR.rglob("*")):
            if path.is_file() and keep(path):
                tar.add(path, arcname=f"{_chart().name}/{path.relative_to(CHART_DIR)}")
    return helm_python.Chart.load_archive(archive.getvalue())


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
