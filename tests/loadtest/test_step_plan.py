"""The step plan behind the load shape: phases by time, and phases ended early."""

from __future__ import annotations

import pytest

from loadtest.step_plan import BASELINE, DROP, STEP, Clock, StepPlan

PLAN = StepPlan(
    baseline_users=1, baseline_s=10, step_users=8, hold_s=60, drop_users=1, drop_s=30, spawn_rate=50
)


class TestStepPlan:
    @pytest.mark.parametrize(
        ("t", "phase", "users"),
        [
            (0, BASELINE, 1),
            (9.9, BASELINE, 1),
            (10, STEP, 8),
            (69.9, STEP, 8),
            (70, DROP, 1),
            (99.9, DROP, 1),
        ],
    )
    def test_should_run_the_phase_when_time_falls_in_it(self, t, phase, users):
        assert (PLAN.phase_at(t).name, PLAN.phase_at(t).users) == (phase, users)

    def test_should_end_when_time_is_past_the_plan(self):
        assert PLAN.total_s == 100
        assert PLAN.phase_at(100) is None

    def test_should_raise_when_the_step_is_not_above_baseline(self):
        with pytest.raises(ValueError, match="step users"):
            StepPlan(
                baseline_users=4, baseline_s=1, step_users=4, hold_s=1, drop_users=1, drop_s=1, spawn_rate=1
            )


class TestClock:
    def test_should_follow_the_plan_when_no_phase_is_ended(self):
        clock = Clock(PLAN)
        assert clock.tick(5) == (1, 50)
        assert clock.tick(15) == (8, 50)
        assert clock.started_at == {BASELINE: 0.0, STEP: 10.0}
        assert clock.tick(100) is None

    def test_should_jump_to_the_next_phase_when_the_current_one_ends(self):
        clock = Clock(PLAN)
        clock.tick(12)
        assert clock.end_phase(STEP, elapsed_s=25.0)
        assert clock.phase(25.0).name == DROP
        assert clock.started_at[DROP] == 25.0
        assert clock.phase(54.9).name == DROP  # the drop keeps its full 30 s
        assert clock.tick(55.0) is None

    def test_should_ignore_ending_a_phase_when_it_is_not_running(self):
        clock = Clock(PLAN)
        assert not clock.end_phase(DROP, elapsed_s=5.0)
        assert clock.phase(5.0).name == BASELINE

    def test_should_stop_when_the_last_phase_ends(self):
        clock = Clock(PLAN)
        clock.end_phase(STEP, elapsed_s=20.0)
        assert clock.end_phase(DROP, elapsed_s=30.0)
        assert clock.tick(30.0) is None
