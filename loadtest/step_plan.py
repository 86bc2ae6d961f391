"""The autoscaling load plan: baseline → step up → hold → drop, as a pure function of time.

`StepPlan.at(t)` is what the Locust shape (shapes.py) returns each tick. A phase can be cut short
(`Clock.end_phase`): the autoscaling checker ends "hold" once the scale-up is complete and "drop"
once the scale-down is, so a run lasts as long as the cluster needs, never longer than the plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BASELINE, STEP, DROP = "baseline", "step", "drop"


@dataclass(frozen=True)
class Phase:
    name: str
    users: int
    seconds: float


@dataclass(frozen=True)
class StepPlan:
    baseline_users: int
    baseline_s: float
    step_users: int
    hold_s: float
    drop_users: int
    drop_s: float
    spawn_rate: float

    def __post_init__(self) -> None:
        if self.step_users <= max(self.baseline_users, self.drop_users):
            raise ValueError("step users must exceed the baseline and drop users")
        if min(self.baseline_s, self.hold_s, self.drop_s) <= 0 or self.spawn_rate <= 0:
            raise ValueError("phase durations and spawn rate must be positive")

    @property
    def phases(self) -> tuple[Phase, ...]:
        return (
            Phase(BASELINE, self.baseline_users, self.baseline_s),
            Phase(STEP, self.step_users, self.hold_s),
            Phase(DROP, self.drop_users, self.drop_s),
        )

    @property
    def total_s(self) -> float:
        return sum(p.seconds for p in self.phases)

    def phase_at(self, t: float) -> Phase | None:
        """The phase running at t seconds into the plan; None once it is over."""
        end = 0.0
        for phase in self.phases:
            end += phase.seconds
            if t < end:
                return phase
        return None

    def phase_start(self, name: str) -> float:
        start = 0.0
        for phase in self.phases:
            if phase.name == name:
                return start
            start += phase.seconds
        raise KeyError(name)


@dataclass
class Clock:
    """Plan time from elapsed time, with phases that can be ended early.

    `started_at` holds the elapsed time at which each phase began (known once it has).
    """

    plan: StepPlan
    skipped_s: float = 0.0
    started_at: dict[str, float] = field(default_factory=lambda: {BASELINE: 0.0})

    def plan_time(self, elapsed_s: float) -> float:
        return elapsed_s + self.skipped_s

    def phase(self, elapsed_s: float) -> Phase | None:
        phase = self.plan.phase_at(self.plan_time(elapsed_s))
        if phase is not None and phase.name not in self.started_at:
            self.started_at[phase.name] = self.plan.phase_start(phase.name) - self.skipped_s
        return phase

    def end_phase(self, name: str, elapsed_s: float) -> bool:
        """Jump to the end of phase `name` if it is running now; True if it was."""
        phase = self.phase(elapsed_s)
        if phase is None or phase.name != name:
            return False
        self.skipped_s += self.plan.phase_start(name) + phase.seconds - self.plan_time(elapsed_s)
        self.phase(elapsed_s)  # records when the next phase started: now
        return True

    def tick(self, elapsed_s: float) -> tuple[int, float] | None:
        phase = self.phase(elapsed_s)
        return None if phase is None else (phase.users, self.plan.spawn_rate)
