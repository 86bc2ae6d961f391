"""Render the chart like `helm template` and validate every object: `make render VALUES=values/x.yaml`.

    python tools/render.py -f values/g6e-multi-model.yaml [--set key=value]... [--kube-version 1.34]
    python tools/render.py -f values/g6e-multi-model.yaml --bench 50     # median render+validate time

Prints the manifests on stdout; exits 1 with Helm's or the validator's message when either refuses.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from devkit.helm import DEFAULT_KUBE_VERSION, HelmRenderError, render_chart
from devkit.schema import SchemaValidationError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-f", "--values", action="append", default=[], help="values file (repeatable; later wins)"
    )
    parser.add_argument(
        "--set", dest="set_values", action="append", default=[], help="key=value, like helm --set"
    )
    parser.add_argument("--kube-version", default=DEFAULT_KUBE_VERSION, help="Kubernetes version, e.g. 1.34")
    parser.add_argument("--release", default="llm", help="release name")
    parser.add_argument("--namespace", default="default", help="release namespace")
    parser.add_argument("--bench", type=int, metavar="N", help="render N times and print timings instead")
    args = parser.parse_args()

    def render():
        return render_chart(
            values_files=args.values,
            set_values=args.set_values,
            release=args.release,
            namespace=args.namespace,
            kube_version=args.kube_version,
        )

    try:
        rendered = render()
        if args.bench:
            print(_bench(render, args.bench))
        else:
            sys.stdout.write(rendered.text)
    except (HelmRenderError, SchemaValidationError) as exc:
        print(f"render failed ({', '.join(args.values) or 'chart defaults'}):\n{exc}", file=sys.stderr)
        return 1
    return 0


def _bench(render, runs: int) -> str:
    """Wall and CPU time (all threads) of render + validate in this process, after a warm-up render."""
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        render()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    wall.sort()
    return (
        f"render+validate x{runs}: wall median {statistics.median(wall):.1f} ms (p90 "
        f"{wall[int(0.9 * (runs - 1))]:.1f}, min {wall[0]:.1f}), cpu median {statistics.median(cpu):.1f} ms"
    )


if __name__ == "__main__":
    sys.exit(main())
