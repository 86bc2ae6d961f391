"""`tools/chaos.py` (`make chaos`): faults of the local run under load, each request judged.

For each group of faults that share values: start the local run (values/local-cpu.yaml, plus
values/local-cpu-chaos.yaml for the gateway fault, values/local-cpu-nodes.yaml for the node faults,
values/local-cpu-gcs-ft.yaml for the head faults, the contrast without Redis by --set)
and a Prometheus with the chart's PodMonitor and alert rules over it, run each fault under bounded
load, wait for the `llm` application to be RUNNING again and for no alert to fire, stop both.
Writes out/chaos/chaos.json and chaos.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from devkit import REPO
from devkit.chaos import report
from devkit.chaos.alerts import watching_alerts
from devkit.chaos.harness import FAULTS, Fault, Plan, run_fault
from devkit.local_ray import Ports
from devkit.local_run import LocalRun

BASE_VALUES = "values/local-cpu.yaml"
# The RAG app and the Batcher play no part in these faults; off, they leave the cores to the models.
SET_ALWAYS = ("rag.enabled=false", "batch.enabled=false")
RECOVERY_TIMEOUT_S = 900
ALERTS_QUIET_TIMEOUT_S = 180  # Ray drops a dead replica's gauges ~20 s after its last update


def values_for(fault: Fault) -> tuple[str, ...]:
    return (BASE_VALUES, fault.overlay) if fault.overlay else (BASE_VALUES,)


def groups(names: list[str]) -> dict[tuple[tuple[str, ...], tuple[str, ...]], list[Fault]]:
    """Faults by the values files and --set values their run needs, in the order given: one local
    run per group."""
    grouped: dict[tuple[tuple[str, ...], tuple[str, ...]], list[Fault]] = {}
    for name in names:
        fault = FAULTS[name]
        grouped.setdefault((values_for(fault), fault.set_values), []).append(fault)
    return grouped


def wait_all_replicas(run: LocalRun, app: str, timeout_s: float) -> None:
    """Until every deployment of `app` runs its target number of replicas, all RUNNING."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        deployments = run.ray.applications().get(app, {}).get("deployments", {})
        if deployments and all(
            [r["state"] for r in d["replicas"]] == ["RUNNING"] * d["target_num_replicas"]
            for d in deployments.values()
        ):
            return
        time.sleep(2)
    raise TimeoutError(f"{app}: not every replica RUNNING after {timeout_s:.0f} s")


def run_group(
    values: tuple[str, ...], faults: list[Fault], set_values: tuple[str, ...], plan: Plan
) -> list[dict]:
    """One local run: start, each fault, stop (always)."""
    results = []
    with tempfile.TemporaryDirectory(prefix="chaos-") as state:
        run = LocalRun(Ports.free(), Path(state), values_files=values, set_values=(*SET_ALWAYS, *set_values))
        print(f"starting the local run: {' + '.join(values)} {' '.join(set_values)}", flush=True)
        try:
            run.start()
            with watching_alerts(run, Path(state) / "prometheus") as watch:
                for fault in faults:
                    url = fault.load_url(run.ray) if fault.load_url else run.base_url
                    result = asyncio.run(run_fault(run.ray, url, fault, plan))
                    # The next fault starts from a healthy application, every replica replaced, and no
                    # alert firing: Serve calls an application RUNNING while a migrated replica starts.
                    run.ray.wait_running({"llm"}, timeout_s=RECOVERY_TIMEOUT_S)
                    wait_all_replicas(run, "llm", RECOVERY_TIMEOUT_S)
                    watch.wait_quiet(ALERTS_QUIET_TIMEOUT_S)
                    result.alerts = watch.since(result.injected_at) if result.injected_at else {}
                    results.append(result.to_json())
                    print(json.dumps(result.summary()), flush=True)
        finally:
            run.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--fault", action="append", choices=sorted(FAULTS), help="a fault to run (repeatable; default: all)"
    )
    parser.add_argument("--set", action="append", default=[], dest="set_values", help="a=b for every run")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "chaos", help="report directory")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--idle-bound", type=float, default=90.0, help="seconds without a byte = hung")
    args = parser.parse_args(argv)
    names = args.fault or list(FAULTS)
    plan = Plan()
    plan = Plan(bounds=type(plan.bounds)(max_tokens=args.max_tokens, idle_bound_s=args.idle_bound))
    results: list[dict] = []
    try:
        for (values, fault_sets), faults in groups(names).items():
            results += run_group(values, faults, (*fault_sets, *args.set_values), plan)
    finally:
        meta = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "set": args.set_values, "faults": names}
        json_path, md_path = report.write(args.out, results, meta)
        print(md_path.read_text(), f"\nwrote {json_path} and {md_path}", sep="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
