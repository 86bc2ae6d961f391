"""Prove the autoscaling a deployment is configured with: step load, per-second timeline, checks.

Runs the chat load (loadtest/chat.py) with the step shape (loadtest/shapes.py) in this process and,
every second, records users, requests/s, latency percentiles and each deployment's target and
replica counts (Ray Serve's status API, plus its Prometheus metrics). Then it checks the cycle:
scale-up decided within upscale_delay_s + metrics lag, replicas up within that + the measured
replica start time, the expected replica count held under load, back to min after
downscale_delay_s, no failed request; and writes timeline.png, timeline.html, timeline.csv,
summary.json and llm-summary.json to --out.

    # start the local run with the autoscaling preset, check it, stop it (`make loadtest-autoscale`)
    python -m loadtest.autoscale --start-local --locust-config loadtest/autoscale-local.conf
    # against a running `make serve -f values/local-cpu.yaml -f values/local-cpu-autoscale.yaml`
    python -m loadtest.autoscale --host http://127.0.0.1:8000 --dashboard-url http://127.0.0.1:8265 \
        --metrics-url http://127.0.0.1:8080/metrics --locust-config loadtest/autoscale-local.conf
    # against a chart install (load through a port-forward of the Serve service or the API ingress)
    python -m loadtest.autoscale --kube-context my-eks --namespace llm --release ray-vllm \
        --host http://127.0.0.1:8000 -- --model llama-3-8b --step-users 64 --hold-s 900

Options after `--` go to Locust, after the --locust-config file (default loadtest/locust.conf): model,
max tokens, prompt mix, the step shape (--baseline-users, --step-users, --hold-s, --drop-users, ...).
A Ray token (RAY_AUTH_TOKEN, or the file RAY_AUTH_TOKEN_PATH) is sent to the dashboard.
Exit code 0: every check passed; 1: a check failed; 2: the setup did not work.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from pathlib import Path

import gevent
import locust
from locust.argument_parser import get_parser
from locust.env import Environment

from devkit import REPO
from loadtest import chat, shapes
from loadtest.autoscale_analysis import (
    Check,
    LoadTotals,
    Reaction,
    Replicas,
    ReplicaStarts,
    RequestWindow,
    Sample,
    Tolerances,
    check_load,
    check_reaction,
    expected_replicas,
    measure,
)
from loadtest.autoscale_report import write_report
from loadtest.llm_stats import threshold_violations
from loadtest.serve_status import (
    Deployment,
    application_statuses,
    parse_serve_applications,
    parse_serve_metrics,
)
from loadtest.status_sources import KubeRayServe, LocalServe, ray_token_from_env
from loadtest.step_plan import DROP, STEP
from serve_app.config import llm_deployment_name

logger = logging.getLogger("loadtest.autoscale")
LOCUST_CONF = REPO / "loadtest" / "locust.conf"


class SetupError(Exception):
    """The check could not run (no service, no scaling deployment, ...): exit code 2."""


class NoSuchDeployment(SetupError):
    pass


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    own, locust_args = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    where = parser.add_argument_group("where the service runs")
    where.add_argument("--host", default="", help="Base URL the load goes to (default: the local run's)")
    where.add_argument("--dashboard-url", default="", help="Local mode: Ray dashboard URL")
    where.add_argument("--metrics-url", default="", help="Local mode: Ray metrics URL (…/metrics); optional")
    where.add_argument(
        "--start-local", action="store_true", help="Start the local run (tools/serve_local.py) first"
    )
    where.add_argument("-f", "--values", action="append", default=[], help="--start-local: values files")
    where.add_argument(
        "--kubeconfig", default=None, help="Cluster mode: kubeconfig file (default: $KUBECONFIG)"
    )
    where.add_argument("--kube-context", default=None, help="Cluster mode: kubeconfig context")
    where.add_argument("--namespace", default="default", help="Cluster mode: namespace of the release")
    where.add_argument(
        "--release", default="", help="Cluster mode: Helm release name (selects the RayService)"
    )
    where.add_argument("--metrics-port", type=int, default=8080, help="Cluster mode: Ray head metrics port")
    what = parser.add_argument_group("what to check")
    what.add_argument(
        "--deployment",
        action="append",
        default=[],
        help="Deployment to check (name or app/name; repeatable); default: LLMServer:<model> of each --model,"
        " else every autoscaling one",
    )
    what.add_argument(
        "--locust-config",
        type=Path,
        default=LOCUST_CONF,
        help="Locust config file, read before the options after --",
    )
    what.add_argument(
        "--expected-replicas",
        type=int,
        default=0,
        help="Replicas the step must reach; default: step users / target_ongoing_requests",
    )
    what.add_argument("--slack-s", type=float, default=5.0, help="Added to every time bound")
    what.add_argument(
        "--max-replica-start-s", type=float, default=600.0, help="Slowest acceptable replica start"
    )
    what.add_argument(
        "--settle-s",
        type=float,
        default=10.0,
        help="End hold/drop this long after the scale-up/scale-down completed",
    )
    what.add_argument("--sample-interval-s", type=float, default=1.0)
    what.add_argument(
        "--ready-timeout-s", type=float, default=600.0, help="Wait this long for min replicas first"
    )
    parser.add_argument("--out", type=Path, default=REPO / "out" / "autoscale", help="Output directory")
    args = parser.parse_args(own)
    local = args.start_local or args.dashboard_url
    if bool(args.release) == bool(local):
        parser.error("give either --release (cluster mode) or --dashboard-url / --start-local (local mode)")
    if args.release and not args.host:
        parser.error("cluster mode needs --host (a port-forward of the Serve service or the API ingress)")
    return args, locust_args


def locust_options(config: Path, host: str, out: Path, locust_args: list[str]) -> argparse.Namespace:
    """Locust's own parser (with chat.py's and shapes.py's options), the config file first, like the CLI."""
    parser = get_parser(default_config_files=[])
    defaults = [
        "--config",
        str(config),
        "--headless",
        "--llm-summary-file",
        str(out / "llm-summary.json"),
    ]
    return parser.parse_args([*defaults, "--host", host, *locust_args])


def select(deployments: dict[str, Deployment], wanted: list[str]) -> dict[str, Deployment]:
    def matches(key: str, name: str) -> bool:
        return any(w in (key, name) for w in wanted)

    scaling = {key: d for key, d in deployments.items() if d.autoscaling and d.autoscaling.scales}
    chosen = {key: d for key, d in scaling.items() if not wanted or matches(key, d.name)}
    if not chosen:
        raise NoSuchDeployment(
            f"no autoscaling deployment matches {wanted or 'any'}; autoscaling: {sorted(scaling)}"
        )
    return chosen


def at_rest(deployment: Deployment) -> bool:
    return deployment.running == deployment.target_replicas == deployment.autoscaling.min_replicas and (
        len(deployment.replicas) == deployment.running
    )


def wait_at_rest(source, wanted: list[str], timeout_s: float) -> dict[str, Deployment]:
    """Wait until every application runs and each checked deployment sits at min replicas."""
    deadline = time.monotonic() + timeout_s
    state = "no status yet"
    while time.monotonic() < deadline:
        try:
            doc = source.serve_status()
            chosen = select(parse_serve_applications(doc), wanted)
            apps = application_statuses(doc)
            if all(status == "RUNNING" for status in apps.values()) and all(map(at_rest, chosen.values())):
                return chosen
            state = f"applications {apps}; " + "; ".join(
                f"{k}: {d.running} running, target {d.target_replicas}" for k, d in chosen.items()
            )
        except SetupError:
            raise
        except Exception as e:  # the service may still be coming up
            state = f"{type(e).__name__}: {e}"
        gevent.sleep(2)
    raise SetupError(f"deployments not at min replicas after {timeout_s:.0f} s: {state}")


def load_errors(runner) -> tuple[str, ...]:
    """Failed requests and user exceptions as "count× what", most frequent first."""
    failures = [(e.occurrences, f"{e.method} {e.name}: {e.error}") for e in runner.stats.errors.values()]
    raised = [
        (e["count"], f"{e['msg']} at {e['traceback'].strip().splitlines()[-1]}")
        for e in runner.exceptions.values()
    ]
    return tuple(f"{count}× {what}" for count, what in sorted(failures + raised, key=lambda item: -item[0]))


def _maybe(parse, text: str | None):
    return None if text is None else parse(text)


class Poller:
    """Fetches one source back to back in its own greenlet (at most once per interval, until the
    deadline), so a slow status API delays only its own freshness, never the per-second samples.

    `observed_at` (perf counter) and `observed_wall` mark the middle of the latest successful fetch.
    """

    def __init__(self, fetch, interval_s: float, deadline: float):
        self.value = None
        self.observed_at: float | None = None
        self.observed_wall: float = 0.0
        self.error = ""
        self.greenlet = gevent.spawn(self._loop, fetch, interval_s, deadline)

    def _loop(self, fetch, interval_s: float, deadline: float) -> None:
        while time.perf_counter() < deadline:
            started, started_wall = time.perf_counter(), time.time()
            try:
                value = fetch()
            except Exception as e:  # recorded on the samples; the next fetch may succeed
                self.error = f"{type(e).__name__}: {e}"[:300]
            else:
                took = time.perf_counter() - started
                self.value, self.error = value, ""
                self.observed_at, self.observed_wall = started + took / 2, started_wall + took / 2
            gevent.sleep(max(0.0, interval_s - (time.perf_counter() - started)))


class Checker:
    def __init__(self, args, source, options: argparse.Namespace):
        self.args = args
        self.source = source
        self.options = options
        host = options.host
        self.shape = shapes.StepLoadShape()
        self.env = Environment(
            user_classes=[chat.ChatUser],
            shape_class=self.shape,
            events=locust.events,
            host=host,
            parsed_options=self.options,
        )
        self.runner = self.env.create_local_runner()
        self.env.events.init.fire(environment=self.env, runner=self.runner, web_ui=None)
        self.window = RequestWindow()
        self.env.events.request.add_listener(self.window.on_request)
        self.plan = shapes.plan_from_options(self.options)
        self.samples: list[Sample] = []
        self.reactions: list[Reaction] = []

    def run(self, deployments: dict[str, Deployment]) -> dict:
        tol = Tolerances(self.args.slack_s, self.args.sample_interval_s, self.args.max_replica_start_s)
        expected = {
            key: self.args.expected_replicas or expected_replicas(d.autoscaling, self.plan.step_users)
            for key, d in deployments.items()
        }
        self.runner.start_shape()  # resets the shape's clock: time 0 of every sample
        started_wall = time.time() - (time.perf_counter() - self.shape.start_time)
        starts = ReplicaStarts(t0_wall=started_wall)
        starts.observe(started_wall, deployments, initial=True)
        try:
            self._sample_until_done(deployments, expected, starts)
        finally:
            self.runner.quit()
            self.env.events.quitting.fire(environment=self.env, reverse=True)
        phase_starts = self.shape.clock.started_at if self.shape.clock else {}
        step_at, drop_at = phase_starts.get(STEP), phase_starts.get(DROP)
        if step_at is None:
            raise SetupError(f"the load ended before its step phase ({len(self.samples)} samples)")
        self.reactions = reactions = [
            measure(self.samples, starts, key, d.autoscaling, expected[key], step_at, drop_at)
            for key, d in deployments.items()
        ]
        stats = chat.run_summary(self.runner.stats)
        load = LoadTotals(
            stats.requests,
            stats.failures,
            sum(e["count"] for e in self.runner.exceptions.values()),
            self.window.requests_by_phase,
            errors=load_errors(self.runner),
        )
        checks = [
            c
            for r in reactions
            for c in check_reaction(r, deployments[r.deployment].graceful_shutdown_timeout_s, tol)
        ]
        checks += check_load(load)
        violations = threshold_violations(stats, chat.ChatSettings.from_options(self.options).thresholds)
        checks.append(
            Check(
                "*",
                "load test thresholds (loadtest/chat.py)",
                not violations,
                "; ".join(violations) or "all met",
            )
        )
        return self._summary(reactions, checks, load, stats, phase_starts)

    def _sample_until_done(self, deployments, expected: dict[str, int], starts: ReplicaStarts) -> None:
        interval = self.args.sample_interval_s
        deadline = time.perf_counter() + self.plan.total_s + 60  # the shape ends itself well before this
        t0 = self.shape.start_time
        source = self.source
        pollers = {
            "status": Poller(lambda: parse_serve_applications(source.serve_status()), interval, deadline),
            "metrics": Poller(lambda: _maybe(parse_serve_metrics, source.metrics_text()), interval, deadline),
            "rayservice": Poller(source.rayservice, interval, deadline),
        }
        settled_since: float | None = None
        seen_status: float | None = None
        last = time.perf_counter()
        try:
            while time.perf_counter() < deadline and not self.runner.shape_greenlet.dead:
                gevent.sleep(max(0.0, interval - (time.perf_counter() - last)))
                now = time.perf_counter()
                phase = self.shape.phase
                if phase is None:
                    break
                sample = Sample(t=now - t0, phase=phase.name, users=self.runner.user_count)
                self.window.take(sample, now - last)
                self.window.enter(phase.name)
                last = now
                status = pollers["status"]
                current: dict[str, Deployment] = status.value or {}
                if status.observed_at is not None:
                    sample.status_t = status.observed_at - t0
                    sample.replicas = {key: Replicas.of(d) for key, d in current.items()}
                    if status.observed_at != seen_status:
                        starts.observe(status.observed_wall, current)
                        seen_status = status.observed_at
                if (metrics := pollers["metrics"].value) is not None:
                    for name, values in vars(metrics).items():
                        for key, value in values.items():
                            sample.metrics.setdefault(key, {})[name] = value
                if (rayservice := pollers["rayservice"].value) is not None:
                    sample.cluster = rayservice.deployments
                sample.errors = [f"{name}: {p.error}" for name, p in pollers.items() if p.error]
                self.samples.append(sample)
                done = self._phase_done(phase.name, {k: current.get(k) for k in deployments}, expected)
                settled_since = (sample.t if settled_since is None else settled_since) if done else None
                if done and sample.t - settled_since >= self.args.settle_s:
                    logger.info("%s complete; ending that phase at %.0f s", phase.name, sample.t)
                    self.shape.end_phase(phase.name)
                    settled_since = None
        finally:
            for poller in pollers.values():
                poller.greenlet.kill()

    @staticmethod
    def _phase_done(phase: str, current: dict[str, Deployment | None], expected: dict[str, int]) -> bool:
        """Hold is done once each checked deployment runs its expected replicas; drop once all are at min."""
        if any(d is None for d in current.values()):
            return False
        if phase == STEP:
            return all(d.running >= expected[k] for k, d in current.items())
        if phase == DROP:
            return all(map(at_rest, current.values()))
        return False

    def _summary(self, reactions: list[Reaction], checks, load: LoadTotals, stats, phase_starts) -> dict:
        return {
            "passed": all(c.ok for c in checks),
            "host": self.env.host,
            "source": self.source.describe(),
            "plan": vars(self.plan),
            "phase_starts": phase_starts,
            "duration_s": self.samples[-1].t if self.samples else 0.0,
            "checks": [vars(c) for c in checks],
            "reactions": [r.as_dict() for r in reactions],
            "load": {**vars(load), "llm": stats.as_dict()},
            "sample_errors": sum(len(s.errors) for s in self.samples),
        }


@contextlib.contextmanager
def local_run(args):
    """`tools/serve_local.py --detach` with the given values, stopped on exit; yields (host, source)."""
    from devkit.local_ray import Ports
    from devkit.local_run import LocalRun, LocalRunFailed
    from devkit.serve_local import STATE_DIR

    values = args.values or ["values/local-cpu.yaml", "values/local-cpu-autoscale.yaml"]
    run = LocalRun(Ports.from_env(), STATE_DIR, tuple(values))
    try:
        try:
            run.start(quiet=False)
        except LocalRunFailed as err:
            raise SetupError(str(err)) from None
        yield run.base_url, LocalServe(run.dashboard_url, run.metrics_url, run.token)
    finally:
        run.stop()


@contextlib.contextmanager
def target(args):
    if args.start_local:
        with local_run(args) as (host, source):
            yield args.host or host, source
    elif args.release:
        yield (
            args.host,
            KubeRayServe(
                args.kube_context,
                args.namespace,
                args.release,
                token=ray_token_from_env(),
                metrics_port=args.metrics_port,
                kubeconfig=args.kubeconfig,
            ),
        )
    else:
        yield args.host, LocalServe(args.dashboard_url, args.metrics_url, ray_token_from_env())


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args, locust_args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        with target(args) as (host, source):
            if not host:
                raise SetupError("no --host to send load to")
            options = locust_options(args.locust_config, host, args.out, locust_args)
            models = [m.strip() for m in options.model.split(",") if m.strip()]
            wanted = args.deployment or [llm_deployment_name(m) for m in models]
            try:
                deployments = wait_at_rest(source, wanted, args.ready_timeout_s)
            except NoSuchDeployment:
                if args.deployment or not wanted:
                    raise
                logger.warning("no autoscaling deployment %s; checking every autoscaling one", wanted)
                deployments = wait_at_rest(source, [], args.ready_timeout_s)
            logger.info("checking %s; load to %s", sorted(deployments), host)
            checker = Checker(args, source, options)
            summary = checker.run(deployments)
            files = write_report(args.out, summary, checker.samples, checker.reactions)
    except SetupError as e:
        logger.error("%s", e)
        return 2
    for check in summary["checks"]:
        logger.info(
            "%s %s: %s — %s",
            "PASS" if check["ok"] else "FAIL",
            check["deployment"],
            check["name"],
            check["detail"],
        )
    logger.info("report: %s", json.dumps(files))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
