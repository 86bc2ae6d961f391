"""Cold start: a model replica's start in Serve against the standalone vLLM server's, on the same model.

    python -m bench.cold_start [--rounds 3]

Serve: on the chart's local run (values/local-cpu.yaml, every application RUNNING, idle) the `tiny`
LLMServer replica is killed (SIGKILL, as a crash or a lost node would) and Serve starts another.
Standalone: the chart's standalone vLLM server (values/local-cpu-standalone.yaml, as
`make serve MODE=standalone` runs it) is started. Each start is timed from that moment to the first
answered token (a one-token chat request every 0.25 s through the `openai` client, as a retrying user
would send), with when Serve noticed the replica gone (its health check finds a dead actor:
`healthCheckPeriodS` bounds that wait) and when each process of the new server first appeared: the
serving process (the replica, or vLLM's API server), vLLM's engine core, and its worker. The gaps
between them say where the time goes: Ray placing the actor, imports and engine config, the engine
core's imports, then the worker's imports, model load, KV cache, warm-up and health checks until a
request is answered. A replica's start is compared from Serve's restart (once it noticed), a server's
from its start. Serve and standalone starts alternate, one of each per round.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import psutil

from bench import report
from bench.local_run import MODEL, add_variant_options, chart_local_run, process_named, variant
from bench.stats import Target, table, targets_table
from bench.vllm_server import standalone_container
from devkit.loopback import off_loopback
from devkit.processes import engine_cores, is_vllm_process
from devkit.standalone import Container, StandaloneRun
from serve_app.config import llm_deployment_name

LOCAL, VLLM = "chart-local-run", "vllm"
VLLM_PORT = 47110
POLL_S = 0.25
# Milestones of a start, in the order they come; Serve's restart starts once Serve has noticed the kill.
NOTICED = "serve noticed"
MILESTONES = (NOTICED, "serving process", "engine core", "engine worker", "first token")
START = "start to first token"
NOTICE_POLL_S = 1.0  # Serve's view costs the dashboard and the controller a call
RATIO_TARGET = 1.5
WORKER = "VLLM::Worker"


def has_worker(core: psutil.Process) -> bool:
    """The engine core has spawned its worker."""
    return any(is_vllm_process(child, core, WORKER) for child in core.children())


class Milestones:
    """Records, from a thread of its own, when a new server's processes first appear (and when Serve
    noticed the old one had gone, for a restart)."""

    def __init__(
        self, serving: Callable[[], psutil.Process | None], noticed: Callable[[], bool] | None = None
    ) -> None:
        self._serving, self._noticed = serving, noticed
        self._started = time.monotonic()
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _mark(self, milestone: str) -> None:
        self.seen.setdefault(milestone, round(time.monotonic() - self._started, 2))

    def _watch(self) -> None:
        server = core = None
        asked = -math.inf
        while not self._stop.wait(POLL_S / 2):
            if self._noticed and NOTICED not in self.seen and time.monotonic() - asked >= NOTICE_POLL_S:
                asked = time.monotonic()
                if self._noticed():
                    self._mark(NOTICED)
            with contextlib.suppress(psutil.Error):
                server = server or self._serving()
                if server is None:
                    continue
                if self._noticed:  # no new replica before Serve noticed: at the latest now
                    self._mark(NOTICED)
                self._mark("serving process")
                cores = engine_cores(server) if core is None else [core]
                if len(cores) == 1:
                    core = cores[0]
                    self._mark("engine core")
                    if has_worker(core):
                        self._mark("engine worker")
                        return

    @contextlib.contextmanager
    def watching(self) -> Iterator[Milestones]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()

    def first_token(self, client: openai.OpenAI, timeout_s: float) -> dict[str, float]:
        """Sends a one-token request every POLL_S until one is answered; the milestones then."""
        deadline = self._started + timeout_s
        while time.monotonic() < deadline:
            try:
                client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=1
                )
            except (openai.APIStatusError, openai.APIConnectionError):
                time.sleep(POLL_S)
                continue
            self._mark("first token")
            return {m: self.seen[m] for m in MILESTONES if m in self.seen}
        raise TimeoutError(f"no answer within {timeout_s:g} s of the start; seen so far: {self.seen}")


def serve_restart(run, client: openai.OpenAI, timeout_s: float, before_end: Callable[[], None]) -> dict:
    """Kills the model's replica (`before_end` first); the milestones of the one Serve starts in its
    place, and any listener of the run off loopback."""
    name = f"ServeReplica:llm:{llm_deployment_name(MODEL)}"
    old = process_named(run, name)

    def new_replica() -> psutil.Process | None:
        with contextlib.suppress(LookupError):
            found = process_named(run, name)
            return found if found.pid != old.pid else None
        return None

    def noticed() -> bool:
        """Serve no longer counts the killed replica as RUNNING (its health check found it gone)."""
        with contextlib.suppress(OSError, ValueError, KeyError):
            replicas = run.ray.applications()["llm"]["deployments"][llm_deployment_name(MODEL)]["replicas"]
            # A replica Serve has just placed has no pid yet: the key is left out.
            return not any(r.get("pid") == old.pid and r["state"] == "RUNNING" for r in replicas)
        return False

    milestones = Milestones(new_replica, noticed)
    before_end()
    old.kill()
    with milestones.watching():
        seen = milestones.first_token(client, timeout_s)
    # Untimed: the application RUNNING again, as the next start (or whoever uses the run next) expects.
    run.ray.wait_running({"llm"}, timeout_s=timeout_s)
    return {"milestones_s": seen, "non_loopback_listeners": off_loopback(run.processes())}


def standalone_start(
    container: Container,
    state_dir: Path,
    client: openai.OpenAI,
    timeout_s: float,
    before_end: Callable[[], None],
) -> dict:
    """Starts the standalone server (stopped after, `before_end` first): the milestones of its start,
    and any listener of it off loopback."""
    run = StandaloneRun(state_dir)
    failure: list[BaseException] = []

    def start() -> None:
        try:
            run.start(container, timeout_s)
        except BaseException as err:  # shown by the caller, which is waiting for a first token
            failure.append(err)

    starting = threading.Thread(target=start, daemon=True)
    milestones = Milestones(lambda: next(iter(run.processes()), None))
    try:
        starting.start()
        with milestones.watching():
            seen = milestones.first_token(client, timeout_s)
        return {"milestones_s": seen, "non_loopback_listeners": off_loopback(run.processes())}
    except TimeoutError:
        if failure:
            raise failure[0] from None
        raise
    finally:
        starting.join()
        before_end()
        run.stop()


def start_s(milestones: dict[str, float]) -> float:
    """A start's own length: to the first token from the server's start, or from Serve's noticing the
    replica gone (the health check that found it is Serve's detection, not the replica's start)."""
    return round(milestones["first token"] - milestones.get(NOTICED, 0.0), 2)


def medians(starts: list[dict], server: str) -> dict[str, float | None]:
    """Each milestone's median over `server`'s starts (None: it has no such milestone), and the starts'."""
    mine = [s["milestones_s"] for s in starts if s["server"] == server]
    found = {
        m: round(statistics.median(values), 1) if (values := [s[m] for s in mine if m in s]) else None
        for m in MILESTONES
    }
    return {**found, START: round(statistics.median(start_s(s) for s in mine), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="starts per server")
    parser.add_argument("--timeout-s", type=float, default=600, help="longest a start may take")
    add_variant_options(parser)
    parser.add_argument("--max-wait-s", type=float, default=1200, help="give up waiting for a quiet machine")
    parser.add_argument("--state-dir", type=Path, default=Path("/tmp/bench-cold"))
    parser.add_argument("--out-dir", type=Path, default=report.RESULTS_DIR)
    args = parser.parse_args(argv)
    name, local_env, local_set = variant(args, "cold-start")

    standalone_dir = args.state_dir / "vllm"
    with chart_local_run(
        args.state_dir / "local", local_env, attach=args.attach, set_values=local_set
    ) as run:
        container = standalone_container(VLLM_PORT)
        clients = {LOCAL: run.base_url, VLLM: container.base_url}
        serve, vllm = (openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=10)
                       for url in clients.values())  # fmt: skip
        own = lambda: run.processes() + StandaloneRun(standalone_dir).processes()  # noqa: E731
        with report.measuring(own, args.max_wait_s) as conditions:
            measure = {
                LOCAL: lambda: serve_restart(run, serve, args.timeout_s, conditions.note_own),
                VLLM: lambda: standalone_start(
                    container, standalone_dir, vllm, args.timeout_s, conditions.note_own
                ),
            }
            starts = [
                {"server": server, "round": number, **start()}
                for number in range(args.rounds)
                for server, start in measure.items()
            ]
    servers = {server: medians(starts, server) for server in (LOCAL, VLLM)}
    local_s, vllm_s = servers[LOCAL][START], servers[VLLM][START]
    ratio = round(local_s / vllm_s, 2) if local_s and vllm_s else None
    targets_checked = [Target("replica start / standalone start (median)", ratio, RATIO_TARGET, "max", "x")]
    print(f"\ncold start: seconds from the start to each milestone, median of {args.rounds}")
    print(table(["server", *MILESTONES, START], [(server, *v.values()) for server, v in servers.items()]))
    print("\n" + targets_table(targets_checked))
    path = report.write_result(
        name,
        {
            "settings": {
                "rounds": args.rounds,
                "preset": "values/local-cpu.yaml",
                "local_env": local_env,
                "local_set": list(local_set),
            },
            "servers": servers,
            "ratio": ratio,
            "non_loopback_listeners": sorted({item for s in starts for item in s["non_loopback_listeners"]}),
            "starts": starts,
            "targets": [t.as_dict() for t in targets_checked],
        },
        conditions=conditions,
        out_dir=args.out_dir,
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
