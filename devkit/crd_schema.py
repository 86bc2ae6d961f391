"""Convert the vendored upstream CRDs into the strict JSON Schemas `devkit.schema` validates against.

    python tools/crd_schemas.py           regenerate schemas/json/ from schemas/crds/
    python tools/crd_schemas.py --check   exit 1, naming each stale file, if that would change any byte

`schemas/crds.yaml` lists which CRD file in `schemas/crds/` and which of its served versions produce which
`schemas/json/{kind}_{version}.json` (kubeconform naming, lowercase); `schemas/SOURCES.md` records where
each CRD comes from. The `openAPIV3Schema` of a listed version becomes a standalone JSON Schema by these
rules, so that a misspelled field fails here as it does with `kubectl apply --validate=strict`:

* Every object that declares `properties` is closed with `additionalProperties: false`, the root too.
  Two kinds of object stay open: those marked `x-kubernetes-preserve-unknown-fields: true` (the
  apiserver keeps unknown keys there), and those inside `allOf`/`anyOf`/`oneOf`/`not` branches. A branch
  only validates values; which fields exist is decided by the structural schema around it, so a closed
  branch would reject fields its siblings declare.
* The apiserver applies defaults before it validates, so an absent property holds its default. When a
  branch constrains a property whose outer schema has a `default` that the branch rejects, the property
  joins the branch's `required`: absent then means "the default", which that branch does not accept.
  Properties that are `required` although they have a default stay required (as with kubeconform).
* Legacy `format: int-or-string` becomes `oneOf: [string, integer]`; `nullable: true` adds "null" to a
  string `type`; the root's `apiVersion` and `kind` are pinned with `enum`; `$schema` is Draft 2020-12.

Not enforced: CEL (`x-kubernetes-validations`), `format` and defaults. The output keeps the upstream
key order (added keys come last) and is written with a one-space indent and a trailing newline, so a
regeneration reproduces every file byte for byte.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import yaml

from devkit import REPO

SCHEMAS_DIR = REPO / "schemas"
CRD_DIR = SCHEMAS_DIR / "crds"
JSON_DIR = SCHEMAS_DIR / "json"
MANIFEST = SCHEMAS_DIR / "crds.yaml"
DIALECT = "https://json-schema.org/draft/2020-12/schema"

BRANCH_KEYWORDS = ("allOf", "anyOf", "oneOf", "not")
# Keywords whose value is a schema or a list of schemas, and keywords that map names to schemas.
SUBSCHEMA_KEYWORDS = ("items", "additionalProperties", "additionalItems", *BRANCH_KEYWORDS)
SCHEMA_MAP_KEYWORDS = ("properties", "patternProperties", "definitions", "dependencies")
PRESERVE_UNKNOWN = "x-kubernetes-preserve-unknown-fields"


@dataclass(frozen=True)
class Conversion:
    """One line of the manifest: `version` of the CRD in `crd` becomes the JSON Schema file `schema`."""

    schema: str
    crd: str
    version: str


def strict_schema(node: Mapping, *, in_branch: bool = False) -> dict:
    """A converted copy of one OpenAPI v3 schema node and everything below it (the input is untouched).

    `in_branch` is true below an `allOf`/`anyOf`/`oneOf`/`not`, where objects are left open.
    """
    out: dict = {}
    for key, value in node.items():
        if key in SCHEMA_MAP_KEYWORDS and isinstance(value, Mapping):
            out[key] = {name: _subschema(sub, in_branch) for name, sub in value.items()}
        elif key in SUBSCHEMA_KEYWORDS:
            out[key] = _subschema(value, in_branch or key in BRANCH_KEYWORDS)
        else:  # a keyword's value (description, enum, default, CEL rules, ...): kept as it is
            out[key] = copy.deepcopy(value)
    if out.get("format") == "int-or-string":
        return {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not in_branch
        and out.get(PRESERVE_UNKNOWN) is not True
    ):
        out["additionalProperties"] = False
    _require_rejected_defaults(out)
    if out.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _subschema(value, in_branch: bool):
    """Convert a keyword's schema, or each schema of a list; booleans and strings pass through."""
    if isinstance(value, Mapping):
        return strict_schema(value, in_branch=in_branch)
    if isinstance(value, list):
        return [strict_schema(v, in_branch=in_branch) if isinstance(v, Mapping) else v for v in value]
    return value


def _require_rejected_defaults(node: dict) -> None:
    """Add to each branch's `required` the properties it constrains whose outer default it rejects.

    The apiserver fills the default in before validating, so in the stored object such a property is
    never absent; a branch that would only match it absent must not match the defaulted object either.
    """
    properties = node.get("properties")
    if not isinstance(properties, Mapping):
        return
    for keyword in BRANCH_KEYWORDS:
        branches = node.get(keyword)
        for branch in branches if isinstance(branches, list) else [branches]:
            if not isinstance(branch, dict) or not isinstance(branch.get("properties"), Mapping):
                continue
            required = branch.get("required", [])
            added = [
                name
                for name, constraint in branch["properties"].items()
                if name not in required
                and isinstance(outer := properties.get(name), Mapping)
                and "default" in outer
                and not jsonschema.Draft202012Validator(constraint).is_valid(outer["default"])
            ]
            if added:
                branch["required"] = [*required, *added]


def schema_file_name(kind: str, version: str) -> str:
    """kubeconform's file name for a kind and version: `{kind}_{version}.json`, lowercase."""
    return f"{kind}_{version}".lower() + ".json"


def version_schema(crd: Mapping, version: str) -> dict:
    """The strict JSON Schema of one served version of a CRD, with apiVersion and kind pinned."""
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    served = {v["name"]: v for v in crd["spec"]["versions"]}
    if version not in served:
        raise ValueError(f"{kind} CRD serves {sorted(served)}, not {version}")
    root = served[version]["schema"]["openAPIV3Schema"]
    # A schema must not accept a document of another kind or version (existing keys keep their place).
    pinned = {
        "apiVersion": {"type": "string", "enum": [f"{group}/{version}"]},
        "kind": {"type": "string", "enum": [kind]},
    }
    schema = strict_schema({**root, "properties": {**root.get("properties", {}), **pinned}})
    schema["$schema"] = DIALECT
    return schema


def load_crd(path: Path) -> dict:
    """The one CustomResourceDefinition in a YAML file."""
    docs = [d for d in yaml.load_all(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader) if d]
    crds = [d for d in docs if d.get("kind") == "CustomResourceDefinition"]
    if len(crds) != 1:
        raise ValueError(f"{path.name}: expected one CustomResourceDefinition, found {len(crds)}")
    return crds[0]


def load_manifest(path: Path | None = None) -> list[Conversion]:
    """The conversions listed in `schemas/crds.yaml` (`schemas:` maps each output file to crd + version)."""
    entries = yaml.safe_load((path or MANIFEST).read_text(encoding="utf-8"))["schemas"]
    return [Conversion(schema=name, crd=e["crd"], version=e["version"]) for name, e in entries.items()]


def render(schema: Mapping) -> str:
    """The file text of a schema: stable key order, one-space indent, ASCII only, trailing newline."""
    return json.dumps(schema, indent=1) + "\n"


def generate(manifest: Path | None = None, crd_dir: Path | None = None) -> dict[str, str]:
    """{file name: text} of every JSON Schema the manifest lists, converted from the CRDs in `crd_dir`."""
    crd_dir = crd_dir or CRD_DIR
    crds: dict[str, dict] = {}
    files = {}
    for conversion in load_manifest(manifest):
        if conversion.crd not in crds:
            crds[conversion.crd] = load_crd(crd_dir / conversion.crd)
        crd = crds[conversion.crd]
        name = schema_file_name(crd["spec"]["names"]["kind"], conversion.version)
        if name != conversion.schema:
            raise ValueError(
                f"manifest names {conversion.schema} for {conversion.crd}, which produces {name}"
            )
        files[name] = render(version_schema(crd, conversion.version))
    return dict(sorted(files.items()))


def stale_files(expected: Mapping[str, str], json_dir: Path | None = None) -> list[str]:
    """The files a regeneration would write or delete: missing, different, or not in the manifest."""
    json_dir = json_dir or JSON_DIR
    present = {p.name for p in json_dir.glob("*.json")}
    changed = {
        name
        for name, text in expected.items()
        if name not in present or (json_dir / name).read_bytes() != text.encode()
    }
    return sorted(changed | (present - set(expected)))


def write_schemas(expected: Mapping[str, str], json_dir: Path | None = None) -> list[str]:
    """Make `json_dir` hold exactly `expected`; returns the names written or deleted."""
    json_dir = json_dir or JSON_DIR
    json_dir.mkdir(parents=True, exist_ok=True)
    stale = stale_files(expected, json_dir)
    for name in stale:
        if name in expected:
            (json_dir / name).write_bytes(expected[name].encode())
        else:
            (json_dir / name).unlink()
    return stale


def main(argv: list[str] | None = None) -> int:
    """Command line: regenerate schemas/json/, or with --check only report what is stale."""
    parser = argparse.ArgumentParser(
        prog="tools/crd_schemas.py",
        description="Convert the CRDs in schemas/crds/ (as listed in schemas/crds.yaml) into schemas/json/.",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any file would change")
    args = parser.parse_args(argv)
    expected = generate()
    where = JSON_DIR.relative_to(REPO) if JSON_DIR.is_relative_to(REPO) else JSON_DIR
    if args.check:
        if stale := stale_files(expected):
            print(
                f"{where} is stale (regenerate: make crd-schemas): {', '.join(stale)}",
                file=sys.stderr,
            )
            return 1
        print(f"{where}: {len(expected)} schemas up to date")
        return 0
    changed = write_schemas(expected)
    written = [name for name in changed if name in expected]
    deleted = [name for name in changed if name not in expected]
    print(
        f"{where}: {len(expected)} schemas; written: {', '.join(written) or 'none'}"
        + (f"; deleted: {', '.join(deleted)}" if deleted else "")
    )
    return 0
