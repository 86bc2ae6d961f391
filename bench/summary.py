"""The README's performance section, written from bench/results/*.json (never typed by hand).

python -m bench.summary [--results-dir bench/results] [--write-readme]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.batch_interference import section as batch_section
from bench.gateway_hop import ARMS as HOP_ARMS
from bench.gateway_hop import CPU_TITLE, cpu_table
from bench.report import REPO, RESULTS_DIR, load_line
from bench.stats import Target, table, targets_table

README = REPO / "README.md"
# The README's performance section lies between these two lines.
BEGIN, END = "<!-- bench:begin (python -m bench.summary --write-readme) -->", "<!-- bench:end -->"


def load_results(results_dir: Path) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(results_dir.glob("*.json"))}


def machine_line(result: dict) -> str:
    m = result["machine"]
    packages = ", ".join(f"{name} {version}" for name, version in m["packages"].items() if version)
    return (
        f"{m['cpu_model']}, {m['logical_cpus']} logical CPUs ({m['physical_cores']} cores), "
        f"{m['memory_gib']} GiB, {m['os']}, Python {m['python']}; {packages}; git {m['git']}"
    )


def hop_section(name: str, result: dict) -> str:
    s = result["settings"]
    latency, rps = result["latency_ms"], result["max_rps"]
    added = result["added_latency_ms"]
    rows = [
        (
            arm, latency[arm]["n"], latency[arm]["p50"], latency[arm]["p99"], added.get(arm, {}).get("p50"),
            added.get(arm, {}).get("p99"), rps[arm]["p50"], result["rps_ratio_to_direct"].get(arm),
        )
        for arm in HOP_ARMS
    ]  # fmt: skip
    return "\n".join(
        [
            f"**{name}** (max_tokens {s['max_tokens']}, rate at {s['concurrency']} concurrent callers"
            + (f", Ray env {s['local_env']}" if s.get("local_env") else "")
            + f"; {load_line(result)})",
            "",
            table(
                ["arm", "n", "p50 ms", "p99 ms", "added p50 ms", "added p99 ms", "max req/s", "× direct"],
                rows,
            ),
            "",
            f"{CPU_TITLE}:",
            "",
            cpu_table(result["cpu_ms_per_request"]),
        ]
    )


# full-path's two servers are the chart's two modes on the same model and values.
MODES = {"chart-local-run": "rayservice (make serve)", "vllm": "standalone (make serve MODE=standalone)"}


def full_path_section(name: str, result: dict) -> str:
    s, servers = result["settings"], result["servers"]
    rows = [
        (
            MODES.get(server, server), v["requests"], v["failures"], v["output_tokens_per_s"].get("p50"),
            v["ttft_ms"].get("p50"), v["ttft_ms"].get("p99"), v["itl_ms"].get("p50"), v["itl_ms"].get("p99"),
            f"{v['client_cpu_share_max']:.0%}",
        )
        for server, v in servers.items()
    ]  # fmt: skip
    headers = [
        "mode",
        "requests",
        "failed",
        "tokens/s",
        "TTFT p50",
        "TTFT p99",
        "ITL p50",
        "ITL p99",
        "client CPU",
    ]
    return "\n".join(
        [
            f"**{name}** (vLLM's benchmark client: {s['concurrency']} at once, {s['input_len']} → "
            f"{s['max_tokens']} tokens, {s['rounds']} × {s['num_prompts']} requests per server"
            + (f", Ray env {s['local_env']}" if s.get("local_env") else "")
            + f"; {load_line(result)})",
            "",
            table(headers, rows),
            "",
            f"throughput ratio {result['throughput_ratio']} (median of per-round ratios "
            f"{result['throughput_ratio_paired_median']}); TTFT added {result['ttft_added_ms']} ms; "
            f"ITL added {result['itl_added_ms']} ms"
            + "".join(
                f"; {MODES.get(server, server).split(' ')[0]} start to ready {seconds} s"
                for server, seconds in result.get("start_s", {}).items()
                if seconds is not None
            )
            + "; client CPU: the benchmark client's CPU seconds over its run's seconds × cores (worst run)",
            *cpu_per_token_lines(servers),
        ]
    )  # fmt: skip


def cpu_per_token_lines(servers: dict) -> list[str]:
    """CPU ms per output token of each server's processes (median run), when the result has them."""
    measured = {server: v["cpu_ms_per_token"] for server, v in servers.items() if v.get("cpu_ms_per_token")}
    if not measured:
        return []
    return [
        "",
        "CPU per output token, ms (median run; the engine's processes spin while they wait for each other, "
        "so theirs is what was left to them): "
        + "; ".join(
            f"{MODES.get(server, server).split(' ')[0]}: "
            + ", ".join(f"{role} {ms:.2f}" for role, ms in roles.items())
            for server, roles in measured.items()
        ),
    ]


def cold_start_section(name: str, result: dict) -> str:
    servers = result["servers"]
    milestones = list(next(iter(servers.values())))
    rows = [(MODES.get(server, server), *v.values()) for server, v in servers.items()]
    return "\n".join(
        [
            f"**{name}** (seconds from the start to each milestone, median of {result['settings']['rounds']} "
            f"starts per mode: rayservice, a killed `tiny` replica replaced by Serve, timed from the kill; "
            f"standalone, the vLLM server started; start to first token: from Serve's restart, once it "
            f"noticed the replica gone, or from the server's start; {load_line(result)})",
            "",
            table(["mode", *milestones], rows),
            "",
            f"replica start / standalone start: {result['ratio']}x",
        ]
    )


def harness_section(result: dict) -> str:
    rows = [
        (
            preset,
            r["wall_ms"]["p50"],
            r["wall_ms"]["p90"],
            r["cpu_ms"]["p50"],
            r["helm_ms"]["p50"],
            r["first_ms"],
        )
        for preset, r in result["in_process"].items()
    ]
    cold = result["cold_make_render"]
    return "\n".join(
        [
            f"**harness** ({result['settings']['runs']} renders per preset; {load_line(result)})",
            "",
            table(
                [
                    "preset",
                    "median ms",
                    "p90 ms",
                    "CPU median ms",
                    "Helm's render alone ms",
                    "first render ms",
                ],
                rows,
            ),
            "",
            f"cold `make render VALUES={cold['preset']}`: median {cold['wall_ms']['p50']:.0f} ms "
            f"over {cold['wall_ms']['n']} runs",
        ]
    )


def targets_of(results: dict[str, dict]) -> list[Target]:
    """Every result's targets, named after their result."""
    return [
        Target.from_dict({**t, "target": f"{name}: {t['target']}"})
        for name, result in results.items()
        for t in result["targets"]
    ]


def render(results: dict[str, dict]) -> str:
    if not results:
        return "no results yet: run `make bench`"
    sections = []
    for name, result in results.items():
        if name.startswith("gateway-hop"):
            sections.append(hop_section(name, result))
        elif name.startswith("full-path"):
            sections.append(full_path_section(name, result))
        elif name.startswith("batch-interference"):
            sections.append(batch_section(name, result))
        elif name.startswith("cold-start"):
            sections.append(cold_start_section(name, result))
        elif name == "harness":
            sections.append(harness_section(result))
    machines: dict[str, list[str]] = {}
    for name, result in results.items():
        machines.setdefault(machine_line(result), []).append(name)
    if len(machines) == 1:
        machine_text = f"Machine: {next(iter(machines))}."
    else:  # results measured at different times: each names its own machine and commit
        machine_text = "\n\n".join(
            f"Machine of {', '.join(names)}: {line}." for line, names in machines.items()
        )
    return "\n\n".join(
        [
            machine_text,
            "Reproduce: `make bench` (`python -m bench`; a variant: "
            "`python -m bench.full_path --local-set KEY=VALUE --tag NAME` (a chart value) or "
            "`--local-env KEY=VALUE` (a Ray variable)).",
            *sections,
            "**Targets**\n\n" + targets_table(targets_of(results)),
        ]
    )


def readme_section(readme: str) -> str:
    """The text between the markers; a README without them is an error worth stopping for."""
    try:
        _, rest = readme.split(BEGIN + "\n", 1)
        section, _ = rest.split("\n" + END, 1)
    except ValueError:
        raise SystemExit(f"{README} lacks the performance markers {BEGIN!r} ... {END!r}") from None
    return section


def with_section(readme: str, section: str) -> str:
    return readme.replace(
        BEGIN + "\n" + readme_section(readme) + "\n" + END, BEGIN + "\n" + section + "\n" + END
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--write-readme", action="store_true", help="replace the README's performance section"
    )
    args = parser.parse_args(argv)
    text = render(load_results(args.results_dir))
    if args.write_readme:
        README.write_text(with_section(README.read_text(), text))
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
