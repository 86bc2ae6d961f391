"""The project's Locust chat user (loadtest/chat.py) at a fixed concurrency, alternated between targets.

    python -m bench.locust_windows --target a=http://127.0.0.1:47000 --target b=http://... \\
        --users 8 --window-s 20 --rounds 5 --out samples.json -- --max-tokens 64 --ignore-eos

Locust runs in this process as a library, so one process alternates short windows A/B/A/B (each
round in a shuffled order) and every sample keeps its exact value: a listener on Locust's request
event records each request's POST row and the TTFT/ITL/TOKENS/S rows ChatUser fires. A window
starts all users at once and, after `--window-s`, stops them gracefully (each finishes its request).
A priming window per target comes first and is not recorded. Options after `--` are ChatUser's own
(`locust -f loadtest/chat.py --help`). Its own process: importing Locust monkey-patches it with gevent.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import gevent
from locust import events  # before any network library: Locust monkey-patches the process on import
from locust.argument_parser import parse_options
from locust.env import Environment

from bench.stats import interleaved
from bench.windows import COLUMNS
from loadtest.chat import ChatUser


def run_window(host: str, options, users: int, window_s: float) -> dict:
    environment = Environment(
        user_classes=[ChatUser], events=events, host=host, parsed_options=options,
        stop_timeout=options.request_timeout,
    )  # fmt: skip
    runner = environment.create_local_runner()
    start = time.perf_counter()
    runner.start(users, spawn_rate=users)
    gevent.sleep(window_s)
    end = time.perf_counter()
    runner.stop()
    drained = time.perf_counter()
    runner.quit()
    return {"start": start, "end": end, "drained": drained}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    own, chat_args = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", action="append", required=True, help="name=base URL (repeatable)")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--window-s", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--prime-s", type=float, default=10, help="unrecorded first window per target")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(own)
    targets = dict(t.split("=", 1) for t in args.target)
    options = parse_options(args=chat_args)

    rows: list[list] = []
    current: dict = {"window": None}

    @events.request.add_listener
    def record(request_type, response_time, response_length, exception, **_kwargs) -> None:
        if current["window"] is not None:
            error = None if exception is None else f"{type(exception).__name__}: {exception}"[:300]
            rows.append(
                [current["window"], request_type, response_time, response_length, error, time.perf_counter()]
            )

    for url in targets.values() if args.prime_s > 0 else ():
        run_window(url, options, args.users, args.prime_s)
    windows = []
    for index, name in enumerate(interleaved(list(targets), args.rounds, random.Random(args.seed))):
        current["window"] = index
        windows.append(
            {"index": index, "target": name, **run_window(targets[name], options, args.users, args.window_s)}
        )
        current["window"] = None
        print(
            f"window {index} {name}: {sum(r[0] == index for r in rows)} events", file=sys.stderr, flush=True
        )

    args.out.write_text(
        json.dumps({"targets": targets, "users": args.users, "window_s": args.window_s, "windows": windows,
                    "columns": COLUMNS, "rows": rows, "chat_options": chat_args}) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
