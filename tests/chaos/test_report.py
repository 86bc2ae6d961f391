"""The chaos report's tables, its longest wait, and the grouping of faults into local runs (no Ray)."""

from __future__ import annotations

from devkit.chaos.classify import Attempt
from devkit.chaos.cli import groups
from devkit.chaos.harness import longest_gap
from devkit.chaos.report import markdown

HEAD_ROW = {
    "fault": "head-kill",
    "requests": 10,
    "ok": 10,
    "recovered_s": 0.4,
    "longest_gap_s": 2.5,
    "alerts": {},
    "measured": {
        "restarted_after_s": 10.0,
        "head_starts": 1,
        "gcs_back_s": 21.5,
        "serve_state_recovered": True,
        "apps_running_s": 40.2,
        "config_change_applied": True,
    },
}


class TestHeadTable:
    def test_should_add_the_head_restart_table_when_a_fault_measured_a_restart(self):
        text = markdown([HEAD_ROW])
        assert "| head-kill | 10.0 | 1 | 21.5 | yes | - | 40.2 | yes | 2.5 |" in text

    def test_should_name_the_restarted_workers_when_the_state_was_lost(self):
        lost = {
            "serve_state_recovered": False,
            "workers_restarted": ["gpu-0", "gpu-1"],
            "apps_running_s": 90.0,
        }
        text = markdown([{**HEAD_ROW, "fault": "head-kill-no-ft", "measured": lost}])
        assert "| head-kill-no-ft | - | - | - | no | gpu-0, gpu-1 | 90.0 | - | 2.5 |" in text

    def test_should_leave_the_head_table_out_when_no_fault_restarted_the_head(self):
        assert "Head restarts" not in markdown([{"fault": "replica-kill", "alerts": {}, "measured": {}}])

    def test_should_list_a_failed_recovery_when_the_restart_raised(self):
        failed = {**HEAD_ROW, "measured": {"error": "SystemExit: Ray rejected the serve config"}}
        assert "- head-kill: SystemExit: Ray rejected the serve config" in markdown([failed])


class TestGroups:
    def test_should_run_the_contrast_on_its_own_run_when_its_set_values_differ(self):
        grouped = groups(["head-kill", "head-kill-no-ft", "replica-kill"])
        assert [([f.name for f in faults], key[1]) for key, faults in grouped.items()] == [
            (["head-kill"], ()),
            (["head-kill-no-ft"], ("gcsFaultTolerance.enabled=false",)),
            (["replica-kill"], ()),
        ]


def ended(at: float, ok: bool = True, model: str = "tiny") -> Attempt:
    body = 'data: {"choices": [{"delta": {"content": "hi"}}]}\n\ndata: [DONE]\n\n' if ok else ""
    return Attempt(model=model, stream=True, started=at - 1, ended=at, status=200 if ok else 503, body=body)


class TestLongestGap:
    def test_should_measure_from_the_fault_to_the_next_answer_when_it_is_the_longest_wait(self):
        attempts = [ended(9.0), ended(12.0, ok=False), ended(30.0), ended(31.0), ended(31.5, model="tiny-b")]
        assert longest_gap(attempts, "tiny", since=10.0) == 20.0

    def test_should_measure_between_answers_when_the_outage_comes_later(self):
        attempts = [ended(11.0), ended(12.0), ended(50.0), ended(51.0)]
        assert longest_gap(attempts, "tiny", since=10.0) == 38.0

    def test_should_have_no_gap_when_nothing_was_answered_after_the_fault(self):
        assert longest_gap([ended(5.0), ended(20.0, ok=False)], "tiny", since=10.0) is None
