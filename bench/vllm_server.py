"""Standalone vLLM for the benchmarks: the chart's standalone mode, as `make serve MODE=standalone` runs it.

values/local-cpu.yaml + values/local-cpu-standalone.yaml serve the same model with the same engine
values as the local run's rayservice mode; the Deployment's container command is started as rendered
(devkit.standalone), on the benchmark's port. So "vLLM" in a result is what the chart deploys in
standalone mode, and the comparison is the README's rayservice-or-standalone choice.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from devkit import REPO
from devkit.helm import render_chart
from devkit.presets import PRESETS
from devkit.standalone import Container, StandaloneRun, containers


def standalone_container(port: int) -> Container:
    """The standalone preset's one vLLM container, rendered with `standalone.port` = port."""
    (container,) = containers(render_chart(PRESETS["local-cpu-standalone"], [f"standalone.port={port}"]))
    return container


@dataclass
class VllmServer:
    container: Container  # what it runs, as rendered
    run: StandaloneRun
    start_s: float | None  # from the process start to its first healthy answer; None: found running

    @property
    def base_url(self) -> str:
        return self.container.base_url

    @property
    def model_path(self) -> Path:
        """The served model's folder (`--model`, a `./` path resolved against the checkout)."""
        return REPO / self.container.args[self.container.args.index("--model") + 1]

    def processes(self) -> list[psutil.Process]:
        """The API server first, then its engine processes."""
        return self.run.processes()


@contextlib.contextmanager
def standalone_vllm(
    port: int, state_dir: Path, timeout_s: float = 600, attach: Path | None = None
) -> Iterator[VllmServer]:
    """The standalone mode's server on 127.0.0.1:port, stopped on exit. `attach`: the state directory
    of a standalone run already up (`make serve MODE=standalone`'s RAY_VLLM_STATE_DIR), measured as it
    is and left running."""
    if attach is not None:
        run = StandaloneRun.of(attach)
        found = [c for c in run.containers() if run.alive(c)]
        if len(found) != 1:
            raise SystemExit(
                f"--attach-standalone: expected one running vLLM server in {attach}, found {len(found)}"
            )
        yield VllmServer(found[0], run, None)
        return
    container = standalone_container(port)
    run = StandaloneRun(state_dir)
    try:
        started = time.monotonic()
        run.start(container, timeout_s)
        yield VllmServer(container, run, time.monotonic() - started)
    finally:
        run.stop()
