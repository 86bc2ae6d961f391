"""loadtest/chat.py run by the real `locust` CLI against vLLM's own OpenAI server on the tiny model: the
session's standalone run (`make serve MODE=standalone`, tests/conftest.py), with an API key.

Locust runs in subprocesses: importing it here would monkey-patch this pytest process with gevent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from devkit import REPO
from devkit.local_ray import free_ports
from devkit.loopback import listeners

LOCUST = Path(sys.executable).parent / "locust"
LLM_ROWS = {"TTFT", "ITL", "E2E", "TOKENS/S", "GOODPUT"}


@dataclass(frozen=True)
class Target:
    """Where the load goes: the session's standalone run (vLLM's own server, with an API key)."""

    base_url: str
    api_key: str


@pytest.fixture(scope="module")
def target(standalone_run) -> Target:
    return Target(standalone_run.base_url, standalone_run.extra_env["VLLM_API_KEY"])


def locust_command(target: Target, *args: str) -> list[str]:
    """Two users of the tiny model with short answers, from loadtest/locust.conf, plus `args`."""
    return [
        str(LOCUST), "--config", "loadtest/locust.conf", "--host", target.base_url, "-u", "2", "-r", "2",
        "--model", "tiny", "--max-tokens", "16", *args,
    ]  # fmt: skip


def locust(target: Target, tmp_path: Path, *args: str, with_key: bool = True, timeout: float = 180):
    """`locust --config loadtest/locust.conf`; returns (process, LLM summary, final statistics)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    if with_key:
        env["OPENAI_API_KEY"] = target.api_key
    cmd = [
        *locust_command(target, "--prompt-mix", "short=1,medium=1"),
        *("--csv", str(tmp_path / "run"), "--json-file", str(tmp_path / "stats")),
        *("--llm-summary-file", str(tmp_path / "llm.json")),
        *args,
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    return proc, read_json(tmp_path / "llm.json", {}), read_json(tmp_path / "stats.json", [])


def read_json(path: Path, missing):
    return json.loads(path.read_text()) if path.exists() else missing


def headless(target: Target, tmp_path: Path, *args: str, **kwargs):
    return locust(target, tmp_path, "--headless", "-t", "3s", "--only-summary", *args, **kwargs)


def counts(entries: list[dict]) -> dict[str, int]:
    """Requests per request type, from Locust's final statistics (--json-file)."""
    totals: dict[str, int] = {}
    for entry in entries:
        totals[entry["method"]] = totals.get(entry["method"], 0) + entry["num_requests"]
    return totals


class TestChatHeadless:
    def test_should_report_every_llm_metric_when_streaming(self, target, tmp_path):
        proc, summary, rows = headless(target, tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        by_type = counts(rows)
        assert by_type["POST"] == summary["requests"] > 0
        # ITL needs two tokens; without --ignore-eos the random model may stop after one.
        assert {t: by_type.get(t) for t in ("TTFT", "E2E", "TOKENS/S")} == dict.fromkeys(
            ("TTFT", "E2E", "TOKENS/S"), by_type["POST"]
        )
        assert 0 < by_type["ITL"] <= by_type["POST"]
        assert summary["failures"] == 0 and summary["output_tokens"] > 0
        assert summary["p95_ms"]["TTFT"] <= summary["p95_ms"]["E2E"]
        assert summary["threshold_violations"] == []

    def test_should_put_llm_rows_in_the_html_report_when_asked(self, target, tmp_path):
        proc, _, _ = headless(target, tmp_path, "--html", str(tmp_path / "report.html"))
        assert proc.returncode == 0, proc.stderr[-3000:]
        report = (tmp_path / "report.html").read_text()
        assert all(f'"method": "{row}"' in report for row in LLM_ROWS)

    def test_should_step_users_up_and_down_when_the_shape_file_is_added(self, target, tmp_path):
        proc, summary, _ = locust(
            target,
            tmp_path,
            "-f", "loadtest/chat.py,loadtest/shapes.py", "--headless", "--only-summary",
            "--baseline-users", "1", "--baseline-s", "2", "--step-users", "3", "--hold-s", "3",
            "--drop-users", "1", "--drop-s", "2",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "Shape test updating to 3 users" in proc.stderr
        assert "Shape test updating to 1 users" in proc.stderr.split("updating to 3 users", 1)[1]
        assert summary["requests"] > 0 and summary["duration_s"] < 15

    def test_should_generate_max_tokens_when_ignoring_eos(self, target, tmp_path):
        proc, summary, rows = headless(target, tmp_path, "--ignore-eos")
        assert proc.returncode == 0, proc.stderr[-3000:]
        tokens = next(e for e in rows if e["method"] == "TOKENS/S")
        assert tokens["total_content_length"] == 16 * tokens["num_requests"] == summary["output_tokens"]

    def test_should_report_e2e_but_no_ttft_when_not_streaming(self, target, tmp_path):
        proc, summary, rows = headless(target, tmp_path, "--no-stream")
        assert proc.returncode == 0, proc.stderr[-3000:]
        by_type = counts(rows)
        assert by_type["E2E"] == by_type["POST"] > 0
        assert "TTFT" not in by_type and "ITL" not in by_type
        assert summary["p95_ms"]["TTFT"] is None

    def test_should_exit_3_when_a_latency_threshold_fails(self, target, tmp_path):
        proc, summary, _ = headless(target, tmp_path, "--max-p95-ttft-ms", "0.001")
        assert proc.returncode == 3
        assert summary["failures"] == 0
        assert summary["threshold_violations"][0].startswith("p95 TTFT")
        assert "threshold failed: p95 TTFT" in proc.stderr

    def test_should_fail_requests_and_exit_3_when_the_api_key_is_missing(self, target, tmp_path):
        proc, summary, _ = headless(target, tmp_path, with_key=False)
        assert proc.returncode == 3
        assert summary["requests"] == summary["failures"] > 0
        failures = (tmp_path / "run_failures.csv").read_text()
        assert "HTTP 401" in failures

    def test_should_fail_requests_when_the_model_is_unknown(self, target, tmp_path):
        proc, summary, _ = headless(target, tmp_path, "--model", "no-such-model")
        assert proc.returncode == 3
        assert summary["error_ratio"] == 1.0
        assert "HTTP 404" in (tmp_path / "run_failures.csv").read_text()

    def test_should_use_the_first_served_model_when_no_model_is_given(self, target, tmp_path):
        proc, _, rows = headless(target, tmp_path, "--model", "")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert {e["name"] for e in rows if e["method"] == "POST"} == {"/v1/chat/completions [tiny]"}
        assert "using tiny, the first of ['tiny']" in proc.stderr


class TestChatWebUi:
    def test_should_show_the_llm_tab_and_set_the_exit_code_when_run_from_the_web_ui(self, target, tmp_path):
        (port,) = free_ports(1)
        env = {**os.environ, "OPENAI_API_KEY": target.api_key}
        cmd = locust_command(
            target,
            *("-t", "8s", "--prompt-mix", "short=1", "--web-port", str(port)),
            *("--autostart", "--autoquit", "3", "--max-p95-ttft-ms", "0.001"),
        )
        ui = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            llm_rows, listening = self.poll_ui(ui, port)
            index = httpx.get(f"http://127.0.0.1:{port}/", timeout=10).text
            code = ui.wait(timeout=60)
        finally:
            if ui.poll() is None:
                ui.kill()
        assert listening == {"127.0.0.1"}  # chat.py keeps the web UI on loopback by default
        assert '"extended_tabs": [{"key": "llm", "title": "LLM"}]' in index
        assert '"max_tokens": {' in index  # chat.py's options are editable in the start form
        assert llm_rows["requests"] > 0 and llm_rows["p95_ms TTFT"] > 0
        assert code == 3  # the same thresholds decide the exit code after a web UI run

    @staticmethod
    def poll_ui(ui: subprocess.Popen, port: int) -> tuple[dict, set[str]]:
        """The LLM tab's rows once requests have completed, and the web UI's listening addresses."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and ui.poll() is None:
            try:
                stats = httpx.get(f"http://127.0.0.1:{port}/stats/requests", timeout=5).json()
            except httpx.TransportError:
                time.sleep(1)
                continue
            extended = {e["key"]: e["data"] for e in stats.get("extended_stats", [])}
            rows = {row["metric"]: row["value"] for row in extended.get("llm", [])}
            if rows.get("requests"):
                return rows, {listener.ip for listener in listeners([psutil.Process(ui.pid)])}
            time.sleep(1)
        pytest.fail(f"no LLM stats from the web UI; locust exited {ui.poll()}")
