"""`make bench` end to end with tiny counts (`python -m bench --quick --attach`): every benchmark runs
for real on this machine and writes a complete result. The numbers are not checked: they are reported,
and with these counts they mean nothing. The benchmarks that serve the preset as it is measure the
session's shared local run, full-path's standalone vLLM the session's standalone run (tests/conftest.py);
zero-work starts its own on the bench's ports (47000-47999).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.cold_start import MILESTONES, NOTICED
from bench.summary import render
from devkit import REPO
from devkit.local_run import LocalRun

TIMEOUT_S = 1800
RESULTS = [
    "batch-interference", "cold-start", "full-path", "gateway-hop-tiny-vllm", "gateway-hop-zero-work",
    "harness",
]  # fmt: skip
SERVING = {"proxy", "gateway", "llm-server", "client (this driver)", "total"}

pytestmark = pytest.mark.timeout(TIMEOUT_S + 60)


@pytest.fixture(scope="module")
def quick(
    tmp_path_factory, local_run: LocalRun, standalone_run: LocalRun
) -> tuple[subprocess.CompletedProcess, dict[str, dict]]:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--attach", "--max-wait-s", "0", "--out-dir", str(out),
         "--attach-standalone", str(standalone_run.state_dir)],
        cwd=REPO, env={**local_run.env, "OPENAI_API_KEY": standalone_run.extra_env["VLLM_API_KEY"]},
        capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    return proc, {path.stem: json.loads(path.read_text()) for path in sorted(out.glob("*.json"))}


class TestQuickBench:
    def test_should_write_every_result_when_run(self, quick):
        proc, results = quick
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert sorted(results) == RESULTS
        assert "=== targets ===" in proc.stdout

    def test_should_state_the_machine_and_what_else_ran_when_writing_a_result(self, quick):
        _, results = quick
        for result in results.values():
            assert result["machine"]["logical_cpus"] >= 1 and result["machine"]["packages"]["ray"]
            assert 0.0 <= result["load"]["other_cpu_share"] <= 1.0 and result["load"]["window_s"] > 0

    def test_should_listen_only_on_loopback_when_serving(self, quick):
        _, results = quick
        serving = [name for name in RESULTS if name != "harness"]
        assert {name: results[name]["non_loopback_listeners"] for name in serving} == {n: [] for n in serving}

    def test_should_charge_cpu_to_every_serving_process_when_measuring_the_hop(self, quick):
        _, results = quick
        zero = results["gateway-hop-zero-work"]["cpu_ms_per_request"]["gateway-http"]
        real = results["gateway-hop-tiny-vllm"]["cpu_ms_per_request"]["gateway-http"]
        assert set(zero) == SERVING
        assert set(real) == SERVING | {"vllm engine"}
        assert real["vllm engine"] > 0 and zero["proxy"] > 0

    def test_should_charge_cpu_per_token_to_each_part_of_both_servers_when_comparing_them(self, quick):
        _, results = quick
        cpu = {server: v["cpu_ms_per_token"] for server, v in results["full-path"]["servers"].items()}
        assert set(cpu["chart-local-run"]) == {
            "proxy", "gateway", "llm-server", "engine core", "engine worker", "ray and the rest"
        }  # fmt: skip
        assert set(cpu["vllm"]) == {"api server", "engine core", "engine worker", "ray and the rest"}
        assert cpu["chart-local-run"]["gateway"] > 0 and cpu["vllm"]["api server"] > 0

    def test_should_time_every_milestone_in_order_when_timing_both_servers_starts(self, quick):
        _, results = quick
        servers = results["cold-start"]["servers"]
        assert set(servers) == {"chart-local-run", "vllm"}
        restart = [servers["chart-local-run"][m] for m in MILESTONES]
        start = [servers["vllm"][m] for m in MILESTONES if m != NOTICED]  # a server start has no restart
        for seconds in (restart, start):
            assert None not in seconds and seconds == sorted(seconds)
        assert results["cold-start"]["ratio"] > 0

    def test_should_render_the_readme_section_when_results_exist(self, quick):
        _, results = quick
        text = render(results)
        assert all(f"**{name}**" in text for name in RESULTS if name != "harness")
        assert "**harness**" in text
        assert "CPU per output token, ms" in text

    def test_should_measure_the_sessions_standalone_server_when_attached_to_it(self, quick, standalone_run):
        _, results = quick
        full_path = results["full-path"]
        (container,) = standalone_run.standalone.containers()
        assert full_path["settings"]["vllm_command"] == [*container.command, *container.args]
        assert full_path["start_s"]["vllm"] is None
        # Its API key reached the server: a refused request counts as failed.
        assert [run["failed"] for run in full_path["runs"]] == [0, 0]
