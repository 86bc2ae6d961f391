"""The chart's local run (`tools/serve_local.py --detach`, as `make serve` runs it) on bench ports."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path

import psutil

from devkit.local_ray import Ports
from devkit.local_run import LocalRun
from devkit.processes import has_title
from devkit.serve_local import STATE_DIR

PRESET = "values/local-cpu.yaml"
# In the 47000-47999 range the bench may use: a user's `make serve` and the test suite run side by side.
PORTS = Ports(
    gcs=47379, dashboard=47265, serve=47000, metrics=47080, client=47001,
    dashboard_agent=47266, autoscaler_metrics=47217, dashboard_metrics=47227,
)  # fmt: skip
MODEL = "tiny"  # the preset's first model


def add_variant_options(parser: argparse.ArgumentParser) -> None:
    """Options that run the same local run with changed Ray settings, to measure a candidate fix."""
    parser.add_argument(
        "--local-env", action="append", default=[], metavar="KEY=VALUE",
        help="environment variable for the local run's Ray processes (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--local-set", action="append", default=[], metavar="KEY=VALUE",
        help="a chart value for the local run, as helm --set (repeatable): modelDefaults.streamIntervalMs=10",
    )  # fmt: skip
    parser.add_argument(
        "--tag", default="", help="suffix of the result's name, for a --local-env/--local-set run"
    )
    parser.add_argument(
        "--attach", action="store_true",
        help="measure the local run already up (`make serve`: its RAY_VLLM_STATE_DIR and RAY_VLLM_*_PORT "
        "variables) instead of starting one on the bench ports; it is left running",
    )  # fmt: skip


def variant(args: argparse.Namespace, name: str) -> tuple[str, dict[str, str], tuple[str, ...]]:
    """(result name, extra environment, chart values) of a run with `add_variant_options`."""
    env = dict(item.split("=", 1) for item in args.local_env)
    return name + (f"-{args.tag}" if args.tag else ""), env, tuple(args.local_set)


@contextlib.contextmanager
def chart_local_run(
    state_dir: Path,
    extra_env: dict[str, str],
    timeout_s: int = 900,
    attach: bool = False,
    batch: bool = False,
    set_values: tuple[str, ...] = (),
) -> Iterator[LocalRun]:
    """`serve_local.py -f values/local-cpu.yaml --detach`, stopped (its whole process tree) on exit.

    `extra_env` reaches every Ray worker (they inherit `ray start`'s environment). The RAG and agent
    apps and the Batcher are off: no benchmark sends them anything, and their start would take the
    CPU the models start on. `batch`: the Batcher on, its storage in `state_dir`.
    `set_values`: chart values over the preset's, as helm --set.
    `attach`: the run `tools/serve_local.py` would stop (`make serve`'s), as it is, left running.
    """
    if attach:
        if extra_env or set_values:
            raise SystemExit(
                f"--attach measures a run as it was started; {sorted(extra_env) + list(set_values)} need "
                "a run of its own"
            )
        run = LocalRun(Ports.from_env(), STATE_DIR)
        if run.ray.running_pid() is None:
            raise SystemExit(f"--attach: no local run is up in {STATE_DIR} (start one with `make serve`)")
        yield run
        return
    state_dir.mkdir(parents=True, exist_ok=True)
    batcher = (f"batch.storage={state_dir / 'batch'}",) if batch else ("batch.enabled=false",)
    run = LocalRun(
        PORTS,
        state_dir,
        (PRESET,),
        ("rag.enabled=false", "agent.enabled=false", *batcher, *set_values),
        extra_env=extra_env,
    )
    try:
        run.start(timeout_s)
        yield run
    finally:
        run.stop()


def process_named(run: LocalRun, name: str) -> psutil.Process:
    """The one process of the run titled `ray::<name>` (Ray appends `.<method>` while one runs)."""
    found = [p for p in run.processes() if has_title(p, f"ray::{name}")]
    if len(found) != 1:
        raise LookupError(f"expected one process titled ray::{name}, found {len(found)}")
    return found[0]
