"""Autoscaling cycle analysis: per-second samples in; scale events, reaction times and checks out.

Times are seconds since the load started. The bounds follow Ray Serve's autoscaling semantics:
a decision needs the averaged ongoing requests (over `look_back_period_s`, reported every
`metrics_interval_s`) to stay past the target for `upscale_delay_s` / `downscale_delay_s`; a new
replica then takes its own start time, measured here from its creation to RUNNING.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from loadtest.llm_stats import E2E, TTFT
from loadtest.openai_wire import CHAT_PATH
from loadtest.serve_status import RUNNING, Autoscaling, Deployment
from loadtest.step_plan import BASELINE, DROP, STEP


@dataclass(frozen=True)
class Replicas:
    target: int
    running: int
    starting: int
    stopping: int
    status: str

    @classmethod
    def of(cls, deployment: Deployment) -> Replicas:
        return cls(
            target=deployment.target_replicas,
            running=deployment.running,
            starting=deployment.starting,
            stopping=deployment.count("STOPPING"),
            status=deployment.status,
        )


@dataclass
class Sample:
    """One second of the run. Replica counts come from the latest status fetch, observed at `status_t`."""

    t: float
    phase: str
    users: int
    status_t: float | None = None
    rps: float = 0.0
    failures_per_s: float = 0.0
    ttft_p50_ms: float | None = None
    ttft_p95_ms: float | None = None
    e2e_p50_ms: float | None = None
    e2e_p95_ms: float | None = None
    replicas: dict[str, Replicas] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # deployment → metric → value
    cluster: dict[str, str] = field(default_factory=dict)  # RayService deployment statuses (cluster mode)
    errors: list[str] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class RequestWindow:
    """Request events turned into sample fields: chat requests/s and failures/s since the last
    sample, TTFT and E2E percentiles over a trailing window (a second alone often holds no answer).

    Registered as a Locust request listener; also counts chat requests by the load phase they were
    sent in: a 320-token answer sent in a 5 s baseline may end in the step on a slow machine, and
    counting it where it ended would call the baseline idle depending on the machine's speed.
    """

    latency_window_s: float = 5.0
    clock: Callable[[], float] = time.perf_counter
    phase: str = BASELINE
    requests: int = 0
    failures: int = 0
    latencies: dict[str, deque] = field(default_factory=lambda: {TTFT: deque(), E2E: deque()})
    requests_by_phase: dict[str, int] = field(default_factory=dict)
    # (clock, phase) of each phase change after the first phase; a request's phase is the one it began in.
    phase_changes: list[tuple[float, str]] = field(default_factory=list)

    def enter(self, phase: str) -> None:
        """The load is in `phase` from now on."""
        if phase != (self.phase_changes[-1][1] if self.phase_changes else self.phase):
            self.phase_changes.append((self.clock(), phase))

    def phase_at(self, moment: float) -> str:
        return next((phase for at, phase in reversed(self.phase_changes) if at <= moment), self.phase)

    def on_request(self, request_type: str, name: str, response_time: float, exception=None, **_kwargs):
        if request_type == "POST" and name.startswith(CHAT_PATH):
            self.requests += 1
            self.failures += exception is not None
            sent_in = self.phase_at(self.clock() - response_time / 1000)
            self.requests_by_phase[sent_in] = self.requests_by_phase.get(sent_in, 0) + 1
        elif request_type in self.latencies:
            self.latencies[request_type].append((self.clock(), response_time))

    def take(self, sample: Sample, seconds: float) -> None:
        """Fill the load fields of `sample`; the request counts start over."""
        sample.rps = self.requests / seconds if seconds > 0 else 0.0
        sample.failures_per_s = self.failures / seconds if seconds > 0 else 0.0
        self.requests = self.failures = 0
        since = self.clock() - self.latency_window_s
        values = {}
        for metric, window in self.latencies.items():
            while window and window[0][0] < since:
                window.popleft()
            values[metric] = [value for _, value in window]
        sample.ttft_p50_ms, sample.ttft_p95_ms = percentile(values[TTFT], 0.5), percentile(values[TTFT], 0.95)
        sample.e2e_p50_ms, sample.e2e_p95_ms = percentile(values[E2E], 0.5), percentile(values[E2E], 0.95)


@dataclass(frozen=True)
class ScaleEvent:
    t: float
    deployment: str
    kind: str  # "target" (the autoscaler's decision) or "running" (replicas serving)
    before: int
    after: int


def scale_events(samples: list[Sample], deployment: str) -> list[ScaleEvent]:
    events: list[ScaleEvent] = []
    last: Replicas | None = None
    for sample in samples:
        now = sample.replicas.get(deployment)
        if now is None or sample.status_t is None:
            continue
        if last is not None:
            for kind in ("target", "running"):
                before, after = getattr(last, kind), getattr(now, kind)
                if before != after:
                    events.append(ScaleEvent(sample.status_t, deployment, kind, before, after))
        last = now
    return events


@dataclass
class ReplicaStarts:
    """Replicas created during the run: creation time (Serve's start_time_s) and first seen RUNNING."""

    t0_wall: float
    known: set[str] = field(default_factory=set)
    created: dict[str, tuple[str, float]] = field(default_factory=dict)  # replica → (deployment, t)
    running: dict[str, float] = field(default_factory=dict)  # replica → t

    def observe(self, wall: float, deployments: dict[str, Deployment], initial: bool = False) -> None:
        for key, deployment in deployments.items():
            for replica in deployment.replicas:
                if initial:
                    self.known.add(replica.replica_id)
                    continue
                if replica.replica_id in self.known:
                    continue
                self.created.setdefault(replica.replica_id, (key, replica.start_time_s - self.t0_wall))
                if replica.state == RUNNING:
                    self.running.setdefault(replica.replica_id, wall - self.t0_wall)

    def of(self, deployment: str) -> list[tuple[float, float | None]]:
        """(created t, running t or None) of each new replica of a deployment, in creation order."""
        return sorted(
            (created, self.running.get(replica))
            for replica, (key, created) in self.created.items()
            if key == deployment
        )


@dataclass(frozen=True)
class Tolerances:
    slack_s: float = 5.0  # control loop, status polling and request-level jitter
    sample_interval_s: float = 1.0
    max_replica_start_s: float = 600.0


@dataclass(frozen=True)
class Check:
    deployment: str
    name: str
    ok: bool
    detail: str
    value: float | None = None
    bound: float | None = None


def expected_replicas(autoscaling: Autoscaling, step_users: int) -> int:
    """Replicas the step should reach: each user keeps one request in flight (no think time)."""
    wanted = math.ceil(step_users / autoscaling.target_ongoing_requests)
    return max(autoscaling.min_replicas, min(autoscaling.max_replicas, wanted))


def _first(samples: list[Sample], after: float, until: float, condition) -> float | None:
    """When a status fetch in [after, until) first showed `condition`."""
    return next(
        (
            s.status_t
            for s in samples
            if s.status_t is not None and after <= s.status_t < until and condition(s)
        ),
        None,
    )


@dataclass
class Reaction:
    """Measured reaction of one deployment to the step and the drop; times relative to those."""

    deployment: str
    autoscaling: Autoscaling
    expected: int
    step_at: float
    drop_at: float | None
    running_at_step: int | None = None
    upscale_decision_s: float | None = None
    replica_created_s: list[float] = field(default_factory=list)
    replica_start_s: list[float] = field(default_factory=list)
    scale_up_s: float | None = None
    peak_running: int = 0
    dropped_while_loaded: bool = False
    downscaled_while_loaded_at: list[float] = field(default_factory=list)
    downscale_decision_s: float | None = None
    scale_down_s: float | None = None
    events: list[ScaleEvent] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def measure(
    samples: list[Sample],
    starts: ReplicaStarts,
    deployment: str,
    autoscaling: Autoscaling,
    expected: int,
    step_at: float,
    drop_at: float | None,
) -> Reaction:
    end = drop_at if drop_at is not None else math.inf
    reaction = Reaction(
        deployment, autoscaling, expected, step_at, drop_at, events=scale_events(samples, deployment)
    )

    def counts(s: Sample) -> Replicas | None:
        return s.replicas.get(deployment)

    def first(after: float, until: float, condition) -> float | None:
        return _first(samples, after, until, lambda s: (c := counts(s)) is not None and condition(c))

    observed = [(s.status_t, c) for s in samples if s.status_t is not None and (c := counts(s))]
    before = [c for t, c in observed if t < step_at]
    reaction.running_at_step = before[-1].running if before else None
    for created, running in starts.of(deployment):
        if step_at <= created < end:
            reaction.replica_created_s.append(created - step_at)
            if running is not None:
                reaction.replica_start_s.append(running - created)
    # The controller creates a replica as it decides, and Serve stamps that creation exactly: it
    # bounds the decision time better than a status fetch, which lags by its own latency.
    seen = first(step_at, end, lambda c: c.target > autoscaling.min_replicas)
    created = [step_at + c for c in reaction.replica_created_s[:1]]
    decided = min([t for t in (seen, *created) if t is not None], default=None)
    reaction.upscale_decision_s = None if decided is None else decided - step_at
    reached = first(step_at, end, lambda c: c.running >= expected)
    reaction.scale_up_s = None if reached is None else reached - step_at
    reaction.peak_running = max((c.running for t, c in observed if step_at <= t < end), default=0)
    if reached is not None:
        reaction.dropped_while_loaded = any(c.running < expected for t, c in observed if reached <= t < end)
    reaction.downscaled_while_loaded_at = [
        e.t - step_at
        for e in reaction.events
        if e.kind == "target" and e.after < e.before and step_at <= e.t < end
    ]
    if drop_at is not None:
        minimum = autoscaling.min_replicas
        down = first(drop_at, math.inf, lambda c: c.target <= minimum)
        reaction.downscale_decision_s = None if down is None else down - drop_at
        settled = first(drop_at, math.inf, lambda c: c.running <= minimum and not c.stopping)
        reaction.scale_down_s = None if settled is None else settled - drop_at
    return reaction


def _within(value: float | None, bound: float | None) -> bool:
    return value is not None and bound is not None and value <= bound


def check_reaction(r: Reaction, graceful_shutdown_s: float, tol: Tolerances) -> list[Check]:
    a = r.autoscaling
    checks: list[Check] = []

    def check(
        name: str, ok: bool, detail: str, value: float | None = None, bound: float | None = None
    ) -> None:
        checks.append(Check(r.deployment, name, ok, detail, value, bound))

    lag = a.look_back_period_s + 2 * a.metrics_interval_s + tol.slack_s
    lag_text = (
        f"look_back {a.look_back_period_s} + 2×metrics_interval {a.metrics_interval_s} + slack {tol.slack_s}"
    )
    check(
        "at min replicas before the step",
        r.running_at_step == a.min_replicas,
        f"{r.running_at_step} running, min {a.min_replicas}",
        r.running_at_step,
        a.min_replicas,
    )
    up_bound = a.upscale_delay_s + lag
    check(
        "scale-up decided within upscale_delay_s + metrics lag",
        _within(r.upscale_decision_s, up_bound),
        f"target rose {_s(r.upscale_decision_s)} after the step; "
        f"bound upscale_delay_s {a.upscale_delay_s} + {lag_text}",
        r.upscale_decision_s,
        up_bound,
    )
    start_s = max(r.replica_start_s, default=None)
    check(
        "new replicas started",
        _within(start_s, tol.max_replica_start_s),
        f"{len(r.replica_start_s)} of {len(r.replica_created_s)} new replicas reached RUNNING; slowest took "
        f"{_s(start_s)} from creation (limit {tol.max_replica_start_s} s)",
        start_s,
        tol.max_replica_start_s,
    )
    scale_up_bound = None if start_s is None else up_bound + start_s + tol.slack_s
    check(
        "scaled up within upscale_delay_s + replica start time",
        _within(r.scale_up_s, scale_up_bound),
        f"{r.expected} replicas running {_s(r.scale_up_s)} after the step; bound {_s(up_bound)} decision + "
        f"{_s(start_s)} measured start + slack {tol.slack_s}",
        r.scale_up_s,
        scale_up_bound,
    )
    check(
        "reached the expected replica count",
        r.peak_running >= r.expected,
        f"peak {r.peak_running} running, expected {r.expected}",
        r.peak_running,
        r.expected,
    )
    flaps = ", ".join(f"{t:.1f} s" for t in r.downscaled_while_loaded_at)
    check(
        "no scale-down while loaded",
        r.scale_up_s is not None and not r.dropped_while_loaded and not flaps,
        f"the autoscaler lowered the target under load, {flaps} after the step"
        if flaps
        else "running fell below the expected count before the drop"
        if r.dropped_while_loaded
        else f"{r.expected} replicas held until the drop"
        if r.scale_up_s is not None
        else "never scaled up",
    )
    if r.drop_at is None:
        check("load dropped", False, "the run ended before the drop phase")
        return checks
    down_min = a.downscale_delay_s - tol.sample_interval_s
    check(
        "waited downscale_delay_s before scaling down",
        r.downscale_decision_s is not None and r.downscale_decision_s >= down_min,
        f"target fell {_s(r.downscale_decision_s)} after the drop; downscale_delay_s {a.downscale_delay_s}",
        r.downscale_decision_s,
        down_min,
    )
    down_bound = a.downscale_delay_s + lag
    check(
        "scale-down decided within downscale_delay_s + metrics lag",
        _within(r.downscale_decision_s, down_bound),
        f"target fell {_s(r.downscale_decision_s)} after the drop; "
        f"bound downscale_delay_s {a.downscale_delay_s} + {lag_text}",
        r.downscale_decision_s,
        down_bound,
    )
    settle_bound = down_bound + graceful_shutdown_s + tol.slack_s
    check(
        "back to min replicas after the drop",
        _within(r.scale_down_s, settle_bound),
        f"{a.min_replicas} running and none stopping {_s(r.scale_down_s)} after the drop; "
        f"bound {_s(down_bound)} decision + graceful shutdown {graceful_shutdown_s} s + slack {tol.slack_s}",
        r.scale_down_s,
        settle_bound,
    )
    return checks


@dataclass(frozen=True)
class LoadTotals:
    requests: int
    failures: int
    exceptions: int
    requests_by_phase: dict[str, int]
    errors: tuple[str, ...] = ()  # what failed or raised, most frequent first


def check_load(load: LoadTotals) -> list[Check]:
    idle = [p for p in (BASELINE, STEP, DROP) if not load.requests_by_phase.get(p)]
    return [
        Check(
            "*",
            "no failed requests across the cycle",
            load.failures == 0 and load.exceptions == 0,
            f"{load.failures} failed of {load.requests} requests, {load.exceptions} errors in the load test"
            + "".join(f"; {error}" for error in load.errors[:5]),
            load.failures,
            0,
        ),
        Check(
            "*",
            "requests sent in every phase",
            not idle,
            f"requests by phase: {load.requests_by_phase}" + (f"; none in {idle}" if idle else ""),
        ),
    ]


def _s(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.1f} s"
