"""Full path vs standalone vLLM: the same tiny model, the same streaming load, alternating windows.

    python -m bench.full_path [--users 8] [--window-s 20] [--rounds 5] [--profile]

Serves the preset's first model twice at once, in the chart's two modes: by the local run
(values/local-cpu.yaml through tools/serve_local.py: Serve proxy → OpenAiGateway → LLMServer → vLLM
engine) and by standalone mode (the same values plus values/local-cpu-standalone.yaml: vLLM's own
`python -m vllm.entrypoints.openai.api_server` with the flags the chart renders). The load is the
project's Locust chat user (loadtest/chat.py) at a fixed concurrency, streamed, fixed-length
answers (ignore_eos), driven by bench/locust_windows.py in windows that alternate between the two.
Each window is measured after `--warmup-s`: output tokens/s, TTFT and mean inter-token latency of
the requests that completed in it. `--local-env KEY=VALUE` sets a variable for the local run's Ray
(e.g. a Ray Serve LLM setting, to measure a fix); `--tag` names such a run's result file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

from bench import profile, report
from bench.local_run import (
    MODEL,
    add_variant_options,
    chart_local_run,
    process_named,
    variant,
)
from bench.stats import Target, table, targets_table
from bench.vllm_server import standalone_vllm
from bench.windows import compare, window_metrics
from devkit.loopback import off_loopback
from devkit.processes import engine_core
from serve_app.config import llm_deployment_name

LOCAL, VLLM = "chart-local-run", "vllm"
VLLM_PORT = 47100
THROUGHPUT_RATIO_TARGET = 0.95
TTFT_P50_ADDED_TARGET_MS = 10.0


def run_load(targets: dict[str, str], args: argparse.Namespace, out: Path, *, rounds: int, window_s: float,
             prime_s: float) -> dict:  # fmt: skip
    chat_args = [
        "--model", MODEL, "--max-tokens", str(args.max_tokens), "--ignore-eos", "--temperature", "0",
        "--prompt-mix", args.prompt_mix, "--api-key-env", "", "--request-timeout", "120",
    ]  # fmt: skip
    cmd = [
        sys.executable, "-m", "bench.locust_windows", *(f"--target={n}={u}" for n, u in targets.items()),
        "--users", str(args.users), "--window-s", str(window_s), "--rounds", str(rounds),
        "--prime-s", str(prime_s), "--seed", str(args.seed), "--out", str(out), "--", *chat_args,
    ]  # fmt: skip
    # Bounded: every window, plus each user's last request (request timeout), plus start-up.
    budget = len(targets) * (rounds * (window_s + 120) + prime_s + 120) + 120
    subprocess.run(cmd, cwd=report.REPO, check=True, timeout=budget)
    return json.loads(out.read_text())


def profile_under_load(
    name: str, url: str, pids: dict[str, int], args: argparse.Namespace, out_dir: Path
) -> dict:
    recordings = profile.start_recording(pids, int(args.profile_s), out_dir / name)
    run_load({name: url}, args, out_dir / f"{name}-load.json", rounds=1, window_s=args.profile_s, prime_s=0)
    return profile.finish_recording(recordings, timeout_s=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=8, help="concurrent streams (the preset's maxNumSeqs)")
    parser.add_argument("--window-s", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=5, help="windows per target")
    parser.add_argument("--warmup-s", type=float, default=3, help="start of each window left out")
    parser.add_argument("--prime-s", type=float, default=10, help="unrecorded first window per target")
    parser.add_argument("--max-tokens", type=int, default=64)
    # loadtest's long prompts (up to 670 tokens) do not fit the preset's maxModelLen of 512.
    parser.add_argument("--prompt-mix", default="short=0.6,medium=0.4")
    add_variant_options(parser)
    parser.add_argument("--profile", action="store_true", help="then py-spy each server under the same load")
    parser.add_argument("--profile-s", type=float, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-wait-s", type=float, default=1200, help="give up waiting for a quiet machine")
    parser.add_argument("--state-dir", type=Path, default=Path("/tmp/bench-full"))
    parser.add_argument("--out-dir", type=Path, default=report.RESULTS_DIR)
    args = parser.parse_args(argv)
    name, local_env = variant(args, "full-path")

    with contextlib.ExitStack() as stack:
        vllm = stack.enter_context(standalone_vllm(VLLM_PORT, args.state_dir / "vllm"))
        started = time.monotonic()
        run = stack.enter_context(chart_local_run(args.state_dir / "local", local_env, attach=args.attach))
        # Start to ready (the local run: every application RUNNING), each on a machine the other idles on.
        start_s = {
            LOCAL: None if args.attach else round(time.monotonic() - started, 1),
            VLLM: round(vllm.start_s, 1),
        }
        listeners = off_loopback(vllm.processes() + run.processes())
        wait = report.wait_for_quiet(timeout_s=args.max_wait_s)
        targets = {LOCAL: run.base_url, VLLM: vllm.base_url}
        samples = run_load(
            targets, args, args.state_dir / "samples.json",
            rounds=args.rounds, window_s=args.window_s, prime_s=args.prime_s,
        )  # fmt: skip
        load_after = report.load_average()
        profiles = {}
        if args.profile:
            replica = process_named(run, f"ServeReplica:llm:{llm_deployment_name(MODEL)}")
            api_server = vllm.processes()[0]
            pids = {
                LOCAL: {
                    "proxy": process_named(run, "ProxyActor").pid,
                    "gateway": process_named(run, "ServeReplica:llm:OpenAiGateway").pid,
                    "llm-server": replica.pid,
                    "engine-core": engine_core(replica).pid,
                },
                VLLM: {"api-server": api_server.pid, "engine-core": engine_core(api_server).pid},
            }
            profile_dir = args.out_dir / "profiles" / name
            profiles = {t: profile_under_load(t, targets[t], pids[t], args, profile_dir) for t in targets}

    windows = window_metrics(samples, args.warmup_s)
    analysis = compare(windows, LOCAL, VLLM)
    per = analysis["servers"]
    targets_checked = [
        Target("throughput local run / vLLM (median windows)", analysis["throughput_ratio"],
               THROUGHPUT_RATIO_TARGET, "min", "x"),
        Target("TTFT p50 added", analysis["ttft_added_ms"].get("p50"),
               TTFT_P50_ADDED_TARGET_MS, "max", " ms"),
    ]  # fmt: skip
    print(f"\nfull path vs standalone vLLM ({args.users} streams, {args.max_tokens} tokens, {args.rounds} x "
          f"{args.window_s:.0f} s windows per target)")  # fmt: skip
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
            "settings": {**{k: v for k, v in vars(args).items() if k not in ("state_dir", "out_dir")},
                         "preset": "values/local-cpu.yaml", "vllm_command": vllm.command},
            "start_s": start_s,
            "non_loopback_listeners": listeners,
            **analysis,
            "windows": [{k: v for k, v in w.items() if k not in ("ttft_ms", "itl_ms")} for w in windows],
            "profiles": profiles,
            "targets": [t.as_dict() for t in targets_checked],
        },
        wait=wait,
        load_after=load_after,
        out_dir=args.out_dir,
    )  # fmt: skip
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
