"""Interactive latency while a batch runs: streamed chat TTFT on a model alone, and while a batch of
`--batch-lines` chat lines runs on the same model through the gateway's Batch API.

    python -m bench.batch_interference [--batch-lines 1000] [--rounds 3] [--attach]

The local run (values/local-cpu.yaml with its Batcher, the storage in the state directory) serves
both. The interactive load is vLLM's benchmark client (bench/vllm_client.py: `--request-rate` new
streams a second, at most `--concurrency` at once, `--num-prompts` per run). Each round runs it once
alone and once while a batch runs, in a shuffled order; the batch is created first and seen answering
lines before the load starts, and cancelled after it. Target: TTFT p95 with the batch at most 1.2x
the p95 alone (medians over the rounds). The lines the batch answered during each loaded run are
reported too: a batch that gave way by not running at all would meet the target as well.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import statistics
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import yaml
from openai.types import Batch

from bench import report, vllm_client
from bench.local_run import MODEL, PRESET, chart_local_run
from bench.stats import Target, interleaved, ratio, table, targets_table
from devkit import REPO
from devkit.batches import wait_batch
from devkit.loopback import off_loopback

NAME = "batch-interference"
ALONE, WITH_BATCH = "alone", "with-batch"
CHAT = "/v1/chat/completions"
TTFT_P95_RATIO_TARGET = 1.2


def tokenizer_path() -> Path:
    """The preset's first model's folder (a `./` path against the checkout, as `make serve` reads it)."""
    (model, *_) = yaml.safe_load((REPO / PRESET).read_text())["models"]
    return REPO / model["source"]


def batch_file(lines: int, max_tokens: int) -> bytes:
    rows = [
        {
            "custom_id": f"line-{i}",
            "method": "POST",
            "url": CHAT,
            "body": {
                "model": MODEL,
                "max_tokens": max_tokens,
                "ignore_eos": True,
                "messages": [{"role": "user", "content": f"Write about the number {i}."}],
            },
        }
        for i in range(lines)
    ]
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def answered(batch) -> int:
    counts = batch.request_counts
    return counts.completed + counts.failed if counts else 0


@contextlib.contextmanager
def running_batch(client: openai.OpenAI, content: bytes, timeout_s: float) -> Iterator[Callable[[], Batch]]:
    """A batch of `content` that has answered at least one line; yields a reading of the batch. On exit
    it is cancelled (if still running) and waited for, and its files deleted."""
    upload = client.files.create(file=("interference.jsonl", io.BytesIO(content)), purpose="batch")
    batch = client.batches.create(input_file_id=upload.id, endpoint=CHAT, completion_window="24h")
    try:
        wait_batch(client, batch.id, timeout_s, until=lambda found: answered(found) >= 1)
        yield lambda: client.batches.retrieve(batch.id)
    finally:
        with contextlib.suppress(openai.ConflictError):  # it finished meanwhile
            client.batches.cancel(batch.id)
        found = wait_batch(client, batch.id, timeout_s)
        for file_id in (upload.id, found.output_file_id, found.error_file_id):
            if file_id:
                client.files.delete(file_id)


def section(name: str, result: dict) -> str:
    """The result as the README shows it (bench/summary.py)."""
    s, runs = result["settings"], result["runs"]
    rows = [
        (
            arm,
            sum(r["completed"] for r in runs if r["arm"] == arm),
            sum(r["failed"] for r in runs if r["arm"] == arm),
            median_of(runs, arm, "median_ttft_ms"),
            result["ttft_p95_ms"][arm],
            median_of(runs, arm, "p99_ttft_ms"),
            median_of(runs, arm, "median_itl_ms"),
            median_of(runs, arm, "batch_lines_per_s"),
            throughout(runs, arm),
            f"{max(r['client_cpu_share'] for r in runs if r['arm'] == arm):.0%}",
        )
        for arm in (ALONE, WITH_BATCH)
    ]
    headers = ["arm", "requests", "failed", "TTFT p50 ms", "TTFT p95 ms", "TTFT p99 ms", "ITL p50 ms",
               "batch lines/s", "batch ran throughout", "client CPU"]  # fmt: skip
    return "\n".join(
        [
            f"**{name}** (vLLM's benchmark client: streamed chat at {s['request_rate']}/s, at most "
            f"{s['concurrency']} at once, {s['input_len']} → {s['max_tokens']} tokens, {s['rounds']} × "
            f"{s['num_prompts']} requests per arm; alone, and beside a {s['batch_lines']}-line batch of "
            f"{s['batch_max_tokens']}-token chat lines on the same model; medians of the runs; "
            f"{report.load_line(result)})",
            "",
            table(headers, rows),
        ]
    )


def throughout(runs: list[dict], arm: str) -> str:
    """Whether the batch was still running when each load run of `arm` ended ("-": no batch)."""
    flags = [
        run["batch_ran_throughout"] for run in runs if run["arm"] == arm and "batch_ran_throughout" in run
    ]
    return "-" if not flags else "yes" if all(flags) else f"{sum(flags)} of {len(flags)} runs"


def median_of(runs: list[dict], arm: str, key: str) -> float | None:
    values = [run[key] for run in runs if run["arm"] == arm and run.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--batch-lines", type=int, default=1000, help="lines of the batch that runs meanwhile"
    )
    parser.add_argument(
        "--batch-max-tokens",
        type=int,
        default=256,
        help="tokens per batch line (ignore_eos): the batch must outlast the load",
    )
    parser.add_argument("--num-prompts", type=int, default=60, help="interactive requests per recorded run")
    parser.add_argument(
        "--warmup-prompts", type=int, default=8, help="requests of an unrecorded first run; 0: none"
    )
    parser.add_argument("--request-rate", type=float, default=2.0, help="new interactive requests a second")
    parser.add_argument("--concurrency", type=int, default=4, help="interactive requests at once, at most")
    parser.add_argument("--input-len", type=int, default=48, help="prompt tokens (random prompts)")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens generated per interactive request")
    parser.add_argument("--rounds", type=int, default=3, help="recorded runs per arm")
    parser.add_argument("--batch-timeout-s", type=float, default=300, help="bound of a batch's start and end")
    parser.add_argument(
        "--attach", action="store_true",
        help="measure the running `make serve` (its Batcher on) instead of a local run of its own",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-wait-s", type=float, default=1200, help="give up waiting for a quiet machine")
    parser.add_argument("--state-dir", type=Path, default=Path("/tmp/bench-batch"))
    parser.add_argument("--out-dir", type=Path, default=report.RESULTS_DIR)
    args = parser.parse_args(argv)
    tokenizer, content = tokenizer_path(), batch_file(args.batch_lines, args.batch_max_tokens)
    runs_dir = args.state_dir / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)

    def load(url: str, out: Path, num_prompts: int, seed: int) -> dict:
        return vllm_load.run(
            url, out, model=MODEL, tokenizer=tokenizer, input_len=args.input_len, max_tokens=args.max_tokens,
            num_prompts=num_prompts, concurrency=args.concurrency, seed=seed, percentiles="50,95,99",
            request_rate=args.request_rate,
        )  # fmt: skip

    with (
        vllm_client.Client() as vllm_load,
        chart_local_run(args.state_dir / "local", {}, attach=args.attach, batch=True) as run,
    ):
        client = openai.OpenAI(base_url=f"{run.base_url}/v1", api_key="none", max_retries=0)
        listeners = off_loopback(run.processes())
        with report.measuring(run.processes, args.max_wait_s) as conditions:
            if args.warmup_prompts:
                load(run.base_url, runs_dir / "warmup.json", args.warmup_prompts, args.seed)
            runs = []
            order = interleaved([ALONE, WITH_BATCH], args.rounds, random.Random(args.seed))
            for index, arm in enumerate(order):
                number, out = index // 2, runs_dir / f"run-{index}.json"
                if arm == ALONE:
                    result = load(run.base_url, out, args.num_prompts, args.seed)
                    runs.append({"arm": arm, "round": number, **result})
                    continue
                with running_batch(client, content, args.batch_timeout_s) as read_batch:
                    before = answered(read_batch())
                    result = load(run.base_url, out, args.num_prompts, args.seed)
                    after = read_batch()
                during = answered(after) - before
                batch = {
                    "batch_lines_answered": during,
                    "batch_lines_per_s": round(during / result["duration"], 3),
                    # False: the batch ended before the load did, and the run measured less than claimed
                    "batch_ran_throughout": after.status == "in_progress",
                }
                runs.append({"arm": arm, "round": number, **result, **batch})

    p95 = {arm: median_of(runs, arm, "p95_ttft_ms") for arm in (ALONE, WITH_BATCH)}
    p95_ratio = ratio(p95[WITH_BATCH], p95[ALONE]) if None not in p95.values() else None
    targets = [
        Target("TTFT p95 with a batch / alone (median runs)", p95_ratio, TTFT_P95_RATIO_TARGET, "max", "x")
    ]
    result = {
        "settings": {k: v for k, v in vars(args).items() if k not in ("state_dir", "out_dir")},
        "non_loopback_listeners": listeners,
        "ttft_p95_ms": p95,
        "ttft_p95_ratio": p95_ratio,
        "runs": runs,
        "targets": [t.as_dict() for t in targets],
    }
    path = report.write_result(NAME, result, conditions=conditions, out_dir=args.out_dir)
    print("\n" + section(NAME, json.loads(path.read_text())) + "\n\n" + targets_table(targets))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
