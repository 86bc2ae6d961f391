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
    ("recovered_s", "answers again after (s)"),
    ("other_model_errors", "other-model errors"),
    ("alerts", "alerts fired → resolved (s after the fault)"),
)


def _cell(value: object) -> str:
    if isinstance(value, dict):  # alerts
        spans = [
            f"{name} {s['firing_after_s']} → {_cell(s['resolved_after_s'])}" for name, s in value.items()
        ]
        return ", ".join(spans) or "none"
    return "not within the window" if value is None else str(value)


def markdown(summaries: list[dict], title: str = "Faults under load") -> str:
    lines = [
        f"## {title}",
        "",
        "| " + " | ".join(label for _, label in COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(_cell(s.get(key)) for key, _ in COLUMNS) + " |" for s in summaries]
    notes = [f"- {s['fault']}: {s['note']}" for s in summaries if s.get("note")]
    return "\n".join(lines + (["", *notes] if notes else [])) + "\n"


def write(out_dir: Path, results: list[dict], meta: dict) -> tuple[Path, Path]:
    """`chaos.json` (meta + every request of every fault) and `chaos.md` (the table)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "chaos.json", out_dir / "chaos.md"
    json_path.write_text(json.dumps({"meta": meta, "faults": results}, indent=1) + "\n")
    summaries = [{k: v for k, v in r.items() if k not in ("attempts", "by_model")} for r in results]
    md_path.write_text(markdown(summaries))
    return json_path, md_path
