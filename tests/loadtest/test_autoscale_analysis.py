"""Reaction times and checks of an autoscaling cycle, from hand-made timelines with known answers."""

from __future__ import annotations

import pytest

from loadtest.autoscale_analysis import (
    LoadTotals,
    ReplicaStarts,
    RequestWindow,
    Sample,
    Tolerances,
    check_load,
    check_reaction,
    expected_replicas,
    measure,
    percentile,
    scale_events,
)
from loadtest.llm_stats import E2E, TTFT
from loadtest.serve_status import parse_serve_applications
from loadtest.step_plan import BASELINE, DROP, STEP
from tests.loadtest.builders import (
    AUTO,
    CLEAN,
    DROP_AT,
    KEY,
    STEP_AT,
    T0,
    clean_starts,
    replicas,
    serve_doc,
    timeline,
)


class TestPercentile:
    def test_should_use_nearest_rank_when_values_are_given(self):
        assert (percentile([5, 1, 3, 2, 4], 0.5), percentile([5, 1, 3, 2, 4], 0.95)) == (3, 5)

    def test_should_return_none_when_there_are_no_values(self):
        assert percentile([], 0.5) is None


class TestExpectedReplicas:
    @pytest.mark.parametrize(("users", "expected"), [(1, 1), (3, 2), (4, 2), (40, 2)])
    def test_should_clamp_users_over_target_when_computing_the_count(self, users, expected):
        assert expected_replicas(AUTO, users) == expected


class TestScaleEvents:
    def test_should_list_target_and_running_changes_when_replicas_change(self):
        events = [(e.t, e.kind, e.before, e.after) for e in scale_events(timeline(CLEAN), KEY)]
        assert events == [
            (16.0, "target", 1, 2),
            (46.0, "running", 1, 2),
            (97.0, "target", 2, 1),
            (97.0, "running", 2, 1),
        ]


class TestReplicaStarts:
    def test_should_time_new_replicas_when_they_reach_running(self):
        assert clean_starts().of(KEY) == [(16.0, 46.0)]

    def test_should_ignore_replicas_when_they_existed_before_the_run(self):
        starts = ReplicaStarts(t0_wall=T0)
        starts.observe(T0, parse_serve_applications(serve_doc()), initial=True)
        starts.observe(T0 + 1, parse_serve_applications(serve_doc()))
        assert starts.of(KEY) == []


class TestMeasure:
    def test_should_measure_every_reaction_when_the_cycle_is_clean(self):
        r = measure(timeline(CLEAN), clean_starts(), KEY, AUTO, 2, STEP_AT, DROP_AT)
        assert (r.running_at_step, r.upscale_decision_s, r.replica_created_s, r.replica_start_s) == (
            1,
            6,
            [6],
            [30],
        )
        assert (r.scale_up_s, r.peak_running, r.dropped_while_loaded) == (36, 2, False)
        assert (r.downscale_decision_s, r.scale_down_s) == (17, 20)

    def test_should_take_the_decision_from_replica_creation_when_status_polls_lag(self):
        lagging = {**CLEAN, 16.0: replicas(1, 1), 19.0: replicas(2, 1, starting=1)}
        assert (
            measure(timeline(lagging), clean_starts(), KEY, AUTO, 2, STEP_AT, DROP_AT).upscale_decision_s == 6
        )

    def test_should_flag_a_dip_when_replicas_fall_during_the_hold(self):
        dip = {**CLEAN, 60.0: replicas(1, 1, stopping=1), 61.0: replicas(2, 2)}
        assert measure(timeline(dip), clean_starts(), KEY, AUTO, 2, STEP_AT, DROP_AT).dropped_while_loaded

    def test_should_record_a_flap_when_the_target_falls_during_the_step(self):
        flap = {
            0.0: replicas(1, 1),
            16.0: replicas(2, 1, starting=1),
            30.0: replicas(1, 1, stopping=1),
            34.0: replicas(2, 1, starting=1),
            64.0: replicas(2, 2),
            97.0: replicas(1, 1),
        }
        r = measure(timeline(flap), clean_starts(), KEY, AUTO, 2, STEP_AT, DROP_AT)
        assert r.downscaled_while_loaded_at == [20.0]

    def test_should_report_no_scale_up_when_replicas_never_rise(self):
        r = measure(timeline({0.0: replicas(1, 1)}), ReplicaStarts(T0), KEY, AUTO, 2, STEP_AT, DROP_AT)
        assert (r.upscale_decision_s, r.scale_up_s, r.peak_running) == (None, None, 1)


class TestCheckReaction:
    def checks(self, changes, starts=None, drop_at=DROP_AT, tol=None) -> dict[str, bool]:
        r = measure(timeline(changes), starts or clean_starts(), KEY, AUTO, 2, STEP_AT, drop_at)
        return {c.name: c.ok for c in check_reaction(r, graceful_shutdown_s=20.0, tol=tol or Tolerances())}

    def test_should_pass_every_check_when_the_cycle_is_clean(self):
        assert all(self.checks(CLEAN).values())

    def test_should_fail_the_decision_when_it_comes_after_delay_plus_lag(self):
        # bound: upscale_delay 2 + look_back 5 + 2×interval 1 + slack 5 = 14 s after the step
        late = {
            0.0: replicas(1, 1),
            25.0: replicas(2, 1, starting=1),
            55.0: replicas(2, 2),
            97.0: replicas(1, 1),
        }
        starts = ReplicaStarts(T0)
        checks = self.checks(late, starts=starts)
        assert not checks["scale-up decided within upscale_delay_s + metrics lag"]
        assert not checks["new replicas started"]  # no replica creation was observed either

    def test_should_fail_when_the_target_falls_during_the_step(self):
        flap = {**CLEAN, 50.0: replicas(1, 2, stopping=1), 55.0: replicas(2, 2)}
        assert not self.checks(flap)["no scale-down while loaded"]

    def test_should_fail_the_wait_when_scale_down_comes_before_downscale_delay(self):
        early = {**CLEAN, 90.0: replicas(1, 1, stopping=1), 91.0: replicas(1, 1), 97.0: replicas(1, 1)}
        checks = self.checks(early)
        assert not checks["waited downscale_delay_s before scaling down"]
        assert checks["back to min replicas after the drop"]

    def test_should_fail_when_replicas_never_return_to_min(self):
        stuck = {0.0: replicas(1, 1), 16.0: replicas(2, 1, starting=1), 46.0: replicas(2, 2)}
        checks = self.checks(stuck)
        assert not checks["back to min replicas after the drop"]
        assert not checks["scale-down decided within downscale_delay_s + metrics lag"]

    def test_should_fail_when_a_replica_starts_slower_than_the_limit(self):
        assert not self.checks(CLEAN, tol=Tolerances(max_replica_start_s=20))["new replicas started"]

    def test_should_fail_when_the_run_ends_before_the_drop(self):
        checks = self.checks(CLEAN, drop_at=None)
        assert checks["load dropped"] is False
        assert checks["scaled up within upscale_delay_s + replica start time"]
        assert "back to min replicas after the drop" not in checks


class TestCheckLoad:
    def test_should_pass_when_no_request_failed_and_every_phase_had_load(self):
        load = LoadTotals(100, 0, 0, {BASELINE: 5, STEP: 80, DROP: 15})
        assert all(c.ok for c in check_load(load))

    def test_should_fail_when_a_request_failed_or_a_phase_had_no_load(self):
        load = LoadTotals(100, 1, 0, {BASELINE: 5, STEP: 95}, errors=("1× POST chat: HTTP 500: boom",))
        checks = {c.name: c for c in check_load(load)}
        assert {name: c.ok for name, c in checks.items()} == {
            "no failed requests across the cycle": False,
            "requests sent in every phase": False,
        }
        assert checks["no failed requests across the cycle"].detail.endswith("; 1× POST chat: HTTP 500: boom")


class TestRequestWindow:
    def test_should_count_a_request_in_the_phase_it_was_sent_in_when_it_ends_in_a_later_one(self):
        now = [100.0]
        window = RequestWindow(clock=lambda: now[0])
        window.enter(BASELINE)
        now[0] = 105.0
        window.enter(STEP)
        now[0] = 108.0  # sent at 101 s, in the baseline; 7 s long (a slow machine)
        window.on_request(request_type="POST", name="/v1/chat/completions [tiny]", response_time=7000)
        window.on_request(request_type="POST", name="/v1/chat/completions [tiny]", response_time=2000)
        now[0] = 120.0
        window.enter(DROP)
        now[0] = 121.0  # sent at 119 s, in the step
        window.on_request(request_type="POST", name="/v1/chat/completions [tiny]", response_time=2000)
        assert window.requests_by_phase == {BASELINE: 1, STEP: 2}

    def test_should_turn_events_into_rates_and_percentiles_when_a_sample_is_taken(self):
        now = [100.0]
        window = RequestWindow(latency_window_s=5.0, clock=lambda: now[0], phase=STEP)
        for ms in (100, 200, 300, 400):
            window.on_request(request_type="POST", name="/v1/chat/completions [tiny]", response_time=ms)
            window.on_request(request_type=TTFT, name="tiny", response_time=ms / 10)
            window.on_request(request_type=E2E, name="tiny", response_time=ms)
        window.on_request(
            request_type="POST", name="/v1/chat/completions [tiny]", response_time=1, exception=OSError()
        )
        window.on_request(request_type="GET", name="/v1/models", response_time=1)
        sample = Sample(t=1.0, phase=STEP, users=4)
        window.take(sample, seconds=2.0)
        assert (sample.rps, sample.failures_per_s) == (2.5, 0.5)
        assert (sample.ttft_p50_ms, sample.ttft_p95_ms, sample.e2e_p50_ms, sample.e2e_p95_ms) == (
            20,
            40,
            200,
            400,
        )
        assert window.requests_by_phase == {STEP: 5}
        later = Sample(t=2.0, phase=STEP, users=4)
        now[0] = 104.0  # latencies stay in the 5 s window, the request count starts over
        window.take(later, seconds=1.0)
        assert (later.rps, later.ttft_p95_ms) == (0.0, 40)
        gone = Sample(t=3.0, phase=STEP, users=4)
        now[0] = 105.5
        window.take(gone, seconds=1.0)
        assert (gone.ttft_p95_ms, gone.e2e_p50_ms) == (None, None)
