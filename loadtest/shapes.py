"""Step load shape for the autoscaling scenario: baseline → step up → hold → drop.

    locust --config loadtest/locust.conf -f loadtest/chat.py,loadtest/shapes.py --headless \
        --baseline-users 1 --step-users 16 --hold-s 300 --drop-s 300

A separate locustfile, because Locust uses any shape class it finds: chat.py alone keeps -u/-r/-t.
"""

from __future__ import annotations

from locust import LoadTestShape, events

# Locust imports this file by path; make `loadtest.*` importable from any working directory.
from loadtest.step_plan import Clock, Phase, StepPlan


@events.init_command_line_parser.add_listener
def add_options(parser, **_kwargs) -> None:
    add = parser.add_argument
    add("--baseline-users", type=int, default=1, help="Step shape: users before the step")
    add("--baseline-s", type=float, default=60.0, help="Step shape: seconds of baseline")
    add("--step-users", type=int, default=16, help="Step shape: users during the step")
    add("--hold-s", type=float, default=300.0, help="Step shape: longest hold of the step, seconds")
    add("--drop-users", type=int, default=1, help="Step shape: users after the drop")
    add("--drop-s", type=float, default=300.0, help="Step shape: longest time after the drop, seconds")
    add("--step-spawn-rate", type=float, default=100.0, help="Step shape: users started/stopped per second")


def plan_from_options(options) -> StepPlan:
    return StepPlan(
        baseline_users=options.baseline_users,
        baseline_s=options.baseline_s,
        step_users=options.step_users,
        hold_s=options.hold_s,
        drop_users=options.drop_users,
        drop_s=options.drop_s,
        spawn_rate=options.step_spawn_rate,
    )


class StepLoadShape(LoadTestShape):
    clock: Clock | None = None

    def reset_time(self) -> None:
        super().reset_time()
        self.clock = None  # options may have changed in the web UI since the last run

    def tick(self) -> tuple[int, float] | None:
        if self.clock is None:
            self.clock = Clock(plan_from_options(self.runner.environment.parsed_options))
        return self.clock.tick(self.get_run_time())

    @property
    def phase(self) -> Phase | None:
        return (
            None
            if self.clock is None
            else self.clock.plan.phase_at(self.clock.plan_time(self.get_run_time()))
        )

    def end_phase(self, name: str) -> bool:
        return self.clock is not None and self.clock.end_phase(name, self.get_run_time())
