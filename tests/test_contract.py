"""The chart and the app cannot drift apart: every preset's serveConfigV2 is checked against Ray's own
schema, against serve_app's pydantic models, and against the worker groups the same render creates."""

from __future__ import annotations

import typing

import pytest
import yaml
from ray._common.utils import import_attr
from ray.serve.schema import ServeDeploySchema

from devkit.helm import render_chart
from devkit.presets import RAYSERVICE_PRESETS as PRESETS
from serve_app.config import GATEWAY_DEPLOYMENT, RoutingConfig

NODE_GROUP = "ray.io/node-group"


def _rendered(preset: str):
    rendered = render_chart(PRESETS[preset])
    return rendered, yaml.safe_load(rendered.serve_config_text)


def _quantity_cpus(value) -> float:
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _worker_groups(rayservice: dict) -> dict[str, dict]:
    """Ray resources each worker pod offers, by group name, from the pod spec KubeRay starts."""
    groups = {}
    for group in rayservice["spec"]["rayClusterConfig"].get("workerGroupSpecs", []):
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        groups[group["groupName"]] = {
            "GPU": float(limits.get("nvidia.com/gpu", 0)),
            "CPU": _quantity_cpus(limits["cpu"]),
            "maxReplicas": group["maxReplicas"],
        }
    return groups


@pytest.mark.parametrize("preset", sorted(PRESETS))
class TestServeConfigContract:
    def test_should_pass_rays_deploy_schema_when_rendered(self, preset):
        _, config = _rendered(preset)
        ServeDeploySchema.model_validate(config)

    def test_should_import_every_builder_when_ray_loads_the_import_path(self, preset):
        _, config = _rendered(preset)
        for app in config["applications"]:
            assert callable(import_attr(app["import_path"])), app["import_path"]

    def test_should_validate_every_args_block_when_parsed_by_the_builders_model(self, preset):
        _, config = _rendered(preset)
        for app in config["applications"]:
            model = typing.get_type_hints(import_attr(app["import_path"]))["args"]
            parsed = model.model_validate(app["args"])
            # Nothing the chart renders is silently dropped or defaulted away by the app.
            assert parsed.model_dump(by_alias=True, exclude_unset=True) == app["args"]

    def test_should_validate_the_routing_when_parsed_as_the_gateways_user_config(self, preset):
        _, config = _rendered(preset)
        gateway = next(
            d for a in config["applications"] for d in a["deployments"] if d["name"] == GATEWAY_DEPLOYMENT
        )
        routing = RoutingConfig.model_validate(gateway["user_config"])
        served = {
            m["name"] for a in config["applications"] if a["name"] == "llm" for m in a["args"]["models"]
        }
        targets = [*routing.aliases.values(), *routing.size_tiers.values()]
        targets += [arm.model for canary in routing.canaries for arm in canary.arms]
        assert set(targets) <= served

    def test_should_fit_every_replica_in_its_worker_group_when_scaled_to_max(self, preset):
        rendered, config = _rendered(preset)
        groups = _worker_groups(rendered.get("RayService"))
        for app in config["applications"]:
            for dep in app["deployments"]:
                bundles = dep.get("placement_group_bundles")
                selectors = dep.get("placement_group_bundle_label_selector")
                if not bundles or not selectors:
                    continue
                group = groups[selectors[0][NODE_GROUP]]
                assert {s[NODE_GROUP] for s in selectors} == {selectors[0][NODE_GROUP]}, dep["name"]
                gpus = sum(b.get("GPU", 0) for b in bundles)
                cpus = sum(b.get("CPU", 0) for b in bundles)
                assert gpus <= group["GPU"], f"{dep['name']} needs {gpus} GPUs in one pod"
                assert cpus <= group["CPU"], f"{dep['name']} needs {cpus} CPUs in one pod"
                replicas = (dep.get("autoscaling_config") or {}).get(
                    "max_replicas", dep.get("num_replicas", 1)
                )
                assert replicas * gpus <= group["maxReplicas"] * group["GPU"], dep["name"]
