"""Locust load test of the OpenAI-compatible chat endpoint, with LLM latency metrics.

    locust --config loadtest/locust.conf                       # web UI on 127.0.0.1:8089
    locust --config loadtest/locust.conf --headless -u 8 -t 5m
    locust --config loadtest/locust.conf -f loadtest/chat.py,loadtest/shapes.py   # step load shape

Each chat request is one `POST /v1/chat/completions` row (its time is the whole exchange, body
included). Successful completions add rows of their own request type, one per model:
TTFT, ITL (mean inter-token latency), E2E, TOKENS/S (output tokens per second; the row's average
size is output tokens) and GOODPUT (requests within the --slo-* objectives: its requests/s is the
goodput). The "Aggregated" row therefore mixes requests and metrics; read the POST rows for the
request rate. Thresholds (--max-error-ratio, --max-p95-*-ms, ...) set the exit code when Locust quits.

Context fit (on unless --no-fit-context): when a test starts, the master (or the local runner) reads
each model's max_model_len from `GET /v1/models`; each request then sends only prompts whose estimated
tokens fit next to max_tokens, and max_tokens is lowered when it leaves no room for the prompts (see
prompt_set.py: one token per UTF-8 byte plus a chat-template margin, as there is no tokenizer here).
One line per model says what is shortened; a mix of which no prompt fits stops the run. A model
without max_model_len in its card gets prompts and max_tokens as set.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import gevent
from locust import HttpUser, events, task
from locust.exception import StopUser
from locust.runners import WorkerRunner
from locust.stats import RequestStats, StatsEntry

# After locust: its gevent monkey-patching must precede urllib3 loading ssl (else a RecursionError).
from requests import RequestException
from requests import get as http_get

from loadtest.llm_stats import (
    GOODPUT,
    LATENCY_METRICS,
    TOKENS_PER_S,
    RunSummary,
    Slo,
    Thresholds,
    metric_events,
    threshold_violations,
)
from loadtest.openai_wire import (
    CHAT_PATH,
    MODELS_PATH,
    Completion,
    StreamReader,
    WireError,
    build_chat_body,
    context_lengths,
    model_ids,
    read_completion,
)
from loadtest.prompt_set import DEFAULT_PROMPT_FILE, ContextFit, ContextFitError, PromptSet, fit_context

logger = logging.getLogger("loadtest.chat")

THRESHOLD_EXIT_CODE = 3
# parsed_options attribute with {model: max_model_len or None}: spawn messages carry parsed_options to
# every worker, also to workers that join later, so the master's reading reaches them all.
CONTEXT_LIMITS = "llm_context_limits"
MODELS_TIMEOUT_S = 30.0


@events.init_command_line_parser.add_listener
def add_options(parser, **_kwargs) -> None:
    # Defaults carry the type: the web UI casts its form values to the default's type.
    add = parser.add_argument
    add("--model", default="", help="Model id(s), comma-separated; empty: the first of GET /v1/models")
    add("--max-tokens", type=int, default=128, help="max_tokens of each request")
    add("--prompt-file", default=str(DEFAULT_PROMPT_FILE), help="JSON-lines prompt set (see prompt_set.py)")
    add("--prompt-mix", default="short=0.5,medium=0.35,long=0.15", help="Length buckets and their weights")
    add(
        "--no-fit-context",
        action="store_true",
        default=False,
        help="Send prompts and max_tokens as set, even beyond a model's max_model_len",
    )
    add("--no-stream", action="store_true", default=False, help="Non-streamed requests (no TTFT/ITL)")
    add("--ignore-eos", action="store_true", default=False, help="vLLM: always generate max_tokens")
    add("--temperature", type=float, default=0.0, help="Sampling temperature")
    add("--think-time", type=float, default=0.0, help="Seconds each user waits between requests")
    add("--api-key-env", default="OPENAI_API_KEY", help="Environment variable holding the API key, if any")
    add("--request-timeout", type=float, default=300.0, help="Seconds before a request counts as failed")
    add("--slo-ttft-ms", type=float, default=2000.0, help="Goodput objective for TTFT (0: none)")
    add("--slo-itl-ms", type=float, default=200.0, help="Goodput objective for mean ITL (0: none)")
    add("--slo-e2e-ms", type=float, default=0.0, help="Goodput objective for end-to-end latency (0: none)")
    add("--max-error-ratio", type=float, default=0.01, help="Fail the run above this failed/all ratio")
    add("--max-p95-ttft-ms", type=float, default=0.0, help="Fail the run above this p95 TTFT (0: off)")
    add("--max-p95-itl-ms", type=float, default=0.0, help="Fail the run above this p95 ITL (0: off)")
    add("--max-p95-e2e-ms", type=float, default=0.0, help="Fail the run above this p95 E2E (0: off)")
    add("--min-goodput-ratio", type=float, default=0.0, help="Fail the run below this goodput ratio (0: off)")
    add("--min-output-tokens-per-s", type=float, default=0.0, help="Fail the run below this (0: off)")
    add("--llm-summary-file", default="", help="Write the LLM run summary (JSON) here on quit")
    # Locust's web UI listens on every interface by default; keep it on loopback unless asked.
    parser.set_defaults(web_host="127.0.0.1")


@dataclass(frozen=True)
class ChatSettings:
    models: tuple[str, ...]
    max_tokens: int
    prompt_file: str
    prompt_mix: str
    fit_context: bool
    stream: bool
    ignore_eos: bool
    temperature: float
    think_time: float
    api_key_env: str
    request_timeout: float
    slo: Slo
    thresholds: Thresholds

    @classmethod
    def from_options(cls, options) -> ChatSettings:
        return cls(
            models=tuple(m.strip() for m in options.model.split(",") if m.strip()),
            max_tokens=options.max_tokens,
            prompt_file=options.prompt_file,
            prompt_mix=options.prompt_mix,
            fit_context=not options.no_fit_context,
            stream=not options.no_stream,
            ignore_eos=options.ignore_eos,
            temperature=options.temperature,
            think_time=options.think_time,
            api_key_env=options.api_key_env,
            request_timeout=options.request_timeout,
            slo=Slo(ttft_ms=options.slo_ttft_ms, itl_ms=options.slo_itl_ms, e2e_ms=options.slo_e2e_ms),
            thresholds=Thresholds(
                max_error_ratio=options.max_error_ratio,
                max_p95_ttft_ms=options.max_p95_ttft_ms,
                max_p95_itl_ms=options.max_p95_itl_ms,
                max_p95_e2e_ms=options.max_p95_e2e_ms,
                min_goodput_ratio=options.min_goodput_ratio,
                min_output_tokens_per_s=options.min_output_tokens_per_s,
            ),
        )

    @property
    def headers(self) -> dict[str, str]:
        api_key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}


@lru_cache(maxsize=8)
def load_prompts(path: str, mix: str) -> PromptSet:
    return PromptSet.load(path, mix)


@lru_cache(maxsize=32)
def fitted_prompts(path: str, mix: str, max_model_len: int, max_tokens: int) -> ContextFit:
    return fit_context(load_prompts(path, mix), max_model_len, max_tokens)


def read_context_limits(host: str, headers: dict[str, str]) -> dict[str, int | None] | None:
    """Each served model's max_model_len; None (nothing is fitted) when /v1/models cannot be read."""
    try:
        response = http_get(f"{host.rstrip('/')}{MODELS_PATH}", headers=headers, timeout=MODELS_TIMEOUT_S)
        response.raise_for_status()
        return context_lengths(response.json())
    except (RequestException, ValueError) as e:
        # The requests then fail on their own (401, connection refused), with their own error rows.
        logger.warning(
            "context fit: cannot read %s (%s); prompts and max_tokens are sent as set", MODELS_PATH, e
        )
        return None


def announce_fit(model: str, max_model_len: int | None, settings: ChatSettings) -> None:
    """One log line per model: a warning when fitting shortens anything. Raises ContextFitError."""
    if max_model_len is None:
        logger.info("context fit: model %s: no max_model_len in %s; sent as set", model, MODELS_PATH)
        return
    fit = fitted_prompts(settings.prompt_file, settings.prompt_mix, max_model_len, settings.max_tokens)
    (logger.warning if fit.shortened else logger.info)("context fit: %s", fit.describe(model))


@events.test_start.add_listener
def read_model_contexts(environment, **_kwargs) -> None:
    """Before the load: each model's max_model_len for the users; a mix that cannot fit stops the run."""
    options = environment.parsed_options
    if isinstance(environment.runner, WorkerRunner) or options is None:
        return  # workers get the master's reading with their spawn message
    settings = ChatSettings.from_options(options)
    limits = read_context_limits(environment.host or "", settings.headers) if settings.fit_context else None
    setattr(options, CONTEXT_LIMITS, limits or {})
    if limits is None:
        return
    # The models the users will send to: --model, else the first listed (as _discover_model picks).
    for model in settings.models or tuple(limits)[:1]:
        try:
            announce_fit(model, limits.get(model), settings)
        except ContextFitError as e:
            logger.error("context fit: model %s: %s", model, e)
            # Not from inside the runner's start: a greenlet of its own ends the run (stops it in the web UI).
            runner = environment.runner
            gevent.spawn(runner.quit if environment.web_ui is None else runner.stop)
            return


class ChatUser(HttpUser):
    """One chat client: sends a request, reads the whole answer, waits --think-time, repeats."""

    def wait_time(self) -> float:
        return self.settings.think_time

    def on_start(self) -> None:
        # Read per user start, so options changed in the web UI apply to the next test.
        self.settings = ChatSettings.from_options(self.environment.parsed_options)
        self.prompts = load_prompts(self.settings.prompt_file, self.settings.prompt_mix)
        self.rng = random.Random()
        self.headers = self.settings.headers
        self.models = list(self.settings.models)
        self.context_limits = getattr(self.environment.parsed_options, CONTEXT_LIMITS, None) or {}

    @task
    def chat(self) -> None:
        if not self.models and not self._discover_model():
            return
        model = self.rng.choice(self.models)
        settings = self.settings
        prompts, max_tokens = self._fitted(model)
        body = build_chat_body(
            model,
            list(prompts.sample(self.rng).messages),
            max_tokens=max_tokens,
            stream=settings.stream,
            temperature=settings.temperature,
            ignore_eos=settings.ignore_eos,
        )
        start = time.perf_counter()
        with self.client.post(
            CHAT_PATH,
            json=body,
            headers=self.headers,
            stream=settings.stream,
            timeout=settings.request_timeout,
            name=f"{CHAT_PATH} [{model}]",
            catch_response=True,
        ) as response:
            completion = self._read(response, start)
            # Locust stops its clock at the response headers when streaming; count the whole answer.
            response.request_meta["response_time"] = (time.perf_counter() - start) * 1000
            if completion is not None:
                response.request_meta["response_length"] = completion.response_bytes
        if completion is not None:
            for request_type, value, length in metric_events(completion, settings.slo):
                self.environment.events.request.fire(
                    request_type=request_type,
                    name=model,
                    response_time=value,
                    response_length=length,
                    exception=None,
                    context={},
                )

    def _fitted(self, model: str) -> tuple[PromptSet, int]:
        """The prompts and max_tokens for `model`: fitted to its context when the test start read one."""
        max_model_len = self.context_limits.get(model)
        if max_model_len is None:
            return self.prompts, self.settings.max_tokens
        try:
            fit = fitted_prompts(
                self.settings.prompt_file, self.settings.prompt_mix, max_model_len, self.settings.max_tokens
            )
        except ContextFitError as e:
            # The test start stops such a run; until it has, this user must not retry in a tight loop.
            logger.error("context fit: model %s: %s", model, e)
            raise StopUser() from e
        return fit.prompts, fit.max_tokens

    def _read(self, response, start: float) -> Completion | None:
        """The completion, or None after marking the request failed with the reason."""
        try:
            if not response.ok:
                # Reading an error body can fail too (a server going away): that is the same failure.
                detail = response.text[:300] if response.status_code else getattr(response, "error", "")
                response.failure(f"HTTP {response.status_code}: {detail}")
                return None
            if not self.settings.stream:
                return read_completion(response.content, start, time.perf_counter())
            reader = StreamReader(start)
            # chunk_size=None yields each HTTP chunk as it arrives: one SSE event, not a full buffer.
            for data in response.iter_content(chunk_size=None):
                reader.feed(data, time.perf_counter())
            return reader.finish(time.perf_counter())
        except (WireError, RequestException) as e:
            response.failure(f"{type(e).__name__}: {e}")
            return None

    def _discover_model(self) -> bool:
        with self.client.get(MODELS_PATH, headers=self.headers, catch_response=True) as response:
            try:
                ids = model_ids(response.json()) if response.ok else []
            except (WireError, ValueError) as e:
                response.failure(f"{type(e).__name__}: {e}")
                return False
            if not ids:
                response.failure(f"HTTP {response.status_code}: no model to load: {response.text[:200]}")
                return False
        self.models = [ids[0]]
        logger.info("no --model given; using %s, the first of %s", ids[0], ids)
        return True


def merged_entry(stats: RequestStats, request_type: str) -> StatsEntry:
    """All models' rows of one request type as one entry, for run-wide percentiles."""
    merged = StatsEntry(stats, request_type, request_type)
    for entry in stats.entries.values():
        if entry.method == request_type:
            merged.extend(entry)
    return merged


def run_summary(stats: RequestStats) -> RunSummary:
    chat = [e for e in stats.entries.values() if e.method == "POST" and e.name.startswith(CHAT_PATH)]
    latencies = {metric: merged_entry(stats, metric) for metric in LATENCY_METRICS}
    started, last = stats.start_time, stats.last_request_timestamp
    return RunSummary(
        requests=sum(e.num_requests for e in chat),
        failures=sum(e.num_failures for e in chat),
        duration_s=(last - started) if last and started else 0.0,
        p95_ms={
            m: e.get_response_time_percentile(0.95) if e.num_requests else None for m, e in latencies.items()
        },
        output_tokens=merged_entry(stats, TOKENS_PER_S).total_content_length,
        good=merged_entry(stats, GOODPUT).num_requests,
    )


@events.init.add_listener
def add_web_ui_tab(environment, **_kwargs) -> None:
    """An "LLM" tab in the web UI with the run summary (tokens/s, goodput, p95s, error ratio)."""
    web_ui = environment.web_ui
    if web_ui is None:
        return
    from flask import request  # Locust's own web UI dependency; only needed with a web UI

    web_ui.template_args["extended_tabs"] = [{"title": "LLM", "key": "llm"}]
    web_ui.template_args["extended_tables"] = [
        {
            "key": "llm",
            "structure": [{"key": "metric", "title": "Metric"}, {"key": "value", "title": "Value"}],
        }
    ]

    @web_ui.app.after_request
    def add_llm_summary(response):
        if request.path.endswith("/stats/requests") and response.is_json:
            rows = flatten(run_summary(environment.runner.stats).as_dict())
            data = [{"metric": key, "value": value} for key, value in rows.items()]
            response.set_data(json.dumps({**response.json, "extended_stats": [{"key": "llm", "data": data}]}))
        return response


def flatten(summary: dict) -> dict:
    """One level of nesting folded into the keys ("p95_ms TTFT"), for a two-column table."""
    rows: dict = {}
    for key, value in summary.items():
        if isinstance(value, dict):
            rows.update({f"{key} {inner}": v for inner, v in value.items()})
        else:
            rows[key] = value
    return rows


@events.quitting.add_listener
def apply_thresholds(environment, **_kwargs) -> None:
    """Print the LLM summary and set the exit code from the thresholds (the master decides)."""
    if isinstance(environment.runner, WorkerRunner):
        return
    options = environment.parsed_options
    summary = run_summary(environment.runner.stats)
    violations = threshold_violations(summary, ChatSettings.from_options(options).thresholds)
    report = {**summary.as_dict(), "threshold_violations": violations}
    logger.info("LLM summary: %s", json.dumps(report))
    if options.llm_summary_file:
        path = Path(options.llm_summary_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for violation in violations:
        logger.error("threshold failed: %s", violation)
    if violations:
        environment.process_exit_code = THRESHOLD_EXIT_CODE
    elif not environment.runner.exceptions:
        # Within thresholds: a tolerated failure ratio must not turn into Locust's "any error" exit 1.
        environment.process_exit_code = 0
