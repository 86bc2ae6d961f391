"""The benchmarks' standalone vLLM is the chart's standalone mode, on the benchmark's port."""

from __future__ import annotations

from bench.vllm_server import standalone_container
from devkit.helm import render_chart
from devkit.presets import PRESETS
from devkit.standalone import containers


class TestStandaloneContainer:
    def test_should_run_the_charts_standalone_render_on_the_given_port_when_built(self):
        container = standalone_container(47100)
        (rendered,) = containers(render_chart(PRESETS["local-cpu-standalone"], ["standalone.port=47100"]))
        assert container == rendered
        assert container.base_url == "http://127.0.0.1:47100"
        assert container.args[container.args.index("--port") + 1] == "47100"

    def test_should_serve_the_model_the_local_run_serves_when_rendered(self):
        local = render_chart(("values/local-cpu.yaml",)).serve_config["applications"][0]["args"]["models"][0]
        container = standalone_container(47100)
        assert container.model == local["name"]
        assert container.args[container.args.index("--model") + 1] == local["source"]
