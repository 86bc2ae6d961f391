"""`make bench`: the serving overhead and the harness speed, each benchmark in a process of its own.

    python -m bench                                         # all: harness, hop, full path, batch, cold start
    python -m bench --only gateway-hop --profile            # one, with py-spy profiles under load
    python -m bench --quick                                 # a fast run of everything: plumbing only
    python -m bench --attach                                # measure the running `make serve` where it can
    python -m bench --attach-standalone DIR                 # full-path's vLLM: a running standalone run

Each benchmark waits (at most --max-wait-s) until other processes take less than 10% of the CPU,
records how much they took while it measured (quiet: at most 10%), prints its tables and writes
bench/results/<name>.json with the machine it ran on; this command ends with every benchmark target
and whether it was met. Targets are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from bench.report import RESULTS_DIR
from bench.stats import targets_table
from bench.summary import targets_of
from devkit import REPO

# Benchmark → (result name, module argv, takes --profile, can measure a running `make serve`).
BENCHMARKS = {
    "harness": [("harness", ["bench.harness"], True, False)],
    "gateway-hop": [
        ("gateway-hop-zero-work", ["bench.gateway_hop", "--backend", "zero-work"], True, False),
        ("gateway-hop-tiny-vllm", ["bench.gateway_hop", "--backend", "tiny-vllm"], True, True),
    ],
    "full-path": [("full-path", ["bench.full_path"], True, True)],
    "batch-interference": [("batch-interference", ["bench.batch_interference"], False, True)],
    "cold-start": [("cold-start", ["bench.cold_start"], False, True)],
}
QUICK = {
    "bench.cold_start": ["--rounds", "1"],
    "bench.harness": ["--runs", "3", "--cold-runs", "1"],
    "bench.gateway_hop": ["--rounds", "1", "--warmup", "2", "--latency-requests", "10", "--profile-s", "5"],
    "bench.full_path": ["--rounds", "1", "--num-prompts", "16", "--warmup-prompts", "0", "--profile-s", "5"],
    "bench.batch_interference": [
        "--rounds",
        "1",
        "--batch-lines",
        "40",
        "--num-prompts",
        "6",
        "--warmup-prompts",
        "0",
    ],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="repeatable; default all")
    parser.add_argument("--profile", action="store_true", help="py-spy the serving processes under load")
    parser.add_argument("--quick", action="store_true", help="tiny counts: plumbing, not numbers")
    parser.add_argument("--max-wait-s", type=float, default=1200, help="longest wait for a quiet machine")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--attach", action="store_true",
        help="gateway-hop-tiny-vllm, full-path and batch-interference measure the running `make serve` "
        "(left running) instead of a local run of their own; zero-work always starts its own (its engine "
        "is not vLLM)",
    )  # fmt: skip
    parser.add_argument(
        "--attach-standalone", type=Path, metavar="STATE_DIR",
        help="full-path measures the standalone run up in STATE_DIR (`make serve MODE=standalone` with "
        "RAY_VLLM_STATE_DIR=STATE_DIR; its API key, if any, in OPENAI_API_KEY) instead of starting one",
    )  # fmt: skip
    args = parser.parse_args(argv)

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    failed, results = [], {}
    for benchmark in args.only or list(BENCHMARKS):
        for name, (module, *module_args), profiles, attaches in BENCHMARKS[benchmark]:
            extra = ["--max-wait-s", str(args.max_wait_s), "--out-dir", str(args.out_dir)]
            extra += ["--profile"] if args.profile and profiles else []
            extra += ["--attach"] if args.attach and attaches else []
            if args.attach_standalone and module == "bench.full_path":
                extra += ["--attach-standalone", str(args.attach_standalone)]
            extra += QUICK[module] if args.quick else []
            print(f"\n=== {name} ===", flush=True)
            proc = subprocess.run([sys.executable, "-m", module, *module_args, *extra], cwd=REPO, env=env)
            if proc.returncode != 0:
                failed.append(name)
                continue
            results[name] = json.loads((args.out_dir / f"{name}.json").read_text())

    print("\n=== targets ===\n" + targets_table(targets_of(results)))
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
