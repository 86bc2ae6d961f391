"""Run the chart's own serveConfigV2 on a local Ray: the `make serve` command.

Renders the chart with the given values files, takes the RayService's `serveConfigV2` string byte
for byte, starts a Ray head bound to 127.0.0.1, and deploys the string through the same dashboard
REST call the KubeRay operator makes (`PUT /api/serve/applications/`). Nothing else carries serve
configuration: what runs here is what a cluster gets.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import yaml

from devkit import REPO
from devkit.helm import HelmRenderError, Rendered, render_chart  # the one module that calls Helm
from devkit.local_ray import (
    HOST,
    NAMESPACE_ENV,
    REDIS_ADDRESS_ENV,
    DeployFailed,
    LocalRay,
    Ports,
    http_json,
)
from devkit.loopback import off_loopback
from devkit.standalone import StandaloneRun, containers

STATE_DIR = Path(os.environ.get("RAY_VLLM_STATE_DIR", REPO / ".cache" / "serve"))
# Ray needs logical CPUs for every replica actor; vLLM on CPU does its own threading, so the
# logical count is a scheduling budget, not a claim on physical cores.
MIN_LOGICAL_CPUS = 16


# Variables of the chart's Ray containers that shape Serve's runtime; a local run takes the same.
SERVE_ENV_PREFIXES = ("RAY_SERVE_", "RAYLLM_")


def render(values_files: list[str], set_values: list[str]) -> Rendered:
    """The chart's render, or SystemExit with what is wrong with the values (no traceback)."""
    missing = [v for v in values_files if not Path(v).is_file()]
    if missing:
        raise SystemExit(f"no such values file: {', '.join(missing)}")
    try:
        return render_chart(values_files=tuple(values_files), set_values=set_values or None)
    except HelmRenderError as err:
        raise SystemExit(f"the chart refused these values:\n{err}") from None


def serve_runtime_env(rendered: Rendered) -> dict[str, str]:
    """The literal RAY_SERVE_*/RAYLLM_* variables the chart sets on the Ray head container."""
    head = rendered.get("RayService")["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]
    (container,) = [c for c in head["spec"]["containers"] if c["name"] == "ray-head"]
    return {
        e["name"]: e["value"]
        for e in container.get("env", [])
        if "value" in e and e["name"].startswith(SERVE_ENV_PREFIXES)
    }


def with_http_options(config_text: str, ports: Ports) -> dict:
    """The deploy body: the rendered config, with Serve's HTTP proxies bound to loopback.

    In a cluster KubeRay owns the proxy address (0.0.0.0:8000 inside each pod); locally the only
    change is the bind address and the head's port (a worker node's proxy gets its own port from
    `LocalRay.start_worker`: every node of a local run shares 127.0.0.1).
    """
    body = yaml.safe_load(config_text)
    body["http_options"] = {**body.get("http_options", {}), "host": HOST, "port": ports.serve}
    return body


def deployment_cpus(config: dict, placed: bool | None) -> float:
    """Logical CPUs of the deployments at their max replicas: those with a placement group (`placed`
    True: the models), those without one (False: gateway, RAG), or all (None)."""
    total = 0.0
    for app in config.get("applications", []):
        for dep in app.get("deployments", []):
            bundles = dep.get("placement_group_bundles")
            if placed is not None and bool(bundles) != placed:
                continue
            auto = dep.get("autoscaling_config") or {}
            replicas = auto.get("max_replicas", dep.get("num_replicas", 1))
            per_replica = (
                sum(b.get("CPU", 0) for b in bundles)
                if bundles
                else (dep.get("ray_actor_options") or {}).get("num_cpus", 1)
            )
            total += replicas * per_replica
    return total


def head_num_cpus(rendered: Rendered) -> int | None:
    """The head's `num-cpus` start parameter, when the values set one (`head.numCpus`)."""
    params = rendered.get("RayService")["spec"]["rayClusterConfig"]["headGroupSpec"]["rayStartParams"]
    return int(float(params["num-cpus"])) if "num-cpus" in params else None


def worker_nodes(rendered: Rendered) -> list[tuple[str, str, int]]:
    """(node name, worker group, logical CPUs) for each worker pod the RayService starts with.

    A pod of a GPU group holds one model replica per GPU; a local node gets the CPUs of the
    largest replica placed on its group, so like a pod it holds one and nothing else fits beside it.
    When the head takes no replicas (`head.numCpus: 0`, as in a cluster), each node also gets the
    CPUs of the deployments placed on no group (gateway, RAG), as a GPU pod's spare cores take them:
    they may land on any node, and the models must still fit wherever they went.
    """
    cluster = rendered.get("RayService")["spec"]["rayClusterConfig"]
    config = yaml.safe_load(rendered.serve_config_text)
    sizes: dict[str, float] = {}
    for app in config["applications"]:
        for dep in app.get("deployments", []):
            selectors = dep.get("placement_group_bundle_label_selector") or []
            per_group: dict[str, float] = {}
            for selector, bundle in zip(selectors, dep.get("placement_group_bundles") or [], strict=False):
                group = selector.get("ray.io/node-group")
                per_group[group] = per_group.get(group, 0) + bundle.get("CPU", 0)
            for group, cpus in per_group.items():
                sizes[group] = max(sizes.get(group, 0), cpus)
    nodes = [
        (f"{group}-{index}", group, max(1, math.ceil(sizes.get(group, 1))))
        for group, count in ((spec["groupName"], spec["replicas"]) for spec in cluster["workerGroupSpecs"])
        for index in range(count)
    ]
    if head_num_cpus(rendered) == 0:
        spare = math.ceil(deployment_cpus(config, placed=False))
        nodes = [(name, group, cpus + spare) for name, group, cpus in nodes]
    return nodes


def required_cpus(config: dict) -> int:
    """Logical CPUs that let every deployment reach its max replicas, plus head-room."""
    return max(MIN_LOGICAL_CPUS, math.ceil(deployment_cpus(config, placed=None)) + 4)


def gcs_fault_tolerance_env(rendered: Rendered, ports: Ports) -> dict[str, str]:
    """What KubeRay gives the head for `gcsFaultToleranceOptions` (the Redis address and the storage
    namespace; the password goes on `ray start`'s command line), or nothing when it is off. The
    local run's Redis is its own on 127.0.0.1:`ports.redis`, so the values must name that address."""
    options = rendered.get("RayService")["spec"]["rayClusterConfig"].get("gcsFaultToleranceOptions")
    if not options:
        return {}
    local = f"{HOST}:{ports.redis}"
    if options["redisAddress"] != local:
        raise SystemExit(
            f"gcsFaultTolerance.redisAddress is {options['redisAddress']!r}; a local run starts its own "
            f"Redis on {local}: set gcsFaultTolerance.redisAddress={local}"
        )
    namespace = options.get("externalStorageNamespace") or rendered.get("RayService")["metadata"]["name"]
    return {REDIS_ADDRESS_ENV: local, NAMESPACE_ENV: namespace}


def wait_running(ray: LocalRay, timeout_s: float, out=sys.stdout) -> dict:
    """Every application RUNNING, printing each status change; SystemExit with Serve's reason if not."""

    def progress(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", file=out, flush=True)

    try:
        return ray.wait_running(timeout_s=timeout_s, on_change=progress)
    except (DeployFailed, TimeoutError) as err:
        raise SystemExit(str(err)) from None


def restart_needed(rendered: Rendered, running_env: dict[str, str], running_workers: list[str]) -> list[str]:
    """What a new render changes that only a new start applies: Serve's runtime variables (read when
    Ray starts, like the head container's env) and the worker nodes. Empty: an update can apply it."""
    wanted = serve_runtime_env(rendered)
    running = {k: v for k, v in running_env.items() if k.startswith(SERVE_ENV_PREFIXES)}
    changed = [f"{k}: {running.get(k)!r} -> {wanted.get(k)!r}" for k in sorted(wanted.keys() | running.keys())
               if wanted.get(k) != running.get(k)]  # fmt: skip
    names = [name for name, _, _ in worker_nodes(rendered)]
    if names != running_workers:
        changed.append(f"worker nodes: {running_workers} -> {names}")
    return changed


def update(ray: LocalRay, rendered: Rendered, timeout_s: float) -> dict:
    """Deploy a new render onto the running local run, as KubeRay updates a RayService's serveConfigV2
    in place: Serve restarts only the replicas whose code or arguments changed (a change of
    autoscaling or replica options alone restarts nothing). Returns the applications once RUNNING."""
    if ray.running_pid() is None:
        raise SystemExit(f"no local run is up in {ray.state_dir}: start one with `make serve`")
    changed = restart_needed(rendered, ray.running_environment(), sorted(ray.worker_pids()))
    if changed:
        raise SystemExit(
            "these changes take a new start (`make serve-stop`, then `make serve`), not an update:\n  "
            + "\n  ".join(changed)
        )
    # The PUT returns once the controller holds the new config: the statuses read next are its.
    ray.deploy(with_http_options(rendered.serve_config_text, ray.ports))
    return wait_running(ray, timeout_s)


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


def serve_standalone(rendered: Rendered, args: argparse.Namespace) -> int:
    """mode standalone: each model's container command, as rendered, on 127.0.0.1."""
    servers = containers(rendered)
    if args.print_config:
        sys.stdout.write("".join(c.command_line + "\n" for c in servers))
        return 0
    if args.update:
        raise SystemExit(
            "--update deploys a new serveConfigV2 (mode rayservice); in standalone mode stop and start again"
        )
    exposed = sorted({s.host for s in servers} - {HOST})
    if exposed:
        raise SystemExit(
            f"these values make vLLM bind {', '.join(exposed)}; a local run binds {HOST} only: "
            f"set standalone.host={HOST} (values/local-cpu-standalone.yaml does)"
        )
    run = StandaloneRun.of(STATE_DIR)

    def start() -> None:
        for server in servers:
            print(f"starting vLLM for {server.model}: {server.command_line}", flush=True)
            run.start(server, args.timeout)
        strays = off_loopback(run.processes())
        if strays:
            raise SystemExit(f"listening off loopback: {', '.join(strays)}")
        for server in servers:
            print(
                f"\nOpenAI-compatible endpoint of {server.model}: {server.base_url}/v1   (vLLM's own server)"
            )
            print(f"  curl {server.base_url}/v1/models   log: {run.log_file(server)}", flush=True)
        print("\nCtrl-C (or `make serve-stop`) stops the servers.", flush=True)

    return in_foreground(
        args, "the vLLM servers", start,
        alive=lambda: all(run.alive(s) for s in servers),
        stopped=lambda: not any(run.pid_file(s).exists() for s in servers),
        log=run.state_dir, stop=run.stop,
    )  # fmt: skip


def in_foreground(
    args: argparse.Namespace, what: str, start: Callable[[], None], *, alive: Callable[[], bool],
    stopped: Callable[[], bool], log: Path, stop: Callable[[], object],
) -> int:  # fmt: skip
    """`start`, then return at once with --detach, or wait until `what` exits (1) or `make serve-stop`
    stops it (0, its pid files gone); Ctrl-C, SIGTERM and errors stop it."""
    try:
        start()
        if args.detach:
            return 0
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while alive():
            time.sleep(1)
        if stopped():
            print(f"{what}: stopped (make serve-stop)")
            return 0
        print(f"{what}: exited; see", log)
        return 1
    except KeyboardInterrupt:
        return 0
    except BaseException:
        args.detach = False
        raise
    finally:
        if not args.detach:
            print(f"stopping {what} ...", flush=True)
            stop()


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
        "--update", action="store_true",
        help="deploy the render onto the run already up (what changed restarts, the rest keeps serving)",
    )  # fmt: skip
    parser.add_argument(
        "--print-config", action="store_true",
        help="print the rendered serveConfigV2 (standalone: each model's command) and exit",
    )  # fmt: skip
    parser.add_argument(
        "--mode", choices=["rayservice", "standalone"], help="the mode the values must render"
    )
    args = parser.parse_args(argv)
    if args.stop:
        stopped = LocalRay(Ports.from_env(), STATE_DIR).stop()
        print("stopped local Ray" if stopped else "no local Ray from `make serve` is running")
        if StandaloneRun.of(STATE_DIR).stop():
            print("stopped the standalone vLLM servers")
        return 0

    rendered = render(args.values or ["values/local-cpu.yaml"], args.set_values)
    mode = "standalone" if rendered.of_kind("Deployment") else "rayservice"
    if args.mode and args.mode != mode:
        raise SystemExit(
            f"MODE={args.mode}, but these values render mode {mode}: set `mode` in the values or drop MODE"
        )
    if mode == "standalone":
        return serve_standalone(rendered, args)
    config_text = rendered.serve_config_text
    if args.print_config:
        sys.stdout.write(config_text)
        return 0
    if args.update:
        apps = update(LocalRay(Ports.from_env(), STATE_DIR), rendered, args.timeout)
        print(f"updated: {', '.join(sorted(apps))} RUNNING", flush=True)
        return 0
    ports = Ports.from_env()
    ray = LocalRay(
        ports, STATE_DIR, env={**serve_runtime_env(rendered), **gcs_fault_tolerance_env(rendered, ports)}
    )
    nodes = worker_nodes(rendered)
    body = with_http_options(config_text, ray.ports)
    cpus = head_num_cpus(rendered)
    cpus = required_cpus(body) if cpus is None else cpus

    def start() -> None:
        print(f"starting Ray on {HOST} ({cpus} logical CPUs), dashboard {ray.dashboard}", flush=True)
        if ray.gcs_fault_tolerant:
            print(f"GCS fault tolerance: Ray keeps its state in Redis on {ray.redis.address}", flush=True)
        ray.start(num_cpus=cpus)
        ray.deploy(body)
        # After the deploy, as KubeRay's worker pods join a head that already runs Serve: the
        # replicas placed on no group start on the head, the groups' replicas wait for their nodes.
        for name, group, node_cpus in nodes:
            print(f"starting worker node {name} of group {group} ({node_cpus} logical CPUs)", flush=True)
            ray.start_worker(name, group, node_cpus)
        apps = wait_running(ray, args.timeout)
        print(usage_text(ray.ports, list_models(ray.ports), apps), flush=True)

    return in_foreground(
        args, "Ray", start, alive=lambda: bool(ray.running_pid()),
        stopped=lambda: not ray.pid_file.exists(), log=ray.log_file, stop=ray.stop,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
