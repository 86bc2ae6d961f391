"""Harness speed: render + strict validation of every preset in process, and a cold `make render`.

    python -m bench.harness [--runs 20] [--cold-runs 3]

In process: one warm-up render per preset (its time is reported as `first_ms`), then `--runs` timed
renders through devkit.helm's `render_chart` (what every chart test calls), and as many of Helm's
render of the templates alone (`helm_ms`: the floor any harness over Helm pays; the rest is ours:
values check, sorting, YAML, strict validation, serveConfigV2 against Ray's schema). Cold:
`make render` in a fresh process, imports and Helm SDK load included, output discarded.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import report
from bench.stats import Target, summary, table, targets_table
from devkit.presets import PRESETS

# Each preset by its own file, rendered with the files it is installed with (an overlay on local-cpu).
PRESET_FILES = {str(files[-1].relative_to(report.REPO)): files for files in PRESETS.values()}
COLD_PRESET = "values/local-cpu.yaml"
RENDER_TARGET_MS = 20.0
HELM_OPTIONS = {"namespace": "default", "kube_version": "v1.30.0", "api_versions": []}


def time_renders(values_files: tuple[Path, ...], runs: int) -> dict:
    from devkit.helm import render_chart, render_templates, user_values

    start = time.perf_counter()
    render_chart(values_files=values_files)
    first_ms = (time.perf_counter() - start) * 1000
    values_json = json.dumps(user_values(values_files))
    wall, cpu, helm = [], [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        render_chart(values_files=values_files)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        start = time.perf_counter()
        render_templates(values_json, "llm", HELM_OPTIONS)
        helm.append((time.perf_counter() - start) * 1000)
    return {
        "first_ms": round(first_ms, 3),
        "wall_ms": summary(wall),
        "cpu_ms": summary(cpu),
        "helm_ms": summary(helm),
    }


def profile_renders(values_files: tuple[Path, ...], runs: int, out_dir: Path) -> dict:
    """pyinstrument over `runs` renders: the share of render_chart's time in each step it calls."""
    from pyinstrument import Profiler

    from devkit.helm import render_chart

    profiler = Profiler(interval=0.0005)
    start = time.perf_counter()
    profiler.start()
    for _ in range(runs):
        render_chart(values_files=values_files)
    session = profiler.stop()
    wall_ms = (time.perf_counter() - start) * 1000 / runs
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{values_files[-1].stem}.txt"
    path.write_text(profiler.output_text(unicode=False, color=False), encoding="utf-8")
    render = _find_frame(session.root_frame(), "render_chart")
    # pyinstrument keeps one child per call site and caller line: sum the calls of each step.
    steps: dict[str, float] = {}
    for child in render.children:
        step = f"{child.function} ({child.file_path_short}:{child.line_no})"
        steps[step] = steps.get(step, 0.0) + child.time
    return {
        "file": str(path),
        "profiled_wall_ms_per_render": round(wall_ms, 3),
        "steps_pct": [
            [step, round(100 * seconds / render.time, 1)]
            for step, seconds in sorted(steps.items(), key=lambda item: -item[1])
        ],
    }


def _find_frame(frame, function: str):
    """The first frame calling `function`, depth first."""
    if frame.function == function:
        return frame
    for child in frame.children:
        if (found := _find_frame(child, function)) is not None:
            return found
    return None


def time_cold_make_render(runs: int) -> dict:
    wall = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            ["make", "--no-print-directory", "render", f"VALUES={COLD_PRESET}"],
            cwd=report.REPO, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wall.append((time.perf_counter() - start) * 1000)
    return {"preset": COLD_PRESET, "wall_ms": summary(wall), "runs_ms": [round(w, 1) for w in wall]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed in-process renders per preset (>= 20)")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold `make render` runs")
    parser.add_argument("--max-wait-s", type=float, default=1200, help="give up waiting for a quiet machine")
    parser.add_argument("--out-dir", type=Path, default=report.RESULTS_DIR)
    parser.add_argument("--profile", action="store_true", help="pyinstrument the slowest preset's renders")
    args = parser.parse_args(argv)

    with report.measuring(max_wait_s=args.max_wait_s) as conditions:
        presets = {name: time_renders(files, args.runs) for name, files in PRESET_FILES.items()}
        cold = time_cold_make_render(args.cold_runs)
        slowest = max(presets, key=lambda name: presets[name]["wall_ms"]["p50"])
        profile = (
            profile_renders(PRESET_FILES[slowest], args.runs, args.out_dir / "profiles" / "harness")
            if args.profile
            else {}
        )

    worst = presets[slowest]["wall_ms"]["p50"]
    targets = [Target("render+validate median, slowest preset", worst, RENDER_TARGET_MS, "max", " ms")]
    print(
        table(
            ["preset", "median ms", "p90 ms", "cpu median ms", "Helm's render alone ms", "first render ms"],
            [
                (
                    name,
                    r["wall_ms"]["p50"],
                    r["wall_ms"]["p90"],
                    r["cpu_ms"]["p50"],
                    r["helm_ms"]["p50"],
                    r["first_ms"],
                )
                for name, r in presets.items()
            ],
        )
    )
    print(
        f"\ncold `make render VALUES={COLD_PRESET}`: median {cold['wall_ms']['p50']:.0f} ms {cold['runs_ms']}"
    )
    print("\n" + targets_table(targets))
    if profile:
        print(f"\npyinstrument {slowest}: {profile['profiled_wall_ms_per_render']} ms per render (profiled)")
        print("\n".join(f"  {pct:5.1f}%  {step}" for step, pct in profile["steps_pct"]))
    path = report.write_result(
        "harness",
        {
            "settings": {"runs": args.runs, "cold_runs": args.cold_runs},
            "in_process": presets,
            "cold_make_render": cold,
            "median_of_medians_ms": round(
                statistics.median(r["wall_ms"]["p50"] for r in presets.values()), 3
            ),
            "targets": [t.as_dict() for t in targets],
            "profile": {"preset": slowest, **profile} if profile else {},
        },
        conditions=conditions,
        out_dir=args.out_dir,
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
