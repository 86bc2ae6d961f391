"""Run a batch through the OpenAI Files and Batches API of a running gateway and check every line.

    python tools/batch_check.py --lines 1000          # against `make serve` (http://127.0.0.1:8000/v1)

Every --unknown-every-th line names a model no one serves: the output file must hold the others and
the error file those, each in input order, with the counts to match. Prints a JSON summary; exits 1
when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import openai

from devkit.batch_check import run_batch_check


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--model", default="chat", help="model, alias, size tier or canary of the lines")
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--unknown-every", type=int, default=100, help="0: no line names an unknown model")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--timeout-s", type=float, default=1800)
    args = parser.parse_args()
    client = openai.OpenAI(
        base_url=args.base_url, api_key=os.environ.get("OPENAI_API_KEY", "none"), max_retries=0
    )
    check = run_batch_check(
        client, args.model, args.lines, args.unknown_every, args.max_tokens, args.timeout_s
    )
    print(json.dumps(check.summary(), indent=2))
    return 0 if check.ok else 1


if __name__ == "__main__":
    sys.exit(main())
