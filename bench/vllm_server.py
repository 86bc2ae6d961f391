"""Standalone vLLM (`python -m vllm.entrypoints.openai.api_server`) with the preset's own engine arguments.

The arguments are not restated here: the preset is rendered by the chart, its `args` validated by
serve_app's models, and `to_llm_config` gives the engine kwargs the local run hands to vLLM.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from bench.local_run import MODEL, PRESET
from bench.report import REPO
from devkit.local_ray import HOST


def preset_engine(values_file: str = PRESET, model: str = MODEL) -> tuple[str, dict]:
    """(model source, vLLM engine kwargs) of one model of a preset, as the gateway app builds them."""
    from devkit.helm import render_chart
    from serve_app.config import GatewayArgs
    from serve_app.llm import to_llm_config

    config = render_chart(values_files=[REPO / values_file]).serve_config
    args = GatewayArgs.model_validate(next(a for a in config["applications"] if a["name"] == "llm")["args"])
    llm_config = to_llm_config(
        next(m for m in args.models if m.name == model), hf_token_env=args.hf_token_env
    )
    return llm_config.model_loading_config.model_source, dict(llm_config.engine_kwargs)


def cli_flags(kwargs: dict) -> list[str]:
    """Engine kwargs as vLLM command-line flags: `max_model_len=512` → `--max-model-len 512`."""
    flags: list[str] = []
    for key, value in kwargs.items():
        flag = "--" + key.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, dict | list):
            flags += [flag, json.dumps(value)]
        else:
            flags += [flag, str(value)]
    return flags


@dataclass
class VllmServer:
    base_url: str
    process: subprocess.Popen
    command: list[str]

    def processes(self) -> list[psutil.Process]:
        head = psutil.Process(self.process.pid)
        return [head, *head.children(recursive=True)]


@contextlib.contextmanager
def standalone_vllm(port: int, log_file: Path, timeout_s: float = 600) -> Iterator[VllmServer]:
    """Serves the preset's model as `tiny` on 127.0.0.1:port; stops its process group on exit."""
    # `./` sources resolve against MODEL_ROOT, which `make serve` sets to the repository root.
    os.environ.setdefault("MODEL_ROOT", str(REPO))
    source, engine_kwargs = preset_engine()
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", source,
        "--served-model-name", MODEL, "--host", HOST, "--port", str(port), "--disable-uvicorn-access-log",
        *cli_flags(engine_kwargs),
    ]  # fmt: skip
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            command, env={**os.environ, "VLLM_HOST_IP": HOST}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = VllmServer(f"http://{HOST}:{port}", process, command)
    try:
        deadline = time.monotonic() + timeout_s
        while not _ready(server.base_url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"vLLM not ready (exit {process.poll()}): see {log_file}")
            time.sleep(2)
        yield server
    finally:
        _stop_group(process)


def _ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/v1/models", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def _stop_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
