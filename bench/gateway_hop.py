"""Gateway hop: a chat request through the gateway vs the same request to the model's deployment handle.

    python -m bench.gateway_hop --backend zero-work|tiny-vllm [--profile]

Runs the chart's local run (values/local-cpu.yaml through tools/serve_local.py) and drives it as a
Ray driver, with three arms on the same `LLMServer:tiny` replica, interleaved request by request:

- direct:          `LLMServer:tiny` handle `.chat` from this driver (the baseline);
- gateway-handle:  `OpenAiGateway.chat_completion` handle (the call the RAG app makes): the
                   gateway deployment hop alone, without HTTP;
- gateway-http:    `POST /v1/chat/completions` through Serve's HTTP proxy and the gateway, what
                   clients send: the hop the targets are about.

Backends: `zero-work` answers instantly (bench/zero_engine.py: every LLMServer's engine swapped
through Ray Serve LLM's RAYLLM_VLLM_ENGINE_CLS), so only the serving path is timed; `tiny-vllm`
is the preset's real vLLM engine on the tiny model. Latency: one request at a time. Max
requests/s: a closed loop of `--concurrency` callers per arm in short windows, A/B/C alternating.
`--profile` then loads the gateway path once more while py-spy samples the proxy, the gateway
and the LLMServer replica.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench import profile, report
from bench.local_run import (
    MODEL,
    add_variant_options,
    chart_local_run,
    process_named,
    variant,
)
from bench.stats import Target, difference, interleaved, ratio, summary, table, targets_table
from devkit.local_ray import HOST
from devkit.loopback import off_loopback
from devkit.processes import engine_core
from loadtest.openai_wire import CHAT_PATH, build_chat_body
from serve_app.config import GATEWAY_DEPLOYMENT, llm_deployment_name

DIRECT, GATEWAY_HANDLE, GATEWAY_HTTP = "direct", "gateway-handle", "gateway-http"
ARMS = (DIRECT, GATEWAY_HANDLE, GATEWAY_HTTP)
ADDED_P50_TARGET_MS = 2.0
RPS_RATIO_TARGET = 0.8
APP = "llm"  # the gateway application's name in the chart's serveConfigV2
CPU_TITLE = "CPU ms per request by process, one request at a time"


@dataclass(frozen=True)
class Backend:
    name: str
    env: dict[str, str]
    max_tokens: int
    ignore_eos: bool
    latency_requests: int  # per arm
    window_s: float
    concurrency: int  # <= the preset's LLMServer max_ongoing + max_queued, so nothing is rejected
    vllm: bool = True  # a vLLM engine-core process serves the model


BACKENDS = {
    "zero-work": Backend(
        name="zero-work",
        env={"RAYLLM_VLLM_ENGINE_CLS": "bench.zero_engine.ZeroWorkEngine"},
        max_tokens=1,
        ignore_eos=False,
        latency_requests=400,
        window_s=4.0,
        concurrency=16,
        vllm=False,
    ),
    # Fixed-length answers (ignore_eos), so every arm asks the engine for the same work.
    "tiny-vllm": Backend(
        name="tiny-vllm",
        env={},
        max_tokens=16,
        ignore_eos=True,
        latency_requests=120,
        window_s=6.0,
        concurrency=8,
    ),
}

Call = Callable[[], Awaitable[None]]


async def latencies_ms(arms: dict[str, Call], per_arm: int, warmup: int, rng: random.Random) -> dict:
    """One request at a time, the arms interleaved in shuffled rounds; warm-up rounds untimed."""
    for name in interleaved(list(arms), warmup, rng):
        await arms[name]()
    samples: dict[str, list[float]] = {name: [] for name in arms}
    for name in interleaved(list(arms), per_arm, rng):
        start = time.perf_counter()
        await arms[name]()
        samples[name].append((time.perf_counter() - start) * 1000)
    return samples


async def closed_loop_rps(call: Call, concurrency: int, window_s: float) -> float:
    """Requests completed per second by `concurrency` callers that stop starting requests after window_s."""
    start = time.perf_counter()
    deadline = start + window_s
    done = 0

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call()
            done += 1

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    # In-flight requests finish after the deadline; counting them, count their time too.
    return done / (time.perf_counter() - start)


async def windows_rps(arms: dict[str, Call], backend: Backend, rounds: int, rng: random.Random) -> dict:
    rps: dict[str, list[float]] = {name: [] for name in arms}
    for name in interleaved(list(arms), rounds, rng):
        rps[name].append(round(await closed_loop_rps(arms[name], backend.concurrency, backend.window_s), 2))
    return rps


async def cpu_ms_per_request(
    arms: dict[str, Call], processes: dict[str, psutil.Process], per_arm: int, rounds: int, rng: random.Random
) -> dict:
    """CPU time (user + system) each process spends per request of each arm: where a hop's cost goes.

    Requests one at a time, `per_arm` back to back per arm in shuffled rounds, so Ray's own
    background work (metrics, health checks) lands on every arm alike.
    """
    spent = {arm: dict.fromkeys(processes, 0.0) for arm in arms}
    for arm in interleaved(list(arms), rounds, rng):
        before = {name: report.process_cpu_s(proc) for name, proc in processes.items()}
        for _ in range(per_arm):
            await arms[arm]()
        for name, proc in processes.items():
            spent[arm][name] += report.process_cpu_s(proc) - before[name]
    return {
        arm: {name: round(1000 * seconds / (per_arm * rounds), 3) for name, seconds in by_process.items()}
        for arm, by_process in spent.items()
    }


def make_arms(session, body: dict, base_url: str) -> tuple[dict[str, Call], list]:
    """The three arms, and the deployment handles behind them (to shut down when done)."""
    from ray import serve
    from ray.llm._internal.serve.core.configs.openai_api_models import (
        ChatCompletionRequest,
        ChatCompletionResponse,
    )

    # The options the gateway itself puts on its LLMServer handles (OpenAiIngress).
    llm = serve.get_deployment_handle(llm_deployment_name(MODEL), app_name=APP).options(stream=True)
    gateway = serve.get_deployment_handle(GATEWAY_DEPLOYMENT, app_name=APP)
    url = f"{base_url}{CHAT_PATH}"

    async def direct() -> None:
        responses = [r async for r in llm.chat.remote(ChatCompletionRequest.model_validate(body), None)]
        if len(responses) != 1 or not isinstance(responses[0], ChatCompletionResponse):
            raise RuntimeError(f"LLMServer answered {responses!r:.300}")

    async def gateway_handle() -> None:
        answer = await gateway.chat_completion.remote(body, {}, uuid.uuid4().hex)
        if not answer["completion"]["choices"]:
            raise RuntimeError(f"gateway answered {answer!r:.300}")

    async def gateway_http() -> None:
        async with session.post(url, json=body) as response:
            payload = await response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {payload[:300]!r}")

    arms = {DIRECT: direct, GATEWAY_HANDLE: gateway_handle, GATEWAY_HTTP: gateway_http}
    return arms, [llm, gateway]


async def measure(
    backend: Backend,
    args: argparse.Namespace,
    processes: dict[str, psutil.Process],
    on_loaded: Callable[[Call], Awaitable[dict]],
    base_url: str,
) -> dict:
    import aiohttp

    rng = random.Random(args.seed)
    body = build_chat_body(
        MODEL, [{"role": "user", "content": "Say ok."}], max_tokens=backend.max_tokens, stream=False,
        ignore_eos=backend.ignore_eos,
    )  # fmt: skip
    # One keep-alive connection per concurrent caller, like a client pool.
    connector = aiohttp.TCPConnector(limit=backend.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        arms, handles = make_arms(session, body, base_url)
        try:
            latency = await latencies_ms(arms, backend.latency_requests, args.warmup, rng)
            rps = await windows_rps(arms, backend, args.rounds, rng)
            cpu = await cpu_ms_per_request(arms, processes, backend.latency_requests // 4, 4, rng)
            profiles = await on_loaded(arms[GATEWAY_HTTP])
        finally:
            # Stops their routers' metrics pushes, which would fail loudly once Ray is shut down.
            for handle in handles:
                await handle.shutdown_async()
    return {
        "body": body, "latency_samples_ms": latency, "rps_windows": rps, "cpu_ms_per_request": cpu,
        "profiles": profiles,
    }  # fmt: skip


def analyse(raw: dict) -> dict:
    latency = {name: summary(values) for name, values in raw["latency_samples_ms"].items()}
    rps = {name: summary(values) for name, values in raw["rps_windows"].items()}
    base_rps = rps[DIRECT]["p50"]
    return {
        "latency_ms": latency,
        "added_latency_ms": {
            name: difference(latency[name], latency[DIRECT]) for name in ARMS if name != DIRECT
        },
        "max_rps": rps,
        "rps_ratio_to_direct": {name: ratio(rps[name]["p50"], base_rps) for name in ARMS if name != DIRECT},
        "cpu_ms_per_request": {
            name: {**by_process, "total": round(sum(by_process.values()), 3)}
            for name, by_process in raw["cpu_ms_per_request"].items()
        },
    }


def print_report(backend: Backend, analysis: dict, targets: list[Target]) -> None:
    latency, rps = analysis["latency_ms"], analysis["max_rps"]
    print(
        f"\ngateway hop, backend {backend.name}"
        f" (max_tokens {backend.max_tokens}, concurrency {backend.concurrency})"
    )
    print(
        table(
            ["arm", "n", "p50 ms", "p90 ms", "p99 ms", "added p50 ms", "added p99 ms", "max req/s", "ratio"],
            [
                (
                    name,
                    latency[name]["n"],
                    latency[name]["p50"],
                    latency[name]["p90"],
                    latency[name]["p99"],
                    analysis["added_latency_ms"].get(name, {}).get("p50"),
                    analysis["added_latency_ms"].get(name, {}).get("p99"),
                    rps[name]["p50"],
                    analysis["rps_ratio_to_direct"].get(name),
                )
                for name in ARMS
            ],
        )
    )
    print(f"\n{CPU_TITLE}\n" + cpu_table(analysis["cpu_ms_per_request"]))
    print("\n" + targets_table(targets))


def cpu_table(cpu: dict[str, dict[str, float]]) -> str:
    columns = list(cpu[DIRECT])
    return table(["arm", *columns], [(arm, *(cpu[arm][c] for c in columns)) for arm in ARMS])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=sorted(BACKENDS), required=True)
    parser.add_argument("--rounds", type=int, default=6, help="rate windows per arm")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per arm")
    parser.add_argument("--latency-requests", type=int, help="timed requests per arm (default: per backend)")
    parser.add_argument("--profile", action="store_true", help="py-spy the serving processes under load")
    parser.add_argument("--profile-s", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-wait-s", type=float, default=1200, help="give up waiting for a quiet machine")
    parser.add_argument("--state-dir", type=Path, default=Path("/tmp/bench-hop"))
    parser.add_argument("--out-dir", type=Path, default=report.RESULTS_DIR)
    add_variant_options(parser)
    args = parser.parse_args(argv)
    backend = BACKENDS[args.backend]
    if args.latency_requests:
        backend = Backend(**{**backend.__dict__, "latency_requests": args.latency_requests})
    name, local_env, local_set = variant(args, f"gateway-hop-{backend.name}")

    with chart_local_run(
        args.state_dir / backend.name, {**backend.env, **local_env}, attach=args.attach, set_values=local_set
    ) as run:
        # This driver joins the run's cluster with its token, on loopback like the head (Ray would
        # otherwise swap 127.0.0.1 for the host's address: the same switch serve_local.py sets).
        # No auto-connect: Serve's handle threads outlive ray.shutdown() and would ray.init() the
        # machine's latest cluster, which may be another run's.
        os.environ.update(
            {
                "RAY_AUTH_MODE": "token",
                "RAY_AUTH_TOKEN_PATH": str(run.state_dir / "auth_token"),
                "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
                "RAY_NODE_IP_ADDRESS": HOST,
                "RAY_ENABLE_AUTO_CONNECT": "0",
            }
        )
        import ray

        ray.init(address=f"{HOST}:{run.ports.gcs}", _node_ip_address=HOST, log_to_driver=False)
        try:
            listeners = off_loopback([*run.processes(), psutil.Process()])

            serving = {
                "proxy": process_named(run, "ProxyActor"),
                "gateway": process_named(run, f"ServeReplica:{APP}:{GATEWAY_DEPLOYMENT}"),
                "llm-server": process_named(run, f"ServeReplica:{APP}:{llm_deployment_name(MODEL)}"),
            }

            async def on_loaded(call: Call) -> dict:
                if not args.profile:
                    return {}
                pids = {proc_name: proc.pid for proc_name, proc in serving.items()}
                recordings = profile.start_recording(pids, args.profile_s, args.out_dir / "profiles" / name)
                await closed_loop_rps(call, backend.concurrency, args.profile_s)
                return profile.finish_recording(recordings, timeout_s=60)

            # vLLM runs its engine in a process of its own; the client is this process (its HTTP
            # client and its Ray handles cost CPU too).
            engine = {"vllm engine": engine_core(serving["llm-server"])} if backend.vllm else {}
            processes = {
                **serving, **engine,
                "client (this driver)": psutil.Process(),
            }  # fmt: skip
            with report.measuring(run.processes, args.max_wait_s) as conditions:
                raw = asyncio.run(measure(backend, args, processes, on_loaded, run.base_url))
        finally:
            ray.shutdown()

    analysis = analyse(raw)
    targets = [
        Target("gateway-http p50 added over direct", analysis["added_latency_ms"][GATEWAY_HTTP]["p50"],
               ADDED_P50_TARGET_MS, "max", " ms"),
        Target("gateway-http max req/s / direct", analysis["rps_ratio_to_direct"][GATEWAY_HTTP],
               RPS_RATIO_TARGET, "min", "x"),
    ]  # fmt: skip
    print_report(backend, analysis, targets)
    for proc, found in raw["profiles"].items():
        print("\n" + profile.describe(proc, found))
    path = report.write_result(
        name,
        {
            "settings": {**backend.__dict__, "local_env": local_env, "rounds": args.rounds,
                         "warmup": args.warmup, "seed": args.seed, "preset": "values/local-cpu.yaml",
                         "request_body": raw["body"]},
            "non_loopback_listeners": listeners,
            **analysis,
            "rps_windows": raw["rps_windows"],
            "profiles": raw["profiles"],
            "targets": [t.as_dict() for t in targets],
        },
        conditions=conditions,
        out_dir=args.out_dir,
    )  # fmt: skip
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
