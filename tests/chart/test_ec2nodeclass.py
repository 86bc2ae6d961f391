"""templates/ec2nodeclass.yaml: the EC2NodeClass the GPU NodePools launch from."""

from devkit.helm import render_chart
from devkit.presets import VALUES_DIR

G6E = (VALUES_DIR / "g6e-multi-model.yaml",)


def _node_class(set_values=None) -> dict:
    return render_chart(G6E, set_values).get("EC2NodeClass")


class TestEC2NodeClass:
    def test_should_pin_the_ami_alias_and_select_the_clusters_network_when_rendered(self):
        spec = _node_class()["spec"]
        assert spec["amiSelectorTerms"] == [{"alias": "al2023@v20260828"}]
        assert spec["role"] == "KarpenterNodeRole-llm-cluster"
        assert spec["subnetSelectorTerms"] == [{"tags": {"karpenter.sh/discovery": "llm-cluster"}}]
        assert spec["securityGroupSelectorTerms"] == [{"tags": {"karpenter.sh/discovery": "llm-cluster"}}]

    def test_should_size_an_encrypted_root_volume_for_images_and_model_cache_when_rendered(self):
        assert _node_class()["spec"]["blockDeviceMappings"] == [
            {
                "deviceName": "/dev/xvda",
                "ebs": {
                    "volumeSize": "300Gi",
                    "volumeType": "gp3",
                    "encrypted": True,
                    "deleteOnTermination": True,
                },
            }
        ]

    def test_should_use_the_data_volume_when_the_ami_is_bottlerocket(self):
        spec = _node_class({"karpenter.ec2NodeClass.amiAlias": "bottlerocket@v1.30.0"})["spec"]
        assert spec["blockDeviceMappings"][0]["deviceName"] == "/dev/xvdb"

    def test_should_require_imdsv2_with_one_hop_when_rendered(self):
        assert _node_class()["spec"]["metadataOptions"] == {
            "httpEndpoint": "enabled",
            "httpTokens": "required",
            "httpPutResponseHopLimit": 1,
        }

    def test_should_not_render_when_an_existing_node_class_is_used(self):
        rendered = render_chart(
            G6E, {"karpenter.ec2NodeClass.create": False, "karpenter.ec2NodeClass.name": "gpu"}
        )
        assert rendered.of_kind("EC2NodeClass") == []
