"""values.yaml, values.schema.json and the chart/README.md table describe the same keys."""

import json

import yaml

from devkit import values_table
from devkit.helm import CHART_DIR

VALUES_TEXT = (CHART_DIR / "values.yaml").read_text()
SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text())


def _schema_paths(schema: dict) -> tuple[set[str], set[str]]:
    """(keys that need a @param, keys a @param may name). A `$ref` or a free-form map is documented as a
    unit, an object with properties through its keys, a list of objects as `list` and `list[].key`."""
    required, allowed = set(), set()

    def walk(node: dict, path: str, in_ref: bool) -> None:
        if "$ref" in node:
            if not in_ref:
                required.add(path)
            allowed.add(path)
            walk(SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[1]], path, True)
            return
        allowed.add(path)
        items = node.get("items") or {}
        if "properties" in node:
            for key, sub in node["properties"].items():
                walk(sub, f"{path}.{key}".lstrip("."), in_ref)
        elif "properties" in items or "$ref" in items:
            if not in_ref:
                required.add(path)
            if "properties" in items:
                walk(items, f"{path}[]", in_ref)
        elif not in_ref:
            required.add(path)

    walk(schema, "", False)
    allowed.discard("")
    return required, allowed


def _value_paths(node, prefix="") -> set[str]:
    """Every key path of the default values (lists and maps of user keys count as one value)."""
    if not isinstance(node, dict) or not node:
        return {prefix}
    return set().union(*(_value_paths(v, f"{prefix}.{k}".lstrip(".")) for k, v in node.items()))


def _documented() -> list[str]:
    return [p.key for p in values_table.params(VALUES_TEXT)]


class TestValuesDocumentation:
    def test_should_document_every_key_the_schema_defines_when_compared(self):
        required, _ = _schema_paths(SCHEMA)
        assert sorted(required - set(_documented())) == []

    def test_should_document_only_keys_the_schema_defines_when_compared(self):
        _, allowed = _schema_paths(SCHEMA)
        assert sorted(set(_documented()) - allowed) == []

    def test_should_document_each_key_once_when_listed(self):
        keys = _documented()
        assert sorted(k for k in set(keys) if keys.count(k) > 1) == []

    def test_should_document_every_default_value_or_its_parent_when_compared(self):
        documented = set(_documented())
        undocumented = [
            path
            for path in _value_paths(yaml.safe_load(VALUES_TEXT))
            if not any(path == key or path.startswith(f"{key}.") for key in documented)
        ]
        assert undocumented == []

    def test_should_keep_the_readme_table_in_sync_when_values_change(self):
        readme = values_table.README.read_text()
        assert readme == values_table.readme_with_table(readme, VALUES_TEXT), "run `make values-table`"

    def test_should_show_the_default_of_each_key_in_the_table_when_generated(self):
        table = values_table.table(VALUES_TEXT)
        assert "| `rayAuth.enabled` | Ray token authentication" in table
        assert table.count("| `autoscaler.idleTimeoutSeconds` |") == 1
        assert "| `900` |" in table
