"""`mode: standalone` on this machine: the container command the chart renders, run as it is.

Each model's Deployment in the render runs vLLM's own OpenAI server; here the container's command
and args start byte for byte (the image's `python` is this environment's interpreter) as a process
group of their own, in the repository root (where the local preset's `./` model paths point, as the
image's working directory holds them), with the container's literal environment. What a cluster fills
from Secrets (the HF token, the API key) comes from this environment when it is set here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

from devkit import REPO
from devkit.helm import Rendered
from devkit.local_ray import HOST, process_tree
from devkit.processes import terminate

READY_PATH = "/health"


@dataclass(frozen=True)
class Container:
    """What one model's vLLM pod runs."""

    deployment: str
    model: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: dict[str, str]  # the literal values (a cluster fills the others from Secrets)
    host: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def command_line(self) -> str:
        """The container's command and args as a shell line, as the chart renders them."""
        return shlex.join([*self.command, *self.args])

    def argv(self) -> list[str]:
        """The container's command and args; `python` is the interpreter this runs under."""
        command = list(self.command)
        if command[0] == "python":
            command[0] = sys.executable
        return [*command, *self.args]


def containers(rendered: Rendered) -> list[Container]:
    """The vLLM container of every model's Deployment in a standalone-mode render."""
    found = []
    for deployment in rendered.of_kind("Deployment"):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        args = container["args"]
        found.append(
            Container(
                deployment=deployment["metadata"]["name"],
                model=args[args.index("--served-model-name") + 1],
                command=tuple(container["command"]),
                args=tuple(args),
                env={e["name"]: e["value"] for e in container.get("env", []) if "value" in e},
                host=args[args.index("--host") + 1],
                port=container["ports"][0]["containerPort"],
            )
        )
    if not found:
        raise ValueError("the render has no vLLM Deployment: is mode standalone?")
    return found


class StandaloneRun:
    """The vLLM servers of one standalone render; pid files and logs in `state_dir`."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    @classmethod
    def of(cls, run_state_dir: Path) -> StandaloneRun:
        """The standalone servers of a local run's state directory (`make serve`'s, a test run's)."""
        return cls(run_state_dir / "standalone")

    def pid_file(self, container: Container) -> Path:
        return self.state_dir / f"{container.deployment}.pid"

    def log_file(self, container: Container) -> Path:
        return self.state_dir / f"{container.deployment}.log"

    def container_file(self, container: Container) -> Path:
        return self.state_dir / f"{container.deployment}.json"

    def containers(self) -> list[Container]:
        """The containers this run started and has not stopped, as they were rendered (for a tool that
        measures a running standalone run: its address, command and served model)."""
        found = []
        for path in sorted(self.state_dir.glob("*.json")):
            fields = json.loads(path.read_text())
            found.append(
                Container(**{**fields, "command": tuple(fields["command"]), "args": tuple(fields["args"])})
            )
        return found

    def start(self, container: Container, timeout_s: float) -> None:
        """Starts the server and returns once it answers; raises with its log's tail if it exits first."""
        if container.host != HOST:
            raise ValueError(f"{container.deployment} binds {container.host}; a local run binds {HOST} only")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **container.env, "VLLM_HOST_IP": HOST}
        with self.log_file(container).open("ab") as log:
            process = subprocess.Popen(
                container.argv(),
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file(container).write_text(str(process.pid))
        self.container_file(container).write_text(json.dumps(dataclasses.asdict(container)))
        deadline = time.monotonic() + timeout_s
        while not self.ready(container):
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                state = f"exited with {process.returncode}" if process.returncode is not None else "timed out"
                raise RuntimeError(f"vLLM for {container.model} {state}:\n{self.log_tail(container)}")
            time.sleep(1)

    @staticmethod
    def ready(container: Container) -> bool:
        """The pod's probe: GET /health answers 200."""
        try:
            with urllib.request.urlopen(container.base_url + READY_PATH, timeout=5) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def alive(self, container: Container) -> bool:
        """Its server runs (the pid file is removed by `stop`)."""
        with contextlib.suppress(FileNotFoundError, ValueError):
            return bool(process_tree(int(self.pid_file(container).read_text())))
        return False

    def processes(self) -> list[psutil.Process]:
        return [
            p for pid_file in self.state_dir.glob("*.pid") for p in process_tree(int(pid_file.read_text()))
        ]

    def log_tail(self, container: Container, chars: int = 4000) -> str:
        with contextlib.suppress(FileNotFoundError):
            return self.log_file(container).read_text(errors="replace")[-chars:]
        return ""

    def stop(self, timeout_s: float = 30) -> bool:
        """Stops every server of this run (SIGTERM, then SIGKILL), as Kubernetes stops a pod."""
        procs = self.processes()
        terminate(procs, timeout_s)
        for path in (*self.state_dir.glob("*.pid"), *self.state_dir.glob("*.json")):
            path.unlink()
        return bool(procs)
