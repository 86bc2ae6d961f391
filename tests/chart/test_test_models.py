"""templates/tests/test-models.yaml: the `helm test` hook that lists the models on the Serve endpoint."""

from devkit.helm import render_chart
from devkit.presets import VALUES_DIR


def _pod(values_files=(), set_values=None) -> dict:
    return render_chart(values_files, set_values).get("Pod")


class TestModelsTestHook:
    def test_should_be_a_test_hook_deleted_after_success_when_rendered(self):
        metadata = _pod()["metadata"]
        assert metadata["name"] == "llm-ray-vllm-test-models"
        assert metadata["annotations"] == {
            "helm.sh/hook": "test",
            "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
        }

    def test_should_call_v1_models_on_the_serve_service_and_check_every_model_when_rendered(self):
        (container,) = _pod((VALUES_DIR / "g6e-multi-model.yaml",))["spec"]["containers"]
        script = container["args"][0]
        assert "http://llm-ray-vllm-serve-svc.default.svc:8000/v1/models" in script
        for model in ("llama-3.2-3b", "llama-3.1-8b", "qwen2.5-32b"):
            assert f"grep -qF '\"{model}\"'" in script

    def test_should_call_each_models_vllm_service_when_standalone(self):
        two = [
            {"name": "a", "source": "./m", "accelerator": "cpu"},
            {"name": "b", "source": "./m", "accelerator": "cpu"},
        ]
        files = (VALUES_DIR / "local-cpu.yaml", VALUES_DIR / "local-cpu-standalone.yaml")
        script = _pod(files, {"models": two})["spec"]["containers"][0]["args"][0]
        for model in ("a", "b"):
            assert f"http://llm-ray-vllm-vllm-{model}.default.svc:8000/v1/models)" in script
            assert f"grep -qF '\"{model}\"'" in script
        assert "serve-svc" not in script

    def test_should_send_an_api_key_from_the_secret_when_api_keys_are_on(self):
        (container,) = _pod((VALUES_DIR / "g6e-multi-model.yaml",))["spec"]["containers"]
        assert container["env"] == [
            {"name": "API_KEYS", "valueFrom": {"secretKeyRef": {"name": "llm-api-keys", "key": "keys"}}}
        ]

    def test_should_run_as_non_root_without_a_service_account_token_when_rendered(self):
        spec = _pod()["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        assert spec["restartPolicy"] == "Never"

    def test_should_print_the_hook_after_the_manifests_like_helm_template_when_rendered(self):
        text = render_chart().text
        assert (
            text.rstrip()
            .split("\n---\n")[-1]
            .startswith("# Source: ray-vllm/templates/tests/test-models.yaml\n")
        )

    def test_should_not_render_when_disabled(self):
        assert render_chart(set_values={"helmTest.enabled": False}).of_kind("Pod") == []
