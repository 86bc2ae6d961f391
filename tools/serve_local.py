"""Run the chart's own serveConfigV2 on a local Ray: the `make serve` command.

Renders the chart with the given values files, takes the RayService's `serveConfigV2` string byte
for byte, starts a Ray head bound to 127.0.0.1, and deploys the string through the same dashboard
REST call the KubeRay operator makes (`PUT /api/serve/applications/`). Nothing else carries serve
configuration: what runs here is what a cluster gets.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.helm import render_chart  # noqa: E402  (the one module that calls Helm)

HOST = "127.0.0.1"
STATE_DIR = Path(os.environ.get("RAY_VLLM_STATE_DIR", REPO / ".cache" / "serve"))
# Ray needs logical CPUs for every replica actor; vLLM on CPU does its own threading, so the
# logical count is a scheduling budget, not a claim on physical cores.
MIN_LOGICAL_CPUS = 16


@dataclass(frozen=True)
class Ports:
    """Every port the local head opens; all bound to 127.0.0.1."""

    gcs: int = 6379
    dashboard: int = 8265
    serve: int = 8000
    metrics: int = 8080
    client: int = 10001

    @classmethod
    def from_env(cls) -> Ports:
        """Ports from RAY_VLLM_<NAME>_PORT variables, so tests and a user's run can coexist."""
        return cls(
            **{
                name: int(os.environ.get(f"RAY_VLLM_{name.upper()}_PORT", default))
                for name, default in cls().__dict__.items()
            }
        )


def render_serve_config(values_files: list[str], set_values: list[str]) -> str:
    """The RayService's serveConfigV2 exactly as the chart renders it."""
    return render_chart(values_files=tuple(values_files), set_values=set_values or None).serve_config_text


def with_http_options(config_text: str, ports: Ports) -> dict:
    """The deploy body: the rendered config, with Serve's HTTP proxy pinned to loopback.

    In a cluster KubeRay owns the proxy address (0.0.0.0:8000 inside the pod); locally the only
    change is the bind address and port, everything the chart rendered stays as it is.
    """
    body = yaml.safe_load(config_text)
    body["http_options"] = {**body.get("http_options", {}), "host": HOST, "port": ports.serve}
    return body


def required_cpus(config: dict) -> int:
    """Logical CPUs that let every deployment reach its max replicas, plus head-room."""
    total = 0.0
    for app in config.get("applications", []):
        for dep in app.get("deployments", []):
            auto = dep.get("autoscaling_config") or {}
            replicas = auto.get("max_replicas", dep.get("num_replicas", 1))
            bundles = dep.get("placement_group_bundles")
            per_replica = (
                sum(b.get("CPU", 0) for b in bundles)
                if bundles
                else (dep.get("ray_actor_options") or {}).get("num_cpus", 1)
            )
            total += replicas * per_replica
    return max(MIN_LOGICAL_CPUS, math.ceil(total) + 4)


def http_json(method: str, url: str, body: dict | None = None, timeout: float = 10, token: str = "") -> dict:
    """One JSON request; raises urllib.error.HTTPError with the server's text on errors."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        text = resp.read().decode() or "{}"
    return json.loads(text)


class LocalRay:
    """A Ray head started with `ray start --block`: stopping that one process stops the cluster."""

    def __init__(self, ports: Ports, state_dir: Path = STATE_DIR) -> None:
        self.ports = ports
        self.state_dir = state_dir
        self.pid_file = state_dir / "ray.pid"
        self.log_file = state_dir / "ray.log"
        self.token_file = state_dir / "auth_token"
        self.dashboard = f"http://{HOST}:{ports.dashboard}"

    def token(self) -> str:
        """Ray's token auth is on locally too: the dashboard and job API run code for any caller."""
        if not self.token_file.exists():
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self.token_file.touch(mode=0o600)
            self.token_file.write_text(secrets.token_hex(32))
        return self.token_file.read_text().strip()

    def api(self, method: str, path: str, body: dict | None = None, timeout: float = 10) -> dict:
        return http_json(method, f"{self.dashboard}{path}", body, timeout=timeout, token=self.token())

    def start(self, num_cpus: int) -> None:
        if self.running_pid():
            raise SystemExit(
                f"a local Ray from `make serve` is already running (pid file {self.pid_file}); "
                "run `make serve-stop` first"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            # Workers inherit this environment: they import serve_app from the checkout and resolve
            # `./` model paths of the local preset against it.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "MODEL_ROOT": str(REPO),
            "VLLM_HOST_IP": HOST,
            "RAY_NODE_IP_ADDRESS": HOST,
            # `ray start` swaps a loopback --node-ip-address for the host's address unless Ray thinks
            # it cannot form a multi-node cluster; this single-node head never needs to.
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "HF_HUB_OFFLINE": "1",
            # Serve binds each replica's gRPC server to every interface; this hook (run by every
            # worker) keeps it on the node IP, so a local run listens on loopback only.
            "__RAY_WORKER_PROCESS_SETUP_HOOK_ENV_VAR": "serve_app.loopback.bind_replica_grpc_to_node_ip",
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(self.token_file),
        }
        self.token()  # written before Ray reads it
        cmd = [
            str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
            f"--node-ip-address={HOST}", f"--port={self.ports.gcs}",
            "--include-dashboard=true", f"--dashboard-host={HOST}",
            f"--dashboard-port={self.ports.dashboard}",
            f"--metrics-export-port={self.ports.metrics}", f"--ray-client-server-port={self.ports.client}",
            f"--num-cpus={num_cpus}", "--disable-usage-stats",
        ]  # fmt: skip
        log = self.log_file.open("ab")
        # Its own session: Ctrl-C in the terminal reaches us, and we stop Ray in order.
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid_file.write_text(str(proc.pid))
        self._wait_for_dashboard(proc)

    def _wait_for_dashboard(self, proc: subprocess.Popen, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"ray start exited with {proc.returncode}; see {self.log_file}")
            try:
                self.api("GET", "/api/serve/applications/", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
                time.sleep(1)
        raise SystemExit(f"the Ray dashboard did not answer on {self.dashboard} in {timeout_s:.0f} s")

    def running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None

    def stop(self, timeout_s: float = 30) -> bool:
        """Terminate `ray start` and every process under it (GCS, raylet, workers, vLLM engines).

        `ray stop` would kill every Ray on the machine; this stops only the one we started.
        """
        pid = self.running_pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        try:
            head = psutil.Process(pid)
            procs = [head, *head.children(recursive=True)]
        except psutil.NoSuchProcess:
            return False
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        _, alive = psutil.wait_procs(procs, timeout=timeout_s)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=10)
        return True

    def deploy(self, body: dict) -> None:
        """The call KubeRay makes for serveConfigV2; Ray validates it with ServeDeploySchema."""
        try:
            self.api("PUT", "/api/serve/applications/", body, timeout=60)
        except urllib.error.HTTPError as err:
            raise SystemExit(f"Ray rejected the serve config ({err.code}): {err.read().decode()}") from err

    def wait_running(self, timeout_s: float, out=sys.stdout) -> dict:
        """Poll Serve's status, printing each change, until every application is RUNNING."""
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            apps = self.api("GET", "/api/serve/applications/").get("applications", {})
            line = "  ".join(f"{name}: {app['status']}" for name, app in sorted(apps.items()))
            if line != last:
                print(
                    f"[{time.strftime('%H:%M:%S')}] {line or 'waiting for applications'}",
                    file=out,
                    flush=True,
                )
                last = line
            failed = [_failure(name, app) for name, app in apps.items() if app["status"] == "DEPLOY_FAILED"]
            if failed:
                raise SystemExit("deploy failed:\n" + "\n".join(failed))
            if apps and all(a["status"] == "RUNNING" for a in apps.values()):
                return apps
            time.sleep(2)
        raise SystemExit(f"applications not RUNNING after {timeout_s:.0f} s: {last}")


def _failure(name: str, app: dict) -> str:
    """An application's failure with each unhealthy deployment's own message (the traceback's tail)."""
    lines = [f"- {name}: {app.get('message', '')}"]
    for dep_name, dep in app.get("deployments", {}).items():
        if dep.get("status") != "HEALTHY" and dep.get("message"):
            lines.append(f"  - {dep_name}: {dep['message'][-1500:]}")
    return "\n".join(lines)


def usage_text(ports: Ports, models: list[str], apps: dict) -> str:
    """What to paste next: endpoint, models, a curl and an openai example."""
    base = f"http://{HOST}:{ports.serve}"
    model = models[0] if models else "<model>"
    routes = ", ".join(f"{n} at {a.get('route_prefix')}" for n, a in sorted(apps.items()))
    return f"""
OpenAI-compatible endpoint: {base}/v1   (applications: {routes})
Models: {", ".join(models) or "none"}
Ray dashboard: http://{HOST}:{ports.dashboard}   metrics: http://{HOST}:{ports.metrics}/metrics

  curl {base}/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{{"model": "{model}", "messages": [{{"role": "user", "content": "Hello"}}], "max_tokens": 16}}'

  python -c 'from openai import OpenAI; c = OpenAI(base_url="{base}/v1", api_key="none"); \\
print(c.chat.completions.create(model="{model}", messages=[{{"role": "user", "content": "Hello"}}], \\
max_tokens=16).choices[0].message.content)'

Ctrl-C (or `make serve-stop`) stops Ray.
"""


def list_models(ports: Ports) -> list[str]:
    try:
        data = http_json("GET", f"http://{HOST}:{ports.serve}/v1/models")
    except (urllib.error.URLError, json.JSONDecodeError):
        return []
    return [m["id"] for m in data.get("data", [])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-f", "--values", action="append", default=[], help="values file (repeatable)")
    parser.add_argument("--set", action="append", default=[], dest="set_values", help="a=b, like helm --set")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for RUNNING")
    parser.add_argument("--detach", action="store_true", help="return once RUNNING; stop with --stop")
    parser.add_argument("--stop", action="store_true", help="stop the Ray a previous run started")
    parser.add_argument(
        "--print-config", action="store_true", help="print the rendered serveConfigV2 and exit"
    )
    args = parser.parse_args(argv)
    ray = LocalRay(Ports.from_env())

    if args.stop:
        print("stopped local Ray" if ray.stop() else "no local Ray from `make serve` is running")
        return 0

    config_text = render_serve_config(args.values or ["values/local-cpu.yaml"], args.set_values)
    if args.print_config:
        sys.stdout.write(config_text)
        return 0
    body = with_http_options(config_text, ray.ports)
    cpus = required_cpus(body)
    print(f"starting Ray on {HOST} ({cpus} logical CPUs), dashboard {ray.dashboard}", flush=True)
    ray.start(num_cpus=cpus)
    try:
        ray.deploy(body)
        apps = ray.wait_running(args.timeout)
        print(usage_text(ray.ports, list_models(ray.ports), apps), flush=True)
        if args.detach:
            return 0
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while ray.running_pid():
            time.sleep(1)
        print("Ray exited; see", ray.log_file)
        return 1
    except KeyboardInterrupt:
        return 0
    except BaseException:
        args.detach = False
        raise
    finally:
        if not args.detach:
            print("stopping Ray ...", flush=True)
            ray.stop()


if __name__ == "__main__":
    sys.exit(main())
