"""Strict validation of rendered manifests and of the RayService's serveConfigV2.

Built-in kinds are checked against the strict schemas bundled in `kubernetes-validate` for the given
Kubernetes version; custom resources against the repository's own JSON schemas in `schemas/json/`
(`CRD_SCHEMAS`: converted from the vendored upstream CRDs in `schemas/crds/` by devkit.crd_schema,
provenance in `schemas/SOURCES.md`), with the strict ObjectMeta swapped in for their free-form root
`metadata`. A kind with no schema is a failure, never a warning. When a `kubeconform` binary is on PATH
it validates the same text against the same folder and must agree. The validators are jsonschema-rs's
(compiled once per kind, a hundred times faster than the pure-Python `jsonschema` on these schemas):
every test renders through here, so this is most of the suite's validation time.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import shutil
import subprocess
import types
import typing
from collections.abc import Iterable
from pathlib import Path

import jsonschema_rs
import yaml

from devkit import REPO

CRD_SCHEMAS = REPO / "schemas" / "json"
K8S_SCHEMAS = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"
OBJECT_META = DEFINITIONS_URI + "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


class SchemaValidationError(Exception):
    """Rendered objects that break their schema; the message lists every problem."""


def _strict_dir(kube_version: str):
    return K8S_SCHEMAS / f"v{kube_version}.0-local-strict"


@functools.cache
def _registry(kube_version: str) -> jsonschema_rs.Registry:
    definitions = json.loads((_strict_dir(kube_version) / "_definitions.json").read_text())
    return jsonschema_rs.Registry([(DEFINITIONS_URI, definitions)])


@functools.cache
def _validator(api_version: str, kind: str, kube_version: str) -> jsonschema_rs.Draft202012Validator:
    """The validator of one kind; raises LookupError when no schema exists for it."""
    group, _, version = api_version.rpartition("/")
    crd = CRD_SCHEMAS / f"{kind.lower()}_{version}.json"
    if "." in group and crd.is_file():
        schema = json.loads(crd.read_text())
        schema["properties"]["metadata"] = {"$ref": OBJECT_META}
    else:
        # kubernetes-validate names `{kind}-{first group label}-{version}.json`, core `{kind}-{version}.json`
        suffix = f"{group.split('.')[0]}-{version}" if group else version
        builtin = _strict_dir(kube_version) / f"{kind.lower()}-{suffix}.json"
        if not builtin.is_file():
            raise LookupError(
                f"no schema for {api_version} {kind} (Kubernetes {kube_version}, CRDs in {CRD_SCHEMAS})"
            )
        schema = json.loads(builtin.read_text())
    return jsonschema_rs.Draft202012Validator(schema, registry=_registry(kube_version))


def _label(obj: dict) -> str:
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


def object_problems(obj: dict, kube_version: str) -> list[str]:
    """Every schema problem of one object, as `Kind/name: path: message` lines."""
    try:
        validator = _validator(obj.get("apiVersion", ""), obj.get("kind", ""), kube_version)
    except LookupError as exc:
        return [f"{_label(obj)}: {exc}"]
    return [
        f"{_label(obj)}: {'.'.join(map(str, error.instance_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(obj)
    ]


@functools.cache
def _values_validator(path: str, mtime_ns: int) -> jsonschema_rs.Draft202012Validator:
    return jsonschema_rs.Draft202012Validator(json.loads(Path(path).read_text()))


def values_problems(values: dict, schema_path: Path) -> list[str]:
    """Every problem of (coalesced) chart values against a values.schema.json, as `path: message` lines."""
    validator = _values_validator(str(schema_path), schema_path.stat().st_mtime_ns)
    return [
        f"{'.'.join(map(str, error.instance_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(values)
    ]


def validate_objects(objects: Iterable[dict], kube_version: str, text: str | None = None) -> None:
    """Raise SchemaValidationError listing every problem of every object (kubeconform too, if installed)."""
    objects = list(objects)
    problems = [p for obj in objects for p in object_problems(obj, kube_version)]
    if text is not None and shutil.which("kubeconform"):
        problems += _kubeconform_disagreements(objects, text, kube_version, problems)
    if problems:
        raise SchemaValidationError(
            f"{len(problems)} schema problem(s) (Kubernetes {kube_version}):\n" + "\n".join(problems)
        )


def _kubeconform_disagreements(
    objects: list[dict], text: str, kube_version: str, problems: list[str]
) -> list[str]:
    """kubeconform's verdict on the same text must match ours, object by object."""
    result = subprocess.run(
        [
            "kubeconform",
            "-strict",
            "-verbose",
            "-output",
            "json",
            "-kubernetes-version",
            f"{kube_version}.0",
            "-schema-location",
            "default",
            "-schema-location",
            f"{CRD_SCHEMAS}/{{{{.ResourceKind}}}}{{{{.KindSuffix}}}}.json",
            "-",
        ],
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    verdicts = {f"{r['kind']}/{r['name']}": r for r in json.loads(result.stdout or "{}").get("resources", [])}
    ours_invalid = {p.split(":", 1)[0] for p in problems}
    disagreements = []
    for obj in objects:
        label = _label(obj)
        # -verbose lists every resource; one it skipped or missed counts as a disagreement.
        theirs = verdicts.get(label, {"status": "statusMissing"})
        if (theirs["status"] != "statusValid") != (label in ours_invalid):
            disagreements.append(
                f"{label}: kubeconform says {theirs['status']} {theirs.get('msg', '')}".rstrip()
            )
    return disagreements


def _model_in(annotation) -> type | None:
    """The pydantic model inside an annotation like Optional[Union[Dict, Model]] or List[Model], if any."""
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            if found := _model_in(arg):
                return found
    return None


@functools.cache
def _fields(model: type) -> tuple[frozenset[str], dict[str, type]]:
    """(every key a model accepts, its fields that hold another model)."""
    fields = model.model_fields
    known = frozenset(fields) | {f.alias for f in fields.values() if f.alias}
    nested = {name: sub for name, field in fields.items() if (sub := _model_in(field.annotation)) is not None}
    return known, nested


def _unknown_keys(model: type, data, path: str) -> list[str]:
    """Keys Ray's schemas would silently ignore (they allow extras for forward compatibility)."""
    if not isinstance(data, dict):
        return []
    known, nested = _fields(model)
    found = [f"{path}.{key}: unknown to {model.__name__}" for key in data if key not in known]
    for name, sub in nested.items():
        value = data.get(name)
        if isinstance(value, list):
            for i, item in enumerate(value):
                found += _unknown_keys(sub, item, f"{path}.{name}[{i}]")
        else:
            found += _unknown_keys(sub, value, f"{path}.{name}")
    return found


def validate_serve_config(text: str) -> dict:
    """Parse serveConfigV2 and validate it with Ray's own ServeDeploySchema, refusing unknown keys."""
    from pydantic import ValidationError
    from ray.serve.schema import ServeDeploySchema

    config = yaml.load(text, Loader=yaml.CSafeLoader)
    try:
        ServeDeploySchema.model_validate(config)
    except ValidationError as exc:
        raise SchemaValidationError(f"serveConfigV2 fails Ray's ServeDeploySchema:\n{exc}") from exc
    if unknown := _unknown_keys(ServeDeploySchema, config, "serveConfigV2"):
        raise SchemaValidationError("serveConfigV2 has keys Ray would ignore:\n" + "\n".join(unknown))
    return config
