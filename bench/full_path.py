"""Full path vs standalone vLLM: the chart's two modes on the same model, under the same light load.

    python -m bench.full_path [--concurrency 8] [--num-prompts 240] [--rounds 5] [--profile]

Serves the preset's first model twice at once, in the chart's two modes: by the local run
(values/local-cpu.yaml through tools/serve_local.py: Serve proxy → OpenAiGateway → LLMServer → vLLM
engine) and by standalone mode (the same values plus values/local-cpu-standalone.yaml: vLLM's own
`python -m vllm.entrypoints.openai.api_server` with the flags the chart renders). The load is vLLM's
own benchmark client (bench/vllm_client.py: `vllm.benchmarks.serve`, random prompts of
`--input-len` tokens, `--max-tokens` generated with ignore_eos, streamed chat, `--concurrency` at
once), a light client whose own CPU share is reported: Locust on the same two cores measured itself.
After one unrecorded warm-up run per server, runs alternate in rounds (each server once per round,
in a shuffled order). `--local-env KEY=VALUE` sets a variable for the local run's Ray (e.g. a Ray
Serve LLM setting, to measure a fix); `--tag` names such a run's result file.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from bench import profile, report, vllm_client
from bench.local_run import (
    MODEL,
    add_variant_options,
    chart_local_run,
    process_named,
    variant,
)
from bench.rounds import compare
from bench.stats import Target, interleaved, table, targets_table
from bench.vllm_server import standalone_vllm
from devkit.loopback import off_loopback
from devkit.processes import engine_core
from serve_app.config import llm_deployment_name

LOCAL, VLLM = "chart-local-run", "vllm"
VLLM_PORT = 47100
THROUGHPUT_RATIO_TARGET = 0.95
TTFT_P50_ADDED_TARGET_MS = 10.0


def client_run(
    client: vllm_client.Client,
    url: str,
    args: argparse.Namespace,
    out: Path,
    num_prompts: int,
    seed: int,
    tokenizer: Path,
) -> dict:
    """One run of vLLM's benchmark client against `url` with this benchmark's load."""
    return client.run(
        url, out, model=MODEL, tokenizer=tokenizer, input_len=args.input_len, max_tokens=args.max_tokens,
        num_prompts=num_prompts, concurrency=args.concurrency, seed=seed,
    )  # fmt: skip


Roles = Callable[[], dict[str, list[psutil.Process]]]


def local_run_roles(run) -> dict[str, list[psutil.Process]]:
    """The local run's processes by their part in serving the model: each hop, its engine, and the rest
    (Ray's own processes, the other model's replica and engine, idle)."""
    replica = process_named(run, f"ServeReplica:llm:{llm_deployment_name(MODEL)}")
    core = engine_core(replica)
    roles = {
        "proxy": [process_named(run, "ProxyActor")],
        "gateway": [process_named(run, "ServeReplica:llm:OpenAiGateway")],
        "llm-server": [replica],
        "engine core": [core],
        "engine worker": core.children(),
    }
    return {**roles, "ray and the rest": others(run.processes(), roles)}


def vllm_roles(vllm) -> dict[str, list[psutil.Process]]:
    """vLLM's own server by the same parts: its API server (the one hop), its engine."""
    api_server = vllm.processes()[0]
    core = engine_core(api_server)
    roles = {"api server": [api_server], "engine core": [core], "engine worker": core.children()}
    return {**roles, "ray and the rest": others(vllm.processes(), roles)}


# The processes py-spy samples under load: each hop and the engine core (its worker is torch's kernels).
PROFILED = {LOCAL: ("proxy", "gateway", "llm-server", "engine core"), VLLM: ("api server", "engine core")}


def profiled_pids(roles: dict[str, list[psutil.Process]], profiled: tuple[str, ...]) -> dict[str, int]:
    """The pid of each profiled role's process, named as py-spy's files are (`engine-core`)."""
    return {role.replace(" ", "-"): roles[role][0].pid for role in profiled}


def others(processes: list[psutil.Process], roles: dict[str, list[psutil.Process]]) -> list[psutil.Process]:
    named = {p.pid for members in roles.values() for p in members}
    return [p for p in processes if p.pid not in named]


def cpu_s(roles: dict[str, list[psutil.Process]]) -> dict[str, dict[int, float]]:
    """CPU seconds of each process, by role."""
    found: dict[str, dict[int, float]] = {}
    for role, members in roles.items():
        found[role] = {}
        for process in members:
            with contextlib.suppress(psutil.Error):
                found[role][process.pid] = report.process_cpu_s(process)
    return found


def cpu_ms_per_token(before: dict, after: dict, tokens: float) -> dict[str, float]:
    """Each role's CPU over a run, in ms per output token. The engine's processes spin while they wait
    for each other (vLLM's shared-memory queue), so theirs is what they were given, not what they needed."""
    return {
        role: round(1000 * sum(s - before.get(role, {}).get(pid, 0.0) for pid, s in pids.items()) / tokens, 3)
        for role, pids in after.items()
    }


def alternate(
    client: vllm_client.Client,
    targets: dict[str, str],
    args: argparse.Namespace,
    out_dir: Path,
    tokenizer: Path,
    roles: dict[str, Roles],
) -> list[dict]:
    """A warm-up run per target, then `--rounds` rounds of one recorded run per target, each with the
    CPU its server's processes took (`roles`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, url in targets.items() if args.warmup_prompts else ():
        client_run(
            client, url, args, out_dir / f"warmup-{name}.json", args.warmup_prompts, args.seed, tokenizer
        )
    runs = []
    order = interleaved(list(targets), args.rounds, random.Random(args.seed))
    for index, name in enumerate(order):
        number = index // len(targets)
        members = roles[name]()
        before = cpu_s(members)
        result = client_run(
            client,
            targets[name],
            args,
            out_dir / f"run-{index}.json",
            args.num_prompts,
            args.seed + number,
            tokenizer,
        )
        tokens = result["output_throughput"] * result["duration"]
        cpu = cpu_ms_per_token(before, cpu_s(members), tokens) if tokens else {}
        runs.append({"target": name, "round": number, **result, "cpu_ms_per_token": cpu})
    return runs


def profile_under_load(
    client: vllm_client.Client,
    name: str,
    url: str,
    pids: dict[str, int],
    args: argparse.Namespace,
    out_dir: Path,
    tokenizer: Path,
) -> dict:
    recordings = profile.start_recording(pids, int(args.profile_s), out_dir / name)
    client_run(client, url, args, out_dir / f"{name}-load.json", args.num_prompts, args.seed, tokenizer)
    return profile.finish_recording(recordings, timeout_s=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--concurrency", type=int, default=8, help="requests at once (the preset's maxNumSeqs)"
    )
    parser.add_argument("--num-prompts", type=int, default=240, help="requests per recorded run")
    parser.add_argument(
        "--warmup-prompts", type=int, default=32, help="requests of the unrecorded first run; 0: none"
    )
    parser.add_argument("--rounds", type=int, default=5, help="recorded runs per server")
    parser.add_argument("--input-len", type=int, default=48, help="prompt tokens (random prompts)")
    parser.add_argument("--max-tokens", type=int, default=64, help="tokens generated per request")
    add_variant_options(parser)
    parser.add_argument(
        "--attach-standalone", type=Path, metavar="STATE_DIR",
        help="measure the standalone run already up in STATE_DIR (`make serve MODE=standalone`'s "
        "RAY_VLLM_STATE_DIR; its API key, if any, in OPENAI_API_KEY) instead of starting one; left running",
    )  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="then py-spy each server under the same load")
    parser.add_argument("--profile-s", type=float, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-wait-s", type=float, default=1200, help="give up waiting for a quiet machine")
    parser.add_argument("--state-dir", type=Path, default=Path("/tmp/bench-full"))
    parser.add_argument("--out-dir", type=Path, default=report.RESULTS_DIR)
    args = parser.parse_args(argv)
    name, local_env, local_set = variant(args, "full-path")

    with contextlib.ExitStack() as stack:
        client = stack.enter_context(vllm_client.Client())
        vllm = stack.enter_context(
            standalone_vllm(VLLM_PORT, args.state_dir / "vllm", attach=args.attach_standalone)
        )
        started = time.monotonic()
        run = stack.enter_context(
            chart_local_run(args.state_dir / "local", local_env, attach=args.attach, set_values=local_set)
        )
        # Start to ready (the local run: every application RUNNING), each on a machine the other idles on.
        start_s = {
            LOCAL: None if args.attach else round(time.monotonic() - started, 1),
            VLLM: None if vllm.start_s is None else round(vllm.start_s, 1),
        }
        listeners = off_loopback(vllm.processes() + run.processes())
        targets = {LOCAL: run.base_url, VLLM: vllm.base_url}
        with report.measuring(lambda: vllm.processes() + run.processes(), args.max_wait_s) as conditions:
            roles = {LOCAL: lambda: local_run_roles(run), VLLM: lambda: vllm_roles(vllm)}
            runs = alternate(client, targets, args, args.state_dir / "runs", vllm.model_path, roles)
        profiles = {}
        if args.profile:
            pids = {t: profiled_pids(roles[t](), PROFILED[t]) for t in targets}
            profile_dir = args.out_dir / "profiles" / name
            profiles = {
                t: profile_under_load(client, t, targets[t], pids[t], args, profile_dir, vllm.model_path)
                for t in targets
            }

    analysis = compare(runs, LOCAL, VLLM)
    per = analysis["servers"]
    targets_checked = [
        Target("throughput local run / vLLM (median runs)", analysis["throughput_ratio"],
               THROUGHPUT_RATIO_TARGET, "min", "x"),
        Target("TTFT p50 added", analysis["ttft_added_ms"].get("p50"),
               TTFT_P50_ADDED_TARGET_MS, "max", " ms"),
    ]  # fmt: skip
    print(f"\nfull path vs standalone vLLM ({args.concurrency} at once, {args.input_len} → {args.max_tokens} "
          f"tokens, {args.rounds} x {args.num_prompts} requests per server)")  # fmt: skip
    print(
        table(
            [
                "target",
                "requests",
                "failed",
                "tokens/s p50",
                "TTFT p50 ms",
                "TTFT p99 ms",
                "ITL p50 ms",
                "ITL p99 ms",
                "client CPU",
            ],
            [
                (
                    t,
                    per[t]["requests"],
                    per[t]["failures"],
                    per[t]["output_tokens_per_s"].get("p50"),
                    per[t]["ttft_ms"].get("p50"),
                    per[t]["ttft_ms"].get("p99"),
                    per[t]["itl_ms"].get("p50"),
                    per[t]["itl_ms"].get("p99"),
                    f"{per[t]['client_cpu_share_max']:.0%}",
                )
                for t in (LOCAL, VLLM)
            ],
        )
    )
    print(
        f"\nthroughput ratio {analysis['throughput_ratio']}"
        f" (paired rounds {analysis['throughput_ratio_paired_median']}),"
        f" TTFT added {analysis['ttft_added_ms']}, ITL added {analysis['itl_added_ms']}"
    )
    print("\n" + targets_table(targets_checked))
    for target, found in profiles.items():
        for proc, top in found.items():
            print("\n" + profile.describe(f"{target} {proc}", top))
    path = report.write_result(
        name,
        {
            # Where things are kept is no setting; an attached vLLM shows as start_s None.
            "settings": {**{k: v for k, v in vars(args).items()
                            if k not in ("state_dir", "out_dir", "attach_standalone")},
                         "preset": "values/local-cpu.yaml",
                         "vllm_command": [*vllm.container.command, *vllm.container.args]},
            "start_s": start_s,
            "non_loopback_listeners": listeners,
            **analysis,
            "runs": runs,
            "profiles": profiles,
            "targets": [t.as_dict() for t in targets_checked],
        },
        conditions=conditions,
        out_dir=args.out_dir,
    )  # fmt: skip
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
