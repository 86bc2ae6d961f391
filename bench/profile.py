"""py-spy profiles of running processes while a benchmark loads them, summarised as top frames."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"
_LINE_NUMBER = re.compile(r":\d+\)$")


def start_recording(pids: dict[str, int], duration_s: int, out_dir: Path, rate: int = 100) -> dict:
    """One `py-spy record` per process, sampling without pausing it; returns {name: (Popen, path)}.

    `--gil`: only the thread holding the GIL is sampled, so threads parked in Ray's C++ core or an
    event loop's poll do not drown the Python code that burns the CPU.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    recordings = {}
    for name, pid in pids.items():
        path = out_dir / f"{name}.collapsed.txt"
        cmd = [
            str(PY_SPY), "record", "--pid", str(pid), "--duration", str(duration_s), "--rate", str(rate),
            "--format", "raw", "--nonblocking", "--gil", "--output", str(path),
        ]  # fmt: skip
        recordings[name] = (subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), path)
    return recordings


def finish_recording(recordings: dict, timeout_s: float, top: int = 12) -> dict:
    """Wait for every py-spy, then the top frames of each profile (or py-spy's error)."""
    summaries = {}
    for name, (proc, path) in recordings.items():
        try:
            _, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
        if proc.returncode != 0 or not path.exists():
            summaries[name] = {"error": stderr.decode(errors="replace")[-500:]}
            continue
        summaries[name] = {"file": str(path), **top_frames(path.read_text(), top)}
    return summaries


def top_frames(collapsed: str, top: int = 12) -> dict:
    """From py-spy's collapsed stacks (`frame;frame;... count`): the frames where samples were taken
    (self), the packages those frames belong to, and the frames on the stack (inclusive), each as
    percentages of all samples."""
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_LINE_NUMBER.sub(")", frame) for frame in stack.split(";")]
        total += count
        own[frames[-1]] += count
        packages[package_of(frames[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count

    def percentages(counter: Counter[str]) -> list[list]:
        return [[frame, round(100 * n / total, 1)] for frame, n in counter.most_common(top)]

    return {
        "samples": total,
        "self_pct": percentages(own),
        "self_by_package_pct": percentages(packages),
        "inclusive_pct": percentages(inclusive),
    }


def package_of(frame: str) -> str:
    """`ray/serve` of `handle (ray/serve/_private/proxy.py)`, `asyncio` of `run (asyncio/base_events.py)`;
    a module outside any package (`threading.py`) is its own name."""
    path = frame.rpartition(" (")[2].rstrip(")")
    parts = path.split("/")
    if len(parts) == 1:
        return parts[0].removesuffix(".py")
    # Ray and vLLM are too big to be one bucket: keep their subpackage (ray/serve, ray/_private).
    return "/".join(parts[:2]) if parts[0] in ("ray", "vllm") and len(parts) > 2 else parts[0]


def describe(name: str, found: dict) -> str:
    """A profile summary for the terminal: samples, self time by package, then the top frames."""
    if "error" in found:
        return f"py-spy {name}: failed: {found['error']}"
    lines = [f"py-spy {name}: {found['samples']} samples holding the GIL"]
    lines.append("  by package: " + ", ".join(f"{pkg} {pct}%" for pkg, pct in found["self_by_package_pct"]))
    lines += [f"  {pct:5.1f}%  {frame}" for frame, pct in found["self_pct"]]
    return "\n".join(lines)
