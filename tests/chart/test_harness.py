"""devkit.helm and devkit.schema: the render-and-validate harness every chart test relies on."""

import copy
import json

import helm_python
import pytest
import yaml

from devkit import helm, schema
from devkit.helm import HelmRenderError, render_chart, user_values
from devkit.presets import PRESETS, VALUES_DIR

G6E = VALUES_DIR / "g6e-multi-model.yaml"
LOCAL = VALUES_DIR / "local-cpu.yaml"
AUTOSCALE = VALUES_DIR / "local-cpu-autoscale.yaml"


class TestRenderChart:
    def test_should_print_manifests_like_helm_template_when_rendered(self):
        rendered = render_chart()
        assert rendered.text.startswith("---\n# Source: ray-vllm/templates/")
        assert [obj for obj in yaml.safe_load_all(rendered.text) if obj] == rendered.objects

    def test_should_use_the_release_name_and_namespace_when_given(self):
        rendered = render_chart(
            release="chat", namespace="inference", set_values={"monitoring.podMonitor.enabled": True}
        )
        assert rendered.get("RayService")["metadata"]["name"] == "chat-ray-vllm"
        assert rendered.get("PodMonitor")["spec"]["namespaceSelector"] == {"matchNames": ["inference"]}

    def test_should_raise_one_error_type_with_helms_message_when_a_template_fails(self):
        with pytest.raises(HelmRenderError, match=r"execution error at \(ray-vllm/templates/rayservice.yaml"):
            render_chart(set_values={"autoscaler.idleTimeoutSeconds": 1})

    def test_should_raise_one_error_type_when_a_set_expression_is_malformed(self):
        with pytest.raises(HelmRenderError):
            render_chart(set_values=["models[x].name=a"])

    def test_should_validate_rendered_objects_strictly_when_values_slip_past_the_chart_schema(self):
        # podSecurityContext is passed through as a Kubernetes object, so only the Pod schema catches a typo.
        with pytest.raises(schema.SchemaValidationError, match="runAsNonRot"):
            render_chart(set_values={"podSecurityContext": {"runAsNonRot": True}})

    @pytest.mark.parametrize("values_files", PRESETS.values(), ids=PRESETS.keys())
    def test_should_print_what_helms_install_prints_when_a_preset_renders(self, values_files):
        options = {"namespace": "default", "kube_version": "v1.30.0", "api_versions": []}
        release = helm.install_dry_run(json.dumps(user_values(values_files)), "llm", "default", options)
        rendered = render_chart(values_files)
        hooks = rendered.text.removeprefix(release["manifest"])
        assert hooks != rendered.text
        assert [doc["metadata"]["annotations"]["helm.sh/hook"] for doc in yaml.safe_load_all(hooks)] == [
            "test"
        ]
        assert rendered.notes == release["notes"]

    def test_should_sort_documents_like_helms_install_when_every_kind_renders(self, tmp_path):
        kinds = [*reversed(helm.INSTALL_ORDER), "Zebra", "Service", "", "Alpha", "Pod"]
        docs = [
            f"kind: {kind}\nmetadata:\n  name: n{i}" if kind else "# only a comment"
            for i, kind in enumerate(kinds)
        ]
        hook = "kind: Pod\nmetadata:\n  name: hook\n  annotations:\n    helm.sh/hook: test"
        (tmp_path / "templates").mkdir()
        (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: kinds\nversion: 0.1.0\n")
        (tmp_path / "templates" / "b.yaml").write_text("\n---\n".join(docs[:20]))
        (tmp_path / "templates" / "a.yaml").write_text("\n---\n".join([hook, *docs[20:]]))
        chart = helm_python.Chart.load(tmp_path)
        options = {"namespace": "default", "kube_version": "v1.30.0", "api_versions": []}
        manifest = helm.install_dry_run("{}", "llm", "default", options, chart=chart)["manifest"]
        documents = helm.sorted_documents(chart.render({}, name="llm", is_install=True))
        text = "".join(f"---\n# Source: {path}\n{doc}\n" for path, doc, _ in documents)
        assert text == manifest + "---\n# Source: kinds/templates/a.yaml\n" + hook + "\n"

    def test_should_refuse_with_helms_message_when_values_break_the_chart_schema(self):
        with pytest.raises(HelmRenderError, match="values don't meet the specifications of the schema"):
            render_chart(set_values={"serviceAccount.create": "yes"})

    def test_should_say_so_when_jsonschema_rs_refuses_values_helms_schema_check_accepts(self, monkeypatch):
        monkeypatch.setattr(schema, "values_problems", lambda values, path: ["rayVersion: made up"])
        with pytest.raises(
            HelmRenderError, match=r"Helm's values.schema.json check accepts:\nrayVersion: made up"
        ):
            render_chart()

    def test_should_check_the_release_name_like_helm_when_it_is_invalid(self):
        with pytest.raises(HelmRenderError, match='release name "Bad_Name": invalid release name'):
            render_chart(release="Bad_Name")

    def test_should_find_exactly_one_object_when_get_is_asked(self):
        rendered = render_chart()
        assert rendered.get("ServiceAccount", "llm-ray-vllm")["kind"] == "ServiceAccount"
        with pytest.raises(KeyError, match="expected one NodePool"):
            rendered.get("NodePool")


class TestUserValues:
    def test_should_merge_maps_deep_and_let_the_later_file_win_when_several_files_are_given(self):
        values = user_values([LOCAL, AUTOSCALE])
        assert values["modelDefaults"]["deployment"]["autoscaling"]["maxReplicas"] == 2
        assert values["modelDefaults"]["deployment"]["maxOngoingRequests"] == 8
        assert values["modelDefaults"]["engine"]["dtype"] == "float32"

    def test_should_set_into_an_existing_list_item_when_an_index_is_set(self):
        before = user_values([G6E])
        after = user_values([G6E], ["models[1].engine.maxModelLen=4096"])
        expected = copy.deepcopy(before)
        expected["models"][1]["engine"]["maxModelLen"] = 4096
        assert after == expected

    def test_should_parse_json_values_when_sets_are_a_mapping(self):
        values = user_values([], {"routing.aliases": {"chat": "llama-3-8b"}, "rag.enabled": True})
        assert values == {"routing": {"aliases": {"chat": "llama-3-8b"}}, "rag": {"enabled": True}}

    def test_should_read_values_files_with_helms_yaml_rules_when_loading(self, tmp_path):
        values_file = tmp_path / "v.yaml"
        values_file.write_text("commonLabels:\n  tier: 'on'\nrayVersion: 2.60.0\n")
        assert user_values([values_file]) == {"commonLabels": {"tier": "on"}, "rayVersion": "2.60.0"}


class TestSchema:
    def test_should_fail_an_unknown_kind_instead_of_skipping_it(self):
        problems = schema.object_problems(
            {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}, "1.30"
        )
        assert problems == [
            f"Widget/w: no schema for example.com/v1 Widget (Kubernetes 1.30, CRDs in {schema.CRD_SCHEMAS})"
        ]

    def test_should_refuse_unknown_fields_in_built_in_kinds_when_validating(self):
        obj = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "a"}, "automount": True}
        assert schema.object_problems(obj, "1.34") == [
            "ServiceAccount/a: <root>: Additional properties are not allowed ('automount' was unexpected)",
        ]

    def test_should_validate_custom_resource_metadata_as_strict_object_meta_when_validating(self):
        pool = render_chart([G6E]).of_kind("NodePool")[0]
        pool["metadata"]["labels"]["bad"] = 1
        assert schema.object_problems(pool, "1.30") == [
            'NodePool/llm-ray-vllm-l40s-flex: metadata.labels.bad: 1 is not of types "null", "string"',
        ]

    def test_should_list_every_problem_of_every_object_in_one_error_when_objects_are_invalid(self):
        objects = [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "a"}, "x": 1},
            {"apiVersion": "v1", "kind": "Gadget", "metadata": {"name": "b"}},
        ]
        with pytest.raises(schema.SchemaValidationError, match=r"2 schema problem\(s\) \(Kubernetes 1.30\)"):
            schema.validate_objects(objects, "1.30")


class TestServeConfigSchema:
    def test_should_return_the_parsed_config_when_it_passes_rays_schema(self):
        config = schema.validate_serve_config(render_chart([LOCAL]).serve_config_text)
        assert [app["name"] for app in config["applications"]] == ["llm", "rag", "agent"]

    def test_should_refuse_a_value_rays_schema_rejects(self):
        text = render_chart([LOCAL]).serve_config_text.replace(
            "max_ongoing_requests: 8", "max_ongoing_requests: 0"
        )
        with pytest.raises(schema.SchemaValidationError, match="max_ongoing_requests"):
            schema.validate_serve_config(text)

    def test_should_refuse_a_key_ray_would_silently_ignore(self):
        text = render_chart([LOCAL, AUTOSCALE]).serve_config_text.replace("upscale_delay_s", "upscale_delay")
        with pytest.raises(
            schema.SchemaValidationError,
            match=r"applications\[0\].deployments\[1\].autoscaling_config.upscale_delay: unknown",
        ):
            schema.validate_serve_config(text)
