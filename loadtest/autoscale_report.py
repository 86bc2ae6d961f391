"""Autoscaling checker output: timeline plot (PNG, and an HTML page with the plot as SVG), the
per-second samples as CSV, and the JSON summary with reaction times and checks."""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from loadtest.autoscale_analysis import Reaction, Sample
from loadtest.step_plan import DROP, STEP

PHASE_COLOURS = {STEP: "#fde7c8", DROP: "#dcecf9"}
EVENT_COLOURS = {"target": "#d9822b", "running": "#2e8b57"}


def plot_timeline(
    samples: list[Sample], reactions: list[Reaction], phase_starts: dict[str, float], title: str
):
    t = [s.t for s in samples]
    fig, (load_ax, latency_ax, replica_ax) = plt.subplots(
        3, 1, sharex=True, figsize=(12, 9), constrained_layout=True
    )
    fig.suptitle(title)

    load_ax.step(t, [s.users for s in samples], where="post", color="black", label="users")
    load_ax.set_ylabel("users")
    rps_ax = load_ax.twinx()
    rps_ax.plot(t, [s.rps for s in samples], color="#1f77b4", label="requests/s")
    failed = [(s.t, s.failures_per_s) for s in samples if s.failures_per_s > 0]
    if failed:
        rps_ax.scatter(*zip(*failed, strict=True), color="red", marker="x", label="failures/s", zorder=3)
    rps_ax.set_ylabel("requests/s")
    _legend(load_ax, rps_ax)

    for name, style in (("ttft_p50_ms", ":"), ("ttft_p95_ms", "-"), ("e2e_p50_ms", ":"), ("e2e_p95_ms", "-")):
        colour = "#9467bd" if name.startswith("ttft") else "#8c564b"
        latency_ax.plot(
            t, [getattr(s, name) for s in samples], style, color=colour, label=name.replace("_ms", "")
        )
    latency_ax.set_ylabel("latency (ms)")
    latency_ax.legend(loc="upper left", fontsize="small", ncols=4)

    for index, reaction in enumerate(reactions):
        colour = f"C{index}"
        key = reaction.deployment
        # Replica counts at the time their status fetch observed them, like the scale events.
        observed = [
            (s.status_t, s.replicas[key]) for s in samples if s.status_t is not None and key in s.replicas
        ]
        for field, style, label in (("running", "-", "running"), ("target", "--", "target")):
            replica_ax.step(
                [when for when, _ in observed],
                [getattr(counts, field) for _, counts in observed],
                style,
                where="post",
                color=colour,
                label=f"{key} {label}",
            )
        healthy = [s.metrics.get(key, {}).get("healthy_replicas") for s in samples]
        if any(v is not None for v in healthy):
            replica_ax.plot(t, healthy, ":", color=colour, alpha=0.7, label=f"{key} healthy (Prometheus)")
        for event in reaction.events:
            replica_ax.axvline(event.t, color=EVENT_COLOURS[event.kind], linestyle="--", linewidth=0.8)
            replica_ax.annotate(
                f"{event.kind} {event.before}→{event.after}",
                (event.t, event.after),
                xytext=(2, 4),
                textcoords="offset points",
                rotation=90,
                fontsize="x-small",
                color=EVENT_COLOURS[event.kind],
            )
    replica_ax.set_ylabel("replicas")
    replica_ax.set_xlabel("seconds since the load started")
    replica_ax.yaxis.get_major_locator().set_params(integer=True)
    # What the autoscaler decided on: its averaged ongoing requests (0 when replicas' reports are late).
    ongoing_ax = replica_ax.twinx()
    for index, reaction in enumerate(reactions):
        ongoing = [s.metrics.get(reaction.deployment, {}).get("autoscaler_requests") for s in samples]
        if any(v is not None for v in ongoing):
            ongoing_ax.plot(
                t, ongoing, "-", color=f"C{index}", alpha=0.3, label="ongoing requests (autoscaler)"
            )
    ongoing_ax.set_ylabel("ongoing requests")
    ongoing_ax.set_ylim(bottom=0)
    _legend(replica_ax, ongoing_ax)

    end = t[-1] if t else 0.0
    for name, colour in PHASE_COLOURS.items():
        if name in phase_starts:
            later = [v for v in phase_starts.values() if v > phase_starts[name]]
            for ax in (load_ax, latency_ax, replica_ax):
                ax.axvspan(phase_starts[name], min(later, default=end), color=colour, alpha=0.6, zorder=0)
    return fig


def _legend(*axes) -> None:
    handles, labels = [], []
    for ax in axes:
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
    axes[0].legend(handles, labels, loc="upper left", fontsize="small")


def write_csv(samples: list[Sample], path: Path) -> None:
    keys = sorted({key for s in samples for key in s.replicas})
    columns = [
        "t",
        "phase",
        "users",
        "rps",
        "failures_per_s",
        "ttft_p50_ms",
        "ttft_p95_ms",
        "e2e_p50_ms",
        "e2e_p95_ms",
    ]
    fields = ["target", "running", "starting", "stopping", "status"]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns + [f"{key} {field}" for key in keys for field in fields])
        for s in samples:
            row = [getattr(s, c) for c in columns]
            for key in keys:
                replicas = s.replicas.get(key)
                row += [getattr(replicas, field) if replicas else "" for field in fields]
            writer.writerow(row)


def html_page(summary: dict, svg: str) -> str:
    def cell(value) -> str:
        return html.escape("" if value is None else str(value))

    checks = "\n".join(
        f"<tr class={'ok' if c['ok'] else 'fail'}><td>{'PASS' if c['ok'] else 'FAIL'}</td>"
        f"<td>{cell(c['deployment'])}</td><td>{cell(c['name'])}</td><td>{cell(c['detail'])}</td></tr>"
        for c in summary["checks"]
    )
    reactions = "\n".join(
        f"<tr><td>{cell(r['deployment'])}</td><td>{cell(r['expected'])}</td><td>{cell(r['upscale_decision_s'])}</td>"
        f"<td>{cell(r['replica_start_s'])}</td><td>{cell(r['scale_up_s'])}</td><td>{cell(r['downscale_decision_s'])}"
        f"</td><td>{cell(r['scale_down_s'])}</td></tr>"
        for r in summary["reactions"]
    )
    verdict = "PASS" if summary["passed"] else "FAIL"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Autoscaling check: {verdict}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}
.ok td:first-child{{color:#2e7d32}} .fail td:first-child{{color:#c62828;font-weight:bold}}
pre{{background:#f6f6f6;padding:1em;overflow:auto}}</style>
</head><body>
<h1>Autoscaling check: {verdict}</h1>
<p>Target {cell(summary["host"])}; status from {cell(json.dumps(summary["source"]))};
{cell(summary["load"]["requests"])} requests, {cell(summary["load"]["failures"])} failed;
{cell(round(summary["duration_s"], 1))} s of load.</p>
<h2>Checks</h2>
<table><tr><th></th><th>deployment</th><th>check</th><th>detail</th></tr>
{checks}
</table>
<h2>Reaction times (seconds)</h2>
<table><tr><th>deployment</th><th>expected replicas</th><th>scale-up decision after step</th>
<th>new replica start</th><th>scaled up after step</th><th>scale-down decision after drop</th>
<th>back to min after drop</th></tr>
{reactions}
</table>
<h2>Timeline</h2>
{svg}
<h2>Summary</h2>
<pre>{cell(json.dumps(summary, indent=2))}</pre>
</body></html>
"""


def write_report(
    out: Path, summary: dict, samples: list[Sample], reactions: list[Reaction]
) -> dict[str, str]:
    """Write every output file; returns their paths by kind."""
    out.mkdir(parents=True, exist_ok=True)
    names = {"png": "timeline.png", "html": "timeline.html", "csv": "timeline.csv", "json": "summary.json"}
    paths = {kind: out / name for kind, name in names.items()}
    verdict = "PASS" if summary["passed"] else "FAIL"
    fig = plot_timeline(samples, reactions, summary["phase_starts"], f"Autoscaling check: {verdict}")
    fig.savefig(paths["png"], dpi=110)
    svg = io.StringIO()
    fig.savefig(svg, format="svg")
    plt.close(fig)
    summary = {**summary, "files": {kind: str(path) for kind, path in paths.items()}}
    paths["html"].write_text(html_page(summary, svg.getvalue()), encoding="utf-8")
    write_csv(samples, paths["csv"])
    paths["json"].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary["files"]
