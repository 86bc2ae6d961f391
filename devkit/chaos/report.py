"""The chaos report: one JSON file with every request, and a Markdown table with one row per fault."""

from __future__ import annotations

import json
from pathlib import Path

COLUMNS = (
    ("fault", "fault"),
    ("requests", "requests"),
    ("ok", "ok"),
    ("clean", "clean errors"),
    ("dirty", "dirty failures"),
    ("hung", "hung"),
    ("replica_ended_s", "replica ended after (s)"),
    ("recovered_s", "answers again after (s)"),
    ("other_model_errors", "other-model errors"),
    ("alerts", "alerts fired → resolved (s after the fault)"),
)


# What a head restart measures (devkit.chaos.head), seconds from the kill.
HEAD_COLUMNS = (
    ("fault", "fault"),
    ("restarted_after_s", "head restarted at (s)"),
    ("head_starts", "starts it took"),
    ("gcs_back_s", "GCS answers at (s)"),
    ("serve_state_recovered", "Serve state recovered"),
    ("workers_restarted", "worker nodes restarted"),
    ("apps_running_s", "applications RUNNING at (s)"),
    ("config_change_applied", "config change after recovery applied"),
    ("longest_gap_s", "longest time without an answer (s)"),
)


def _cell(value: object) -> str:
    if isinstance(value, dict):  # alerts
        spans = [
            f"{name} {s['firing_after_s']} → {_cell(s['resolved_after_s'])}" for name, s in value.items()
        ]
        return ", ".join(spans) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value) or "none"
    return "not within the window" if value is None else str(value)


def _table(columns: tuple[tuple[str, str], ...], rows: list[dict]) -> list[str]:
    return [
        "| " + " | ".join(label for _, label in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
        *("| " + " | ".join(_cell(row.get(key, "-")) for key, _ in columns) + " |" for row in rows),
    ]


def markdown(summaries: list[dict], title: str = "Faults under load") -> str:
    lines = [f"## {title}", "", *_table(COLUMNS, summaries)]
    restarts = [
        {"fault": s["fault"], "longest_gap_s": s.get("longest_gap_s"), **s["measured"]}
        for s in summaries
        if s.get("measured")
    ]
    if restarts:
        lines += ["", "Head restarts (seconds after the kill):", "", *_table(HEAD_COLUMNS, restarts)]
    notes = [f"- {s['fault']}: {s['note']}" for s in summaries if s.get("note")]
    notes += [
        f"- {s['fault']}: {s['measured']['error']}" for s in summaries if "error" in s.get("measured", {})
    ]
    return "\n".join(lines + (["", *notes] if notes else [])) + "\n"


def write(out_dir: Path, results: list[dict], meta: dict) -> tuple[Path, Path]:
    """`chaos.json` (meta + every request of every fault) and `chaos.md` (the table)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "chaos.json", out_dir / "chaos.md"
    json_path.write_text(json.dumps({"meta": meta, "faults": results}, indent=1) + "\n")
    summaries = [{k: v for k, v in r.items() if k not in ("attempts", "by_model")} for r in results]
    md_path.write_text(markdown(summaries))
    return json_path, md_path
