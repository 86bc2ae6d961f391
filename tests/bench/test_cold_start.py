"""bench.cold_start's summary of several starts (the starts themselves run in the quick bench)."""

from __future__ import annotations

from bench.cold_start import medians


class TestMedians:
    def test_should_take_each_milestones_median_over_the_starts_that_reached_it_when_one_missed_it(self):
        starts = [
            {"server": "vllm", "milestones_s": {"serving process": 1.0, "first token": 10.0}},
            {
                "server": "vllm",
                "milestones_s": {"serving process": 3.0, "engine core": 4.0, "first token": 20.0},
            },
            {"server": "serve", "milestones_s": {"serving process": 0.1, "first token": 5.0}},
        ]
        assert medians(starts, "vllm") == {
            "serve noticed": None,
            "serving process": 2.0,
            "engine core": 4.0,
            "engine worker": None,
            "first token": 15.0,
            "start to first token": 15.0,
        }

    def test_should_time_a_restart_from_when_serve_noticed_the_replica_gone_when_it_did(self):
        starts = [
            {
                "server": "serve",
                "milestones_s": {"serve noticed": 6.0, "serving process": 9.0, "first token": 30.0},
            },
            {
                "server": "serve",
                "milestones_s": {"serve noticed": 1.0, "serving process": 4.0, "first token": 22.0},
            },
        ]
        found = medians(starts, "serve")
        assert (found["first token"], found["start to first token"]) == (26.0, 22.5)
