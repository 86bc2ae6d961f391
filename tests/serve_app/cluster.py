"""A loopback-only Ray head for the serve_app tests, driven like KubeRay drives a RayService.

`ray start --head --block` runs in its own session with its own temp dir, token and ports (other
Ray instances may run on the same machine); applications are deployed with the dashboard's
`PUT /api/serve/applications/`, the call KubeRay makes with serveConfigV2. The test process never
imports Ray, so Ray's import-time settings stay those of the cluster's environment.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

HOST = "127.0.0.1"
PORT_NAMES = (
    "port",
    "dashboard-port",
    "metrics-export-port",
    "ray-client-server-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "runtime-env-agent-port",
    "node-manager-port",
    "object-manager-port",
)


def free_ports(count: int) -> list[int]:
    """Ports the kernel just handed out on loopback; held together so they are distinct."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in socks]


@dataclass
class LoopbackRay:
    root: Path
    env: dict[str, str]
    num_cpus: int = 16
    ports: dict[str, int] = field(
        default_factory=lambda: dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
    )
    process: subprocess.Popen | None = None

    @property
    def dashboard_url(self) -> str:
        return f"http://{HOST}:{self.ports['dashboard-port']}"

    @property
    def metrics_url(self) -> str:
        return f"http://{HOST}:{self.ports['metrics-export-port']}/metrics"

    @property
    def log_file(self) -> Path:
        return self.root / "ray-start.log"

    def start(self, timeout_s: float = 180) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        token_file = self.root / "auth_token"
        token_file.write_text(secrets.token_hex(32))
        token_file.chmod(0o600)
        self._token = token_file.read_text()
        env = {
            **{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
            **self.env,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(token_file),
        }
        cmd = [
            str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
            f"--node-ip-address={HOST}", f"--temp-dir={self.root / 'ray'}", f"--num-cpus={self.num_cpus}",
            "--include-dashboard=true", f"--dashboard-host={HOST}", "--disable-usage-stats",
            *(f"--{name}={port}" for name, port in self.ports.items()),
        ]  # fmt: skip
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ray start exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                self.api("GET", "/api/serve/applications/", timeout=2)
                return
            time.sleep(1)
        raise RuntimeError(f"the dashboard did not answer in {timeout_s:.0f} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_file.read_text(errors="replace")[-chars:] if self.log_file.exists() else ""

    def serve_log_tail(self, chars: int = 6000) -> str:
        """The end of the Serve controller's log: why replicas did not start."""
        logs = sorted(
            (self.root / "ray").glob("session_*/logs/serve/controller_[0-9]*.log"), key=os.path.getmtime
        )
        return logs[-1].read_text(errors="replace")[-chars:] if logs else ""

    def api(self, method: str, path: str, body: dict | None = None, timeout: float = 30) -> dict:
        response = httpx.request(
            method,
            f"{self.dashboard_url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=timeout,
        )
        response.raise_for_status()
        return response.json() if response.content else {}

    def deploy(self, config: dict) -> None:
        """What KubeRay does with a RayService's serveConfigV2."""
        self.api("PUT", "/api/serve/applications/", config, timeout=120)

    def applications(self) -> dict:
        return self.api("GET", "/api/serve/applications/").get("applications", {})

    def processes(self) -> list[psutil.Process]:
        head = psutil.Process(self.process.pid)
        return [head, *head.children(recursive=True)]

    def listening(self) -> list[tuple[str, str, int]]:
        """`(process name, address, port)` of every listening TCP socket of the cluster's processes."""
        found = []
        for proc in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                found += [
                    (proc.name(), conn.laddr.ip, conn.laddr.port)
                    for conn in proc.net_connections(kind="inet")
                    if conn.status == psutil.CONN_LISTEN
                ]
        return found

    def stop(self, timeout_s: float = 60) -> None:
        """Stop only this cluster: `ray stop` would stop every Ray on the machine."""
        if self.process is None:
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            procs = self.processes()
            for proc in procs:
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.terminate()
            _, alive = psutil.wait_procs(procs, timeout=timeout_s)
            for proc in alive:
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.kill()
            psutil.wait_procs(alive, timeout=10)
        self.process = None
