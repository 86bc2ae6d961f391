"""templates/serviceaccount.yaml: the identity of the Ray pods (IRSA annotations for S3 model mirrors)."""

from devkit.helm import render_chart


class TestServiceAccount:
    def test_should_create_an_account_without_token_mount_when_rendered_with_defaults(self):
        account = render_chart().get("ServiceAccount")
        assert account["metadata"]["name"] == "llm-ray-vllm"
        assert account["automountServiceAccountToken"] is False

    def test_should_carry_irsa_annotations_when_given(self):
        arn = "arn:aws:iam::123456789012:role/llm-models"
        account = render_chart(
            set_values={"serviceAccount.annotations": {"eks.amazonaws.com/role-arn": arn}}
        ).get("ServiceAccount")
        assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": arn}

    def test_should_run_ray_pods_as_an_existing_account_when_creation_is_off(self):
        rendered = render_chart(
            set_values={"serviceAccount.create": False, "serviceAccount.name": "llm-runner"}
        )
        assert rendered.of_kind("ServiceAccount") == []
        head = rendered.get("RayService")["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]
        assert head["serviceAccountName"] == "llm-runner"
