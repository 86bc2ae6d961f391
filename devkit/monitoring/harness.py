"""The live run the monitoring proofs scrape.

A loopback-only Ray head runs the chart's serveConfigV2 for the local preset (the gateway and RAG
applications over the tiny model, deployed like `make serve` does), bounded traffic goes through the
OpenAI API, and the three endpoints Ray exports metrics on are scraped all along: the metrics agent,
the autoscaler and the dashboard. Shared by tests/monitoring and tools/metrics_inventory.py, so the
inventory and the proofs see the same run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import openai
from prometheus_client.parser import text_string_to_metric_families

from devkit import local_ray
from devkit.batches import wait_batch

HOST = "127.0.0.1"
# Seconds between two scrapes that must find no new family before the export counts as complete.
STABLE_FOR_S = 4
# Left out of a family's labels: those Ray puts on every series to tell processes apart, and the
# bucket and quantile bounds every histogram and summary has.
IMPLIED_LABELS = frozenset({
    "le", "quantile", "Component", "NodeAddress", "SessionName", "Version", "WorkerId",
    "otel_scope_name", "otel_scope_schema_url", "otel_scope_version",
})  # fmt: skip


def in_pod(ports: local_ray.Ports) -> dict[int, int]:
    """Where a Ray head in a pod exports metrics (the defaults: KubeRay's --metrics-export-port 8080,
    Ray's AUTOSCALER_METRIC_PORT and DASHBOARD_METRIC_PORT) -> where this head does."""
    pod = local_ray.Ports().metrics_endpoints()
    return {pod[name]: port for name, port in ports.metrics_endpoints().items()}


def _applications(serve_config: dict, builder: str) -> list[dict]:
    """The config's applications built by `serve_app.apps:<builder>`."""
    return [a for a in serve_config["applications"] if a["import_path"].endswith(f":{builder}")]


def agent_route(serve_config: dict) -> str | None:
    """Where the agent application is served, if the config has one."""
    apps = _applications(serve_config, "build_agent_app")
    return apps[0]["route_prefix"] if apps else None


def serves_batches(serve_config: dict) -> bool:
    """Whether the gateway serves the Files and Batches API (docs/contract.md: `args.batch`)."""
    (gateway,) = _applications(serve_config, "build_gateway_app")
    return gateway["args"].get("batch") is not None


def first_model(serve_config: dict) -> str:
    """The first model the gateway application serves (docs/contract.md: `args.models[].name`)."""
    (gateway,) = _applications(serve_config, "build_gateway_app")
    return gateway["args"]["models"][0]["name"]


def http_text(url: str, timeout: float = 30) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


def wait_until(check, timeout_s: float, what: str, interval_s: float = 1.0):
    """Poll `check` until it returns a truthy value; its last exception explains a timeout."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (OSError, urllib.error.URLError, json.JSONDecodeError) as err:
            last_error = err
        time.sleep(interval_s)
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f} s (last error: {last_error})")


@dataclass
class Traffic:
    """What `send_traffic` sent, and when: the window the proofs evaluate queries in."""

    completions: int = 0
    streamed: int = 0
    agent_runs: int = 0  # each one model call, after two scripted tool calls
    batches: int = 0  # each one line answered and one line in its error file
    errors: dict[int, int] = field(default_factory=dict)
    started: float = 0.0
    exported: float = 0.0  # when Ray had exported all of it

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


# An agent run whose steps do not depend on the model: two tool calls the request scripts, then an
# answer without tools, so every agent metric (runs, steps, tool calls and their latency) is exported.
AGENT_RUN = {
    "task": "What time is it, and what is 6 * 7?",
    "calls": [
        {"tool": "clock", "arguments": {"timezone": "UTC"}},
        {"tool": "calculator", "arguments": {"expression": "6 * 7"}},
    ],
    "then": "none",
}


def run_batch(client: openai.OpenAI, model: str, timeout_s: float) -> None:
    """A two-line batch to its end: one line `model` answers, one for a model nobody serves (its
    error file), so every batch metric (batches by status, lines by outcome, batches running) exists."""
    rows = [
        {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": name, "max_tokens": 8, "messages": [{"role": "user", "content": "Hi"}]}}
        for custom_id, name in (("answered", model), ("unknown-model", "no-such-model"))
    ]  # fmt: skip
    content = b"".join(json.dumps(row).encode() + b"\n" for row in rows)
    upload = client.files.create(file=("monitoring.jsonl", content), purpose="batch")
    batch = client.batches.create(
        input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    batch = wait_batch(client, batch.id, timeout_s, until=lambda found: found.status == "completed")
    counts = batch.request_counts
    if (counts.completed, counts.failed) != (1, 1):
        raise RuntimeError(f"expected one answered and one failed line: {counts}")


def send_traffic(
    base_url: str,
    model: str,
    rounds: int = 8,
    concurrency: int = 4,
    timeout_s: float = 180,
    agent_route: str | None = None,
    batches: bool = False,
) -> Traffic:
    """Chat completions, streamed and not, a few at a time, plus requests that must fail, one agent run
    when the agent application is served at `agent_route`, and one batch when the gateway `batches`.

    Bounded in count (`rounds` x `concurrency` x 2 requests + 3, and the batch's polls) and in time
    (`timeout_s`, and as much for the batch).
    """
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0, timeout=60)
    messages = [{"role": "user", "content": "Tell me about Ray Serve and vLLM."}]
    traffic = Traffic(started=time.time())
    deadline = time.monotonic() + timeout_s

    def chat(_: int) -> None:
        client.chat.completions.create(model=model, messages=messages, max_tokens=24)
        stream = client.chat.completions.create(model=model, messages=messages, max_tokens=24, stream=True)
        for _chunk in stream:
            pass

    # First an unknown model (404) and a prompt longer than the context (400): error counters exist
    # only once incremented, and sent first they are exported no later than the answers after them.
    for bad in (
        {"model": "no-such-model", "messages": messages},
        {"model": model, "messages": [{"role": "user", "content": "word " * 2000}]},
    ):
        try:
            client.chat.completions.create(max_tokens=8, **bad)
        except openai.APIStatusError as err:
            traffic.errors[err.status_code] = traffic.errors.get(err.status_code, 0) + 1
    if agent_route is not None:
        response = client.post(f"{base_url}{agent_route}/run", body=AGENT_RUN, cast_to=httpx.Response)
        if response.json()["status"] != "completed":
            raise RuntimeError(f"the agent run did not complete: {response.text}")
        traffic.agent_runs += 1
    if batches:
        run_batch(client, model, timeout_s)
        traffic.batches += 1
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for _ in range(rounds):
            if time.monotonic() > deadline:
                break
            list(pool.map(chat, range(concurrency)))
            traffic.completions += concurrency
            traffic.streamed += concurrency
    return traffic


@dataclass(frozen=True)
class Family:
    """One metric family: its type, the endpoints exporting it (the dashboard process and the metrics
    agent both export `ray_component_*`), the sample names and their label names."""

    name: str
    type: str
    endpoints: frozenset[str]
    samples: frozenset[str]
    labels: frozenset[str]

    def merge(self, other: Family) -> Family:
        return dataclasses.replace(
            self,
            endpoints=self.endpoints | other.endpoints,
            samples=self.samples | other.samples,
            labels=self.labels | other.labels,
        )


def merge_into(families: dict[str, Family], more: dict[str, Family]) -> None:
    for name, fam in more.items():
        families[name] = families[name].merge(fam) if name in families else fam


def scrape(endpoints: dict[str, int]) -> dict[str, Family]:
    """Scrape every endpoint once; families by name, labels without Ray's per-process ones."""
    families: dict[str, Family] = {}
    for endpoint, port in endpoints.items():
        text = http_text(f"http://{HOST}:{port}/metrics")
        merge_into(families, {
            fam.name: Family(
                name=fam.name,
                type=fam.type,
                endpoints=frozenset({endpoint}),
                samples=frozenset(s.name for s in fam.samples),
                labels=frozenset({k for s in fam.samples for k in s.labels} - IMPLIED_LABELS),
            )
            for fam in text_string_to_metric_families(text)
        })  # fmt: skip
    return families


class Scraper(threading.Thread):
    """Scrapes the endpoints every few seconds from before the deploy on, keeping every family ever
    seen: a gauge set once (vLLM's cache config at engine start) leaves the scrape ~20 s later."""

    def __init__(self, endpoints: dict[str, int], period_s: float = 2.0) -> None:
        super().__init__(name="metrics-scraper", daemon=True)
        self.endpoints = endpoints
        self.period_s = period_s
        self.families: dict[str, Family] = {}
        self._lock = threading.Lock()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.period_s):
            self.scrape_once()

    def scrape_once(self) -> None:
        try:
            latest = scrape(self.endpoints)
        except OSError:  # not up yet, or restarting
            return
        with self._lock:
            merge_into(self.families, latest)

    def snapshot(self) -> dict[str, Family]:
        with self._lock:
            return dict(self.families)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)


@dataclass
class LiveRun:
    """The traffic sent and every metric family scraped from before the deploy until after it."""

    traffic: Traffic
    families: dict[str, Family]

    @property
    def sample_names(self) -> dict[str, Family]:
        """Every name a query can select (`x_total`, `x_bucket` ...), to the family exporting it."""
        return {sample: fam for fam in self.families.values() for sample in fam.samples}


@contextlib.contextmanager
def scraping(endpoints: dict[str, int]) -> Iterator[Scraper]:
    scraper = Scraper(endpoints)
    scraper.start()
    try:
        yield scraper
    finally:
        scraper.stop()


def sample_total(port: int, name: str) -> float:
    """Sum of every sample called `name` on one endpoint (0 while the series is absent)."""
    text = http_text(f"http://{HOST}:{port}/metrics")
    return sum(s.value for fam in text_string_to_metric_families(text) for s in fam.samples if s.name == name)


def drive(
    ray: local_ray.LocalRay,
    scraper: Scraper,
    model: str,
    rounds: int = 8,
    agent_route: str | None = None,
    batches: bool = False,
) -> LiveRun:
    """Send the bounded traffic to a running deployment and wait until Ray has exported all of it.

    Every Ray process pushes its metrics to the agent on its own period (seconds); the proxy's request
    counter and vLLM's finished-request counter reaching what they were before plus what was sent,
    then no new family in two scrapes a few seconds apart, mark the end of that lag.
    """
    port = ray.ports.metrics
    requests, answers = "ray_serve_num_http_requests_total", "ray_vllm_request_success_total"
    agent_runs, batches_finished = "ray_agent_runs_total", "ray_batches_finished_total"
    before = {name: sample_total(port, name) for name in (requests, answers, agent_runs, batches_finished)}
    traffic = send_traffic(
        f"http://{HOST}:{ray.ports.serve}", model, rounds=rounds, agent_route=agent_route, batches=batches
    )
    answered = traffic.completions + traffic.streamed + traffic.agent_runs
    wait_until(
        lambda: (
            sample_total(port, requests) >= before[requests] + answered + traffic.failed
            and sample_total(port, answers) >= before[answers] + answered
            and sample_total(port, agent_runs) >= before[agent_runs] + traffic.agent_runs
            and sample_total(port, batches_finished) >= before[batches_finished] + traffic.batches
        ),
        60,
        "the metrics export of the traffic",
    )
    seen = set(scraper.snapshot())

    def settled() -> bool:
        nonlocal seen
        time.sleep(STABLE_FOR_S)
        scraper.scrape_once()
        previous, seen = seen, set(scraper.snapshot())
        return previous == seen

    wait_until(settled, 30, "a stable set of exported metric families", interval_s=0)
    traffic.exported = time.time()
    return LiveRun(traffic=traffic, families=scraper.snapshot())
