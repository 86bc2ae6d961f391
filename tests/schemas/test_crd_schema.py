"""devkit.crd_schema and schemas/: the committed JSON Schemas are exactly what the converter makes of the
vendored CRDs, the CRDs are the upstream files SOURCES.md names, and each conversion rule holds on a tiny
hand-written CRD."""

import copy
import functools
import hashlib
import json
import subprocess
import sys

import jsonschema
import pytest
import yaml

from devkit import REPO, crd_schema, schema

CONVERSIONS = crd_schema.load_manifest()
SOURCES = crd_schema.SCHEMAS_DIR / "SOURCES.md"


@functools.cache
def generated() -> dict[str, str]:
    """A fresh conversion of every vendored CRD (about a second: parsed once per test run)."""
    return crd_schema.generate()


def git_blob(data: bytes) -> str:
    """The id `git hash-object` prints for a file with this content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sources_table(columns: int, first_suffix: str) -> list[list[str]]:
    """The rows of the SOURCES.md table with `columns` cells whose first cell ends with `first_suffix`."""
    rows = []
    for line in SOURCES.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == columns and cells[0].endswith(first_suffix):
            rows.append(cells)
    return rows


def tiny_crd(spec: dict, *, served: tuple[str, ...] = ("v1",)) -> dict:
    """A CRD of kind Widget in group example.com whose `spec` has the given schema."""
    root = {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "description": "upstream text, replaced by the pin"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [
                {"name": v, "served": True, "storage": i == 0, "schema": {"openAPIV3Schema": root}}
                for i, v in enumerate(served)
            ],
        },
    }


def converted_spec(spec: dict) -> dict:
    """The converted `spec` schema of a tiny CRD."""
    return crd_schema.version_schema(tiny_crd(spec), "v1")["properties"]["spec"]


def widget_validator(spec: dict) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(crd_schema.version_schema(tiny_crd(spec), "v1"))


def widget(spec: dict) -> dict:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}


# An address like Gateway API's: `type` defaults to IPAddress, a oneOf constrains type and value together.
ADDRESS = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "default": "IPAddress"},
        "value": {"type": "string"},
    },
    "oneOf": [
        {"properties": {"type": {"enum": ["IPAddress"]}, "value": {"pattern": "^[0-9.]+$"}}},
        {"properties": {"type": {"not": {"enum": ["IPAddress"]}}}},
    ],
}


class TestCommittedSchemas:
    @pytest.mark.parametrize("conversion", CONVERSIONS, ids=lambda c: c.schema)
    def test_should_equal_a_fresh_conversion_byte_for_byte_when_regenerated(self, conversion):
        committed = (crd_schema.JSON_DIR / conversion.schema).read_bytes()
        assert committed == generated()[conversion.schema].encode()

    def test_should_hold_exactly_the_manifest_files_when_listed(self):
        assert sorted(p.name for p in crd_schema.JSON_DIR.glob("*")) == sorted(c.schema for c in CONVERSIONS)
        assert crd_schema.stale_files(generated()) == []

    def test_should_convert_every_vendored_crd_when_the_manifest_is_read(self):
        vendored = sorted(p.name for p in crd_schema.CRD_DIR.glob("*.yaml"))
        assert sorted({c.crd for c in CONVERSIONS}) == vendored
        assert len(CONVERSIONS) == 12

    def test_should_pin_api_version_and_kind_of_each_file_when_committed(self):
        pins = {}
        for conversion in CONVERSIONS:
            properties = json.loads(generated()[conversion.schema])["properties"]
            pins[conversion.schema] = (properties["apiVersion"]["enum"], properties["kind"]["enum"])
        assert pins == {
            "rayservice_v1.json": (["ray.io/v1"], ["RayService"]),
            "raycluster_v1.json": (["ray.io/v1"], ["RayCluster"]),
            "rayjob_v1.json": (["ray.io/v1"], ["RayJob"]),
            "nodepool_v1.json": (["karpenter.sh/v1"], ["NodePool"]),
            "ec2nodeclass_v1.json": (["karpenter.k8s.aws/v1"], ["EC2NodeClass"]),
            "podmonitor_v1.json": (["monitoring.coreos.com/v1"], ["PodMonitor"]),
            "servicemonitor_v1.json": (["monitoring.coreos.com/v1"], ["ServiceMonitor"]),
            "prometheusrule_v1.json": (["monitoring.coreos.com/v1"], ["PrometheusRule"]),
            "scaledobject_v1alpha1.json": (["keda.sh/v1alpha1"], ["ScaledObject"]),
            "httproute_v1.json": (["gateway.networking.k8s.io/v1"], ["HTTPRoute"]),
            "gateway_v1.json": (["gateway.networking.k8s.io/v1"], ["Gateway"]),
            "leaderworkerset_v1.json": (["leaderworkerset.x-k8s.io/v1"], ["LeaderWorkerSet"]),
        }

    def test_should_accept_a_gateway_hostname_address_when_branches_stay_open(self):
        validator = jsonschema.Draft202012Validator(json.loads(generated()["gateway_v1.json"]))
        gateway = {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {},
            "spec": {
                "gatewayClassName": "eg",
                "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}],
                "addresses": [{"type": "Hostname", "value": "lb.example.com"}, {"value": "10.0.0.1"}],
            },
        }
        assert [e.message for e in validator.iter_errors(gateway)] == []


class TestProvenance:
    @pytest.mark.parametrize("crd", sorted(p.name for p in crd_schema.CRD_DIR.glob("*.yaml")))
    def test_should_match_the_git_blob_in_sources_when_a_crd_is_vendored(self, crd):
        blobs = {row[0]: row[6] for row in sources_table(7, ".yaml")}
        assert git_blob((crd_schema.CRD_DIR / crd).read_bytes()) == blobs[crd]

    def test_should_list_each_vendored_crd_once_when_sources_are_documented(self):
        files = [row[0] for row in sources_table(7, ".yaml")]
        assert sorted(files) == sorted(p.name for p in crd_schema.CRD_DIR.glob("*.yaml"))
        assert len(files) == len(set(files)) == 12

    def test_should_document_the_manifest_when_sources_list_the_conversions(self):
        documented = sorted((row[0], row[2], row[3]) for row in sources_table(4, ".json"))
        assert documented == sorted((c.schema, c.crd, c.version) for c in CONVERSIONS)

    def test_should_name_no_path_outside_the_repository_when_documenting(self):
        text = SOURCES.read_text()
        assert [word for word in ("../", "/work", "/tmp", "shared/") if word in text] == []


class TestClosedObjects:
    def test_should_close_objects_with_properties_when_converted(self):
        spec = {"type": "object", "properties": {"size": {"type": "object", "properties": {"gb": {}}}}}
        assert converted_spec(spec) == {
            "type": "object",
            "properties": {
                "size": {"type": "object", "properties": {"gb": {}}, "additionalProperties": False}
            },
            "additionalProperties": False,
        }

    def test_should_keep_a_map_open_when_additional_properties_is_declared(self):
        spec = {"type": "object", "properties": {"labels": {"type": "object", "additionalProperties": {}}}}
        assert converted_spec(spec)["properties"]["labels"] == {"type": "object", "additionalProperties": {}}

    def test_should_close_objects_under_items_and_map_values_when_converted(self):
        spec = {
            "type": "array",
            "items": {"type": "object", "properties": {"a": {}}},
        }
        assert converted_spec(spec)["items"] == {
            "type": "object",
            "properties": {"a": {}},
            "additionalProperties": False,
        }

    def test_should_leave_the_input_untouched_when_converted(self):
        crd = tiny_crd({"type": "object", "properties": {"a": {"type": "string"}}})
        before = copy.deepcopy(crd)
        crd_schema.version_schema(crd, "v1")
        assert crd == before


class TestBranchesStayOpen:
    def test_should_leave_objects_open_when_inside_a_one_of_branch(self):
        spec = {
            "type": "object",
            "properties": {"mode": {"type": "string"}, "extra": {"type": "object"}},
            "oneOf": [
                {"properties": {"extra": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                {"required": ["mode"]},
            ],
        }
        assert converted_spec(spec) == {
            "type": "object",
            "properties": {"mode": {"type": "string"}, "extra": {"type": "object"}},
            "oneOf": [
                {"properties": {"extra": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                {"required": ["mode"]},
            ],
            "additionalProperties": False,
        }

    @pytest.mark.parametrize("keyword", ["allOf", "anyOf"])
    def test_should_leave_objects_open_when_inside_an_all_of_or_any_of_branch(self, keyword):
        spec = {"type": "object", "properties": {"a": {}}, keyword: [{"properties": {"a": {}}}]}
        assert converted_spec(spec)[keyword] == [{"properties": {"a": {}}}]

    def test_should_leave_objects_open_when_inside_a_not(self):
        spec = {"type": "object", "properties": {"a": {}}, "not": {"properties": {"a": {"enum": [1]}}}}
        assert converted_spec(spec)["not"] == {"properties": {"a": {"enum": [1]}}}

    def test_should_accept_a_field_a_sibling_branch_declares_when_branches_stay_open(self):
        validator = widget_validator(ADDRESS)
        assert list(validator.iter_errors(widget({"type": "Hostname", "value": "lb.example.com"}))) == []
        assert [e.message for e in validator.iter_errors(widget({"type": "Hostname", "valeu": "x"}))] == [
            "Additional properties are not allowed ('valeu' was unexpected)"
        ]


class TestDefaultsInBranches:
    def test_should_require_a_defaulted_property_in_a_branch_when_the_branch_rejects_its_default(self):
        assert converted_spec(ADDRESS)["oneOf"] == [
            {"properties": {"type": {"enum": ["IPAddress"]}, "value": {"pattern": "^[0-9.]+$"}}},
            {"properties": {"type": {"not": {"enum": ["IPAddress"]}}}, "required": ["type"]},
        ]

    def test_should_match_only_the_default_branch_when_the_defaulted_property_is_absent(self):
        validator = widget_validator(ADDRESS)
        assert list(validator.iter_errors(widget({"value": "10.0.0.1"}))) == []
        assert [e.validator for e in validator.iter_errors(widget({"value": "lb.example.com"}))] == ["oneOf"]

    def test_should_extend_an_existing_required_once_when_branches_reject_defaults(self):
        spec = {
            "type": "object",
            "properties": {
                "type": {"type": "string", "default": "A"},
                "b": {"type": "integer", "default": 1},
            },
            "anyOf": [
                {"properties": {"type": {"enum": ["B"]}}, "required": ["other"]},
                {"properties": {"type": {"enum": ["C"]}, "b": {"minimum": 5}}, "required": ["type"]},
            ],
        }
        assert converted_spec(spec)["anyOf"] == [
            {"properties": {"type": {"enum": ["B"]}}, "required": ["other", "type"]},
            {"properties": {"type": {"enum": ["C"]}, "b": {"minimum": 5}}, "required": ["type", "b"]},
        ]

    def test_should_keep_a_required_property_required_when_it_has_a_default(self):
        # The minReplicas/maxReplicas quirk: required + default stays required, as with kubeconform.
        spec = {"type": "object", "properties": {"minReplicas": {"type": "integer", "default": 0}}}
        spec["required"] = ["minReplicas"]
        converted = converted_spec(spec)
        assert converted["required"] == ["minReplicas"]
        assert converted["properties"]["minReplicas"] == {"type": "integer", "default": 0}


class TestPreserveUnknownFields:
    def test_should_leave_an_object_open_when_it_preserves_unknown_fields(self):
        spec = {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "properties": {"known": {"type": "object", "properties": {"a": {}}}},
        }
        assert converted_spec(spec) == {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "properties": {
                "known": {"type": "object", "properties": {"a": {}}, "additionalProperties": False}
            },
        }

    def test_should_accept_unknown_keys_when_the_object_preserves_unknown_fields(self):
        validator = widget_validator(
            {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"a": {}}}
        )
        assert list(validator.iter_errors(widget({"a": 1, "anything": {"x": 1}}))) == []


class TestNullable:
    def test_should_add_null_to_the_type_when_nullable(self):
        spec = {"type": "object", "properties": {"at": {"type": "string", "nullable": True}}}
        assert converted_spec(spec)["properties"]["at"] == {"type": ["string", "null"], "nullable": True}

    def test_should_keep_the_type_when_nullable_is_false(self):
        spec = {"type": "object", "properties": {"at": {"type": "string", "nullable": False}}}
        assert converted_spec(spec)["properties"]["at"] == {"type": "string", "nullable": False}


class TestIntOrString:
    def test_should_become_one_of_string_or_integer_when_the_legacy_format_is_used(self):
        spec = {
            "type": "object",
            "properties": {"port": {"type": "string", "format": "int-or-string", "description": "a port"}},
        }
        assert converted_spec(spec)["properties"]["port"] == {
            "oneOf": [{"type": "string"}, {"type": "integer"}]
        }

    def test_should_keep_controller_gen_any_of_when_marked_x_kubernetes_int_or_string(self):
        quantity = {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": "^[0-9]+(Gi|Mi)?$",
            "x-kubernetes-int-or-string": True,
        }
        spec = {"type": "object", "properties": {"memory": quantity}}
        assert converted_spec(spec)["properties"]["memory"] == quantity


class TestPinnedApiVersionAndKind:
    def test_should_pin_api_version_and_kind_with_enum_when_a_version_is_converted(self):
        converted = crd_schema.version_schema(tiny_crd({"type": "object"}, served=("v1", "v2")), "v2")
        assert converted["properties"]["apiVersion"] == {"type": "string", "enum": ["example.com/v2"]}
        assert converted["properties"]["kind"] == {"type": "string", "enum": ["Widget"]}
        assert converted["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert converted["additionalProperties"] is False
        assert list(converted["properties"]) == ["apiVersion", "kind", "metadata", "spec"]

    def test_should_reject_another_kind_when_validating(self):
        validator = widget_validator({"type": "object"})
        document = {**widget({}), "kind": "Gadget"}
        assert [e.message for e in validator.iter_errors(document)] == ["'Gadget' is not one of ['Widget']"]

    def test_should_refuse_a_version_when_the_crd_does_not_serve_it(self):
        with pytest.raises(ValueError, match=r"Widget CRD serves \['v1'\], not v9"):
            crd_schema.version_schema(tiny_crd({"type": "object"}), "v9")

    def test_should_name_the_file_like_kubeconform_when_converted(self):
        assert crd_schema.schema_file_name("EC2NodeClass", "v1") == "ec2nodeclass_v1.json"


class TestRegeneration:
    def test_should_report_each_stale_file_in_one_line_when_checking(self, tmp_path, monkeypatch, capsys):
        expected = generated()
        for name, text in expected.items():
            (tmp_path / name).write_text(text)
        (tmp_path / "gateway_v1.json").write_text(expected["gateway_v1.json"].replace('"IPAddress"', '"X"'))
        (tmp_path / "nodepool_v1.json").unlink()
        (tmp_path / "old_v1.json").write_text("{}\n")
        monkeypatch.setattr(crd_schema, "JSON_DIR", tmp_path)
        monkeypatch.setattr(crd_schema, "generate", generated)
        assert crd_schema.main(["--check"]) == 1
        err = capsys.readouterr().err
        assert err == (
            f"{tmp_path} is stale (regenerate: make crd-schemas): "
            "gateway_v1.json, nodepool_v1.json, old_v1.json\n"
        )

    def test_should_write_and_delete_until_nothing_is_stale_when_regenerating(self, tmp_path):
        expected = generated()
        (tmp_path / "old_v1.json").write_text("{}\n")
        (tmp_path / "rayservice_v1.json").write_text("{}\n")
        changed = crd_schema.write_schemas(expected, tmp_path)
        assert changed == sorted([*expected, "old_v1.json"])
        assert crd_schema.stale_files(expected, tmp_path) == []
        assert crd_schema.write_schemas(expected, tmp_path) == []

    def test_should_pass_the_check_when_run_as_a_command_on_the_repository(self):
        result = subprocess.run(
            [sys.executable, "tools/crd_schemas.py", "--check"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert (result.returncode, result.stdout, result.stderr) == (
            0,
            "schemas/json: 12 schemas up to date\n",
            "",
        )


RAYSERVICE = """
apiVersion: ray.io/v1
kind: RayService
metadata:
  name: llm
  namespace: inference
  labels: {app.kubernetes.io/name: ray-vllm}
spec:
  serviceUnhealthySecondThreshold: 900
  deploymentUnhealthySecondThreshold: 300
  serveConfigV2: |
    applications:
      - name: llm
        import_path: serve_app.app:build
        route_prefix: /
  rayClusterConfig:
    rayVersion: "2.52.0"
    enableInTreeAutoscaling: true
    headGroupSpec:
      rayStartParams: {num-cpus: "0", dashboard-host: 0.0.0.0}
      template:
        spec:
          containers:
            - name: ray-head
              image: example.com/ray-vllm:1.0.0
              ports:
                - {name: gcs-server, containerPort: 6379}
                - {name: dashboard, containerPort: 8265}
                - {name: serve, containerPort: 8000}
              resources:
                requests: {cpu: "2", memory: 8Gi}
                limits: {memory: 8Gi}
    workerGroupSpecs:
      - groupName: l40s
        replicas: 1
        minReplicas: 1
        maxReplicas: 4
        rayStartParams: {}
        template:
          metadata:
            annotations: {karpenter.sh/do-not-disrupt: "true"}
          spec:
            nodeSelector: {karpenter.sh/nodepool: l40s}
            tolerations:
              - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
            containers:
              - name: ray-worker
                image: example.com/ray-vllm:1.0.0
                resources:
                  requests: {cpu: "14", memory: 100Gi, nvidia.com/gpu: 1}
                  limits: {memory: 100Gi, nvidia.com/gpu: 1}
                volumeMounts:
                  - {name: dshm, mountPath: /dev/shm}
            volumes:
              - name: dshm
                emptyDir: {medium: Memory, sizeLimit: 16Gi}
"""


class TestRayServiceValidation:
    def test_should_accept_a_realistic_rayservice_when_validated_through_devkit_schema(self):
        assert schema.object_problems(yaml.safe_load(RAYSERVICE), "1.30") == []

    def test_should_reject_a_misspelled_spec_field_when_validated_through_devkit_schema(self):
        obj = yaml.safe_load(RAYSERVICE)
        obj["spec"]["serviceUnhealthySecondTreshold"] = obj["spec"].pop("serviceUnhealthySecondThreshold")
        assert schema.object_problems(obj, "1.30") == [
            "RayService/llm: spec: Additional properties are not allowed"
            " ('serviceUnhealthySecondTreshold' was unexpected)",
        ]

    def test_should_reject_a_worker_group_without_min_replicas_when_the_default_is_not_applied(self):
        obj = yaml.safe_load(RAYSERVICE)
        del obj["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["minReplicas"]
        assert schema.object_problems(obj, "1.30") == [
            'RayService/llm: spec.rayClusterConfig.workerGroupSpecs.0: "minReplicas" is a required property',
        ]
