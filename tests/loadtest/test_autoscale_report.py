"""The checker's output files, written from a known timeline."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from loadtest.autoscale_analysis import Tolerances, check_reaction, measure
from loadtest.autoscale_report import write_report
from tests.loadtest.builders import AUTO, CLEAN, DROP_AT, KEY, STEP_AT, clean_starts, timeline

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def report(tmp_path, passed: bool = True) -> tuple[dict, list]:
    samples = timeline(CLEAN)
    reaction = measure(samples, clean_starts(), KEY, AUTO, 2, STEP_AT, DROP_AT)
    checks = check_reaction(reaction, graceful_shutdown_s=20.0, tol=Tolerances())
    summary = {
        "passed": passed,
        "host": "http://127.0.0.1:8000",
        "source": {"mode": "local"},
        "phase_starts": {"baseline": 0.0, "step": STEP_AT, "drop": DROP_AT},
        "duration_s": samples[-1].t,
        "checks": [vars(c) for c in checks],
        "reactions": [reaction.as_dict()],
        "load": {"requests": 120, "failures": 0},
    }
    return write_report(tmp_path / "out", summary, samples, [reaction]), samples


class TestWriteReport:
    def test_should_write_every_file_when_the_run_is_analysed(self, tmp_path):
        files, samples = report(tmp_path)
        assert set(files) == {"png", "html", "csv", "json"}
        png = (tmp_path / "out" / "timeline.png").read_bytes()
        assert png.startswith(PNG_MAGIC) and len(png) > 20_000
        with open(files["csv"], newline="") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == len(samples)
        assert rows[50][f"{KEY} running"] == "2" and rows[50]["phase"] == "step"

    def test_should_keep_reaction_times_and_file_paths_when_writing_the_summary(self, tmp_path):
        files, _ = report(tmp_path)
        summary = json.loads((tmp_path / "out" / "summary.json").read_text())
        assert summary["reactions"][0]["upscale_decision_s"] == 6.0
        assert summary["reactions"][0]["scale_down_s"] == 20.0
        assert summary["files"] == files

    def test_should_show_verdict_checks_and_plot_when_rendering_html(self, tmp_path):
        files, _ = report(tmp_path, passed=False)
        page = Path(files["html"]).read_text()
        assert "<h1>Autoscaling check: FAIL</h1>" in page
        assert "scale-up decided within upscale_delay_s + metrics lag" in page
        assert "<svg" in page and "target 1→2" in page
