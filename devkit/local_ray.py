"""A Ray head on 127.0.0.1 only, driven like KubeRay drives a RayService: the one launcher.

`make serve` (tools/serve_local.py), the serve_app tests and the monitoring proofs all start Ray
through `LocalRay`: `ray start --head --block` in a session of its own, every port it opens on
loopback, Ray's token auth on, Serve applications deployed with the dashboard's
`PUT /api/serve/applications/` (the call KubeRay makes with serveConfigV2). Stopping it terminates
exactly its process tree; `ray stop` would stop every Ray on the machine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from devkit import REPO
from devkit.loopback import Listener, listeners
from devkit.processes import terminate
from devkit.redis import LocalRedis, RedisUnavailable
from devkit.secret_file import secret_file

HOST = "127.0.0.1"
# A worker node's object store: Ray's default (30% of the machine's memory) per node would put the
# machine's memory several times over into /dev/shm; replicas pass little through the store.
WORKER_OBJECT_STORE_BYTES = 256 * 1024 * 1024
# Serve binds each replica's gRPC server to every interface; this hook, run by every worker,
# keeps it on the node IP (serve_app/loopback.py).
LOOPBACK_HOOK = "serve_app.loopback.bind_replica_grpc_to_node_ip"
# With GCS fault tolerance KubeRay gives worker pods 600 s to find the GCS again (Ray's default, 60 s,
# would end every worker node during a head restart); the head gets the Redis address and password.
REDIS_ADDRESS_ENV = "RAY_REDIS_ADDRESS"
NAMESPACE_ENV = "RAY_external_storage_namespace"
WORKER_GCS_RECONNECT_ENV = {"RAY_gcs_rpc_server_reconnect_timeout_s": "600"}
WORKER_NICENESS = 10


class DeployFailed(RuntimeError):
    """Serve reported an application as DEPLOY_FAILED, or Ray exited during a deploy."""


def deploy_failure(name: str, app: dict) -> str:
    """An application's failure with each unhealthy deployment's own message (the traceback's tail)."""
    lines = [f"- {name}: {app.get('message', '')}"]
    for dep_name, dep in app.get("deployments", {}).items():
        if dep.get("status") != "HEALTHY" and dep.get("message"):
            lines.append(f"  - {dep_name}: {dep['message'][-1500:]}")
    return "\n".join(lines)


def free_ports(count: int) -> list[int]:
    """Ports the kernel just handed out on loopback; held together so they are distinct."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in socks]


@dataclass(frozen=True)
class Ports:
    """Every fixed port a Ray head opens (the others Ray picks itself, on the node IP)."""

    gcs: int = 6379
    dashboard: int = 8265
    serve: int = 8000
    metrics: int = 8080
    client: int = 10001
    dashboard_agent: int = 52365
    autoscaler_metrics: int = 44217
    dashboard_metrics: int = 44227
    redis: int = 6390  # the external Redis of GCS fault tolerance (6379 is the GCS's own default)

    @classmethod
    def from_env(cls) -> Ports:
        """Ports from RAY_VLLM_<NAME>_PORT variables, so tests and a user's run can coexist."""
        return cls(
            **{
                f.name: int(os.environ.get(f"RAY_VLLM_{f.name.upper()}_PORT", f.default))
                for f in dataclasses.fields(cls)
            }
        )

    def as_env(self) -> dict[str, str]:
        """The variables `from_env` reads: how a caller hands its ports to `tools/serve_local.py`."""
        return {
            f"RAY_VLLM_{f.name.upper()}_PORT": str(getattr(self, f.name)) for f in dataclasses.fields(self)
        }

    @classmethod
    def free(cls) -> Ports:
        return cls(*free_ports(len(dataclasses.fields(cls))))

    def metrics_endpoints(self) -> dict[str, int]:
        """The three metrics endpoints, by the port names the chart gives them in a pod."""
        return {
            "metrics": self.metrics,
            "as-metrics": self.autoscaler_metrics,
            "dash-metrics": self.dashboard_metrics,
        }


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


def process_tree(pid: int) -> list[psutil.Process]:
    """A process and every process under it; empty once it has gone."""
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    return []


@dataclass(frozen=True)
class HeadSpec:
    """How a head was started: what a restart of its container runs again."""

    command: list[str]
    env: dict[str, str]


class LocalRay:
    """A Ray head started with `ray start --block`: stopping that one process stops the cluster.

    `state_dir` keeps the pid file, the log and the auth token; `temp_dir` is Ray's session
    directory (keep it short: Unix socket paths have at most 107 bytes); `env` is added to the
    loopback environment every Ray process inherits.
    """

    def __init__(
        self,
        ports: Ports,
        state_dir: Path,
        *,
        temp_dir: Path | None = None,
        model_root: Path = REPO,
        env: dict[str, str] | None = None,
    ) -> None:
        self.ports = ports
        self.state_dir = state_dir
        self.temp_dir = temp_dir
        self.model_root = model_root
        self.extra_env = env or {}
        self.pid_file = state_dir / "ray.pid"
        self.log_file = state_dir / "ray.log"
        self.token_file = state_dir / "auth_token"
        self.dashboard = f"http://{HOST}:{ports.dashboard}"
        self.metrics_url = f"http://{HOST}:{ports.metrics}/metrics"

    def token(self) -> str:
        """Ray's token auth is on locally too: the dashboard and job API run code for any caller."""
        return secret_file(self.token_file, 32)

    def api(self, method: str, path: str, body: dict | None = None, timeout: float = 30) -> dict:
        return http_json(method, f"{self.dashboard}{path}", body, timeout=timeout, token=self.token())

    def environment(self) -> dict[str, str]:
        """What every Ray process of this head inherits (`RAY_ADDRESS` of the caller left out)."""
        return {
            **{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
            # Workers import serve_app from the checkout and resolve `./` model paths against MODEL_ROOT.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "MODEL_ROOT": str(self.model_root),
            "VLLM_HOST_IP": HOST,
            "RAY_NODE_IP_ADDRESS": HOST,
            # `ray start` swaps a loopback --node-ip-address for the host's address unless Ray thinks
            # it cannot form a multi-node cluster; this single-node head never needs to.
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "__RAY_WORKER_PROCESS_SETUP_HOOK_ENV_VAR": LOOPBACK_HOOK,
            # These two export on fixed ports by default, which another Ray on the machine may hold.
            "AUTOSCALER_METRIC_PORT": str(self.ports.autoscaler_metrics),
            "DASHBOARD_METRIC_PORT": str(self.ports.dashboard_metrics),
            "HF_HUB_OFFLINE": "1",
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(self.token_file),
            # On SIGTERM the head drains for up to 30 s so Serve can move replicas to other nodes; a
            # single-node local run has no other node, and its stop would wait out the whole 30 s.
            "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
            **self.extra_env,
        }

    def command(self, num_cpus: int) -> list[str]:
        p = self.ports
        return [
            str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
            f"--node-ip-address={HOST}", f"--port={p.gcs}", f"--ray-client-server-port={p.client}",
            "--include-dashboard=true", f"--dashboard-host={HOST}", f"--dashboard-port={p.dashboard}",
            f"--dashboard-agent-listen-port={p.dashboard_agent}", f"--metrics-export-port={p.metrics}",
            *([f"--temp-dir={self.temp_dir}"] if self.temp_dir else []),
            f"--num-cpus={num_cpus}", "--disable-usage-stats",
            # KubeRay passes the password of gcsFaultToleranceOptions the same way.
            *([f"--redis-password={self.redis.password()}"] if self.gcs_fault_tolerant else []),
        ]  # fmt: skip

    @property
    def redis(self) -> LocalRedis:
        """The external Redis of GCS fault tolerance, when the run has it (`gcsFaultTolerance`)."""
        return LocalRedis(self.ports.redis, self.state_dir)

    @property
    def gcs_fault_tolerant(self) -> bool:
        return REDIS_ADDRESS_ENV in self.extra_env

    def start(self, num_cpus: int, timeout_s: float = 180) -> None:
        if self.running_pid():
            raise SystemExit(
                f"a local Ray is already running from {self.state_dir} (pid file {self.pid_file}); "
                "stop it first (`make serve-stop` for `make serve`)"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.token()  # written before Ray reads it
        if self.gcs_fault_tolerant:
            try:
                self.redis.start()
            except RedisUnavailable as err:
                raise SystemExit(f"GCS fault tolerance needs its Redis: {err}") from None
        self.launch_head(HeadSpec(self.command(num_cpus), self.environment()), timeout_s)

    def launch_head(self, spec: HeadSpec, timeout_s: float) -> None:
        """`ray start --head --block` from `spec`; returns once the dashboard answers."""
        with self.log_file.open("ab") as log:
            # Its own session: Ctrl-C in the terminal reaches only us, and we stop Ray in order.
            proc = subprocess.Popen(
                spec.command, env=spec.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"ray start exited with {proc.returncode}:\n{self.log_tail()}")
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

    def running_environment(self) -> dict[str, str]:
        """The environment the running head was started with (every Ray process of it inherits it)."""
        pid = self.running_pid()
        return psutil.Process(pid).environ() if pid else {}

    def processes(self) -> list[psutil.Process]:
        """The head and every process under it (GCS, raylet, workers, vLLM engines), then the same
        of each worker node."""
        trees = [self.running_pid(), *self.worker_pids().values()]
        return [
            proc for pid in trees if pid is not None for proc in process_tree(pid)
        ] + self.redis.processes()

    def kill_head(self) -> HeadSpec:
        """SIGKILL every process of the head node (GCS, raylet, dashboard, Serve controller, the head's
        proxy): a crashed head container. Returns how it was started, for `restart_head`."""
        pid = self.running_pid()
        if pid is None:
            raise RuntimeError(f"no head is running from {self.state_dir}")
        head = psutil.Process(pid)
        spec = HeadSpec(head.cmdline(), head.environ())
        procs = process_tree(pid)
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(procs, timeout=10)
        self.pid_file.unlink(missing_ok=True)
        return spec

    def restart_head(self, spec: HeadSpec, attempts: int = 5, timeout_s: float = 180) -> int:
        """The same command and environment again, as the kubelet restarts a crashed head container,
        and again with its back-off (10, 20, 40, 80 s) when a start fails: on a busy machine the new
        raylet can miss the 30 s Ray gives it to register. The number of starts it took (0: a head ran)."""
        if self.running_pid() is not None:
            return 0
        for attempt in range(1, attempts + 1):
            # `ray start` refuses to start a head whose address the last start recorded while processes
            # on this host still name it: the worker nodes' raylets, which a head pod would not see.
            address_file = (self.temp_dir or Path("/tmp/ray")) / "ray_current_cluster"
            with contextlib.suppress(FileNotFoundError):
                if address_file.read_text().strip() == f"{HOST}:{self.ports.gcs}":
                    address_file.unlink()
            try:
                self.launch_head(spec, timeout_s)
                return attempt
            except SystemExit:
                if attempt == attempts:
                    raise
                self.kill_session(int(self.pid_file.read_text()))  # what the failed start left
                self.pid_file.unlink(missing_ok=True)
                time.sleep(10 * 2 ** (attempt - 1))
        return attempts

    @staticmethod
    def kill_session(sid: int) -> None:
        """SIGKILL every process of session `sid` (a head's `ray start` runs in a session of its own)."""
        procs = []
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                if os.getsid(proc.pid) == sid:
                    procs.append(proc)
                    proc.kill()
        psutil.wait_procs(procs, timeout=10)

    def restart_dead_workers(self) -> list[str]:
        """Start again, under the same names, the worker nodes whose processes have ended, as the
        kubelet restarts a worker pod's container; their names."""
        alive = self.worker_pids()  # a node stopped on purpose has no pid file left
        dead = [p.stem for p in sorted(self.nodes_dir.glob("*.pid")) if p.stem not in alive]
        for name in dead:
            node = self.worker_node(name)
            self.start_worker(name, node["group"], node["num_cpus"], proxy_port=node["proxy_port"])
        return dead

    def worker_pids(self) -> dict[str, int]:
        """The worker nodes started by `start_worker` that still run, by name."""
        found = {}
        for pid_file in sorted(self.nodes_dir.glob("*.pid")):
            with contextlib.suppress(ValueError, ProcessLookupError):
                pid = int(pid_file.read_text())
                os.kill(pid, 0)
                found[pid_file.stem] = pid
        return found

    @property
    def nodes_dir(self) -> Path:
        return self.state_dir / "nodes"

    def node_states(self) -> dict[str, str]:
        """Every node the GCS knows, by node id: ALIVE or DEAD."""
        data = self.api("GET", "/api/v0/nodes?limit=1000")["data"]["result"]["result"]
        return {node["node_id"]: node["state"] for node in data}

    def start_worker(
        self, name: str, group: str, num_cpus: int, timeout_s: float = 180, proxy_port: int | None = None
    ) -> str:
        """A worker node of worker group `group` joined to this head, like a pod of a KubeRay worker
        group (Ray labels it `ray.io/node-group=<group>` from RAY_NODE_TYPE_NAME, as there); returns
        its node id. Its ports are free ones on loopback (its Serve proxy's `proxy_port` when given);
        its process tree is its own session."""
        known = set(self.node_states())
        agent_port, metrics_port, free_proxy_port = free_ports(3)
        proxy_port = proxy_port or free_proxy_port
        # The head's own environment (a node started later, e.g. a spare one, gets the same), minus
        # what only the head reads; with GCS fault tolerance, KubeRay's longer reconnect window.
        head_env = self.running_environment() or self.environment()
        fault_tolerant = REDIS_ADDRESS_ENV in head_env
        env = {k: v for k, v in head_env.items() if k not in (REDIS_ADDRESS_ENV, NAMESPACE_ENV)}
        command = [
            # A worker pod's cores are not the head pod's: at a lower priority here, the engines that
            # saturate the machine leave the head (GCS, raylet, dashboard) the CPU it needs, e.g. to
            # come back after a crash under load.
            "nice", "-n", str(WORKER_NICENESS),
            sys.executable, "-m", "devkit.ray_worker", "start", "--block",
            f"--address={HOST}:{self.ports.gcs}", f"--node-ip-address={HOST}",
            f"--dashboard-agent-listen-port={agent_port}", f"--metrics-export-port={metrics_port}",
            f"--num-cpus={num_cpus}", f"--object-store-memory={WORKER_OBJECT_STORE_BYTES}",
            "--disable-usage-stats",
        ]  # fmt: skip
        self.nodes_dir.mkdir(parents=True, exist_ok=True)
        with (self.nodes_dir / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                command,
                env={
                    **env,
                    **(WORKER_GCS_RECONNECT_ENV if fault_tolerant else {}),
                    "RAY_NODE_TYPE_NAME": group,
                    # Serve runs a proxy on every node, as in a cluster; on one host each needs a port.
                    "RAY_SERVE_WORKER_PROXY_HTTP_PORT": str(proxy_port),
                },
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.nodes_dir / f"{name}.pid").write_text(str(proc.pid))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log_text = (self.nodes_dir / f"{name}.log").read_text(errors="replace")[-3000:]
                raise SystemExit(
                    f"worker node {name}: ray start exited with {proc.returncode}:\n{log_text}\n"
                    f"--- the newest raylet log ---\n{self.newest_log('raylet*.out')}"
                )
            joined = [n for n, state in self.node_states().items() if n not in known and state == "ALIVE"]
            if joined:
                node = {"node_id": joined[0], "group": group, "num_cpus": num_cpus, "proxy_port": proxy_port}
                (self.nodes_dir / f"{name}.json").write_text(json.dumps(node))
                return joined[0]
            time.sleep(1)
        self.stop_worker(name)
        raise SystemExit(f"worker node {name} did not join the head in {timeout_s:.0f} s")

    def worker_node(self, name: str) -> dict:
        """A started worker node's node id, group, logical CPUs and Serve proxy port."""
        return json.loads((self.nodes_dir / f"{name}.json").read_text())

    def stop_worker(self, name: str, kill: bool = False, timeout_s: float = 30) -> None:
        """Stop one worker node's whole process tree: SIGTERM (then SIGKILL), or SIGKILL at once."""
        pid = self.worker_pids().get(name)
        if pid is None:
            return
        procs = process_tree(pid)
        (self.nodes_dir / f"{name}.pid").unlink(missing_ok=True)
        if kill:
            for proc in procs:
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.kill()
            psutil.wait_procs(procs, timeout=10)
        else:
            terminate(procs, timeout_s)

    def proxy_url(self, name: str) -> str:
        """The HTTP address of the Serve proxy on worker node `name`."""
        return f"http://{HOST}:{self.worker_node(name)['proxy_port']}"

    def listening(self) -> list[Listener]:
        """Every listening TCP socket of the cluster's processes."""
        return listeners(self.processes())

    def stop(self, timeout_s: float = 30) -> bool:
        """Terminate this head's process tree and its worker nodes'; False when none was running."""
        procs = self.processes()
        self.pid_file.unlink(missing_ok=True)
        for pid_file in self.nodes_dir.glob("*.pid"):
            pid_file.unlink()
        terminate(procs, timeout_s)
        self.redis.stop()
        return bool(procs)

    def deploy(self, body: dict) -> None:
        """The call KubeRay makes for serveConfigV2; Ray validates it with ServeDeploySchema. The body
        is kept, as KubeRay keeps the RayService's config, to submit again after a head restart."""
        try:
            self.api("PUT", "/api/serve/applications/", body, timeout=120)
        except urllib.error.HTTPError as err:
            raise SystemExit(f"Ray rejected the serve config ({err.code}): {err.read().decode()}") from err
        self.deployed_file.write_text(json.dumps(body))

    @property
    def deployed_file(self) -> Path:
        return self.state_dir / "serve_config.json"

    def deployed(self) -> dict:
        """The last deploy body that Ray accepted."""
        return json.loads(self.deployed_file.read_text())

    def applications(self) -> dict:
        return self.api("GET", "/api/serve/applications/").get("applications", {})

    def wait_running(
        self,
        names: set[str] | None = None,
        timeout_s: float = 900,
        on_change: Callable[[str], None] | None = None,
    ) -> dict:
        """Poll Serve until the named applications (all of them when None) are RUNNING; their status.

        Raises DeployFailed when one of them is DEPLOY_FAILED or Ray exits, TimeoutError at the
        deadline. `on_change` gets a one-line status each time it changes (progress for a terminal).
        """
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            if self.running_pid() is None:
                raise DeployFailed(f"Ray exited while deploying:\n{self.log_tail()}")
            try:
                apps = self.applications()
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
                # A busy machine can stall the dashboard for a while; the deadline still holds.
                time.sleep(2)
                continue
            watched = {n: a for n, a in apps.items() if names is None or n in names}
            line = "  ".join(f"{name}: {app['status']}" for name, app in sorted(apps.items()))
            if on_change and line != last:
                on_change(line or "waiting for applications")
            last = line
            failed = [deploy_failure(n, a) for n, a in watched.items() if a["status"] == "DEPLOY_FAILED"]
            if failed:
                raise DeployFailed("deploy failed:\n" + "\n".join(failed))
            complete = bool(watched) and (names is None or names <= watched.keys())
            if complete and all(a["status"] == "RUNNING" for a in watched.values()):
                return apps
            time.sleep(2)
        raise TimeoutError(f"applications not RUNNING after {timeout_s:.0f} s: {last or 'none deployed'}")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_file.read_text(errors="replace")[-chars:] if self.log_file.exists() else ""

    def newest_log(self, pattern: str, chars: int = 3000) -> str:
        """The end of the newest of this session's logs whose name matches `pattern`."""
        root = self.temp_dir or Path("/tmp/ray")
        logs = sorted(root.glob(f"session_*/logs/{pattern}"), key=os.path.getmtime)
        return logs[-1].read_text(errors="replace")[-chars:] if logs else ""

    def serve_log_tail(self, chars: int = 6000) -> str:
        """The end of the Serve controller's log: why replicas did not start."""
        return self.newest_log("serve/controller_[0-9]*.log", chars)
