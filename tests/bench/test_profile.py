"""py-spy's collapsed stacks summarised as the frames where time went."""

from __future__ import annotations

from bench.profile import describe, package_of, top_frames

COLLAPSED = """\
T;run (asyncio/base_events.py:600);_run_once (asyncio/base_events.py:1900);select (selectors.py:468) 6
T;run (asyncio/base_events.py:600);_run_once (asyncio/base_events.py:1910);handle (proxy.py:10) 3
T;run (asyncio/base_events.py:600);dumps (json/__init__.py:231) 1
"""


class TestTopFrames:
    def test_should_rank_self_time_when_stacks_end_in_different_frames(self):
        found = top_frames(COLLAPSED, top=2)
        assert found["samples"] == 10
        assert found["self_pct"] == [["select (selectors.py)", 60.0], ["handle (proxy.py)", 30.0]]

    def test_should_merge_line_numbers_when_counting_inclusive_time(self):
        found = top_frames(COLLAPSED)
        inclusive = dict(map(tuple, found["inclusive_pct"]))
        assert inclusive["_run_once (asyncio/base_events.py)"] == 90.0
        assert inclusive["run (asyncio/base_events.py)"] == 100.0

    def test_should_skip_lines_when_they_carry_no_count(self):
        assert top_frames("garbage\n\n")["samples"] == 0

    def test_should_sum_self_time_by_package_when_frames_share_one(self):
        found = top_frames(COLLAPSED)
        assert found["self_by_package_pct"] == [["selectors", 60.0], ["proxy", 30.0], ["json", 10.0]]


class TestPackageOf:
    def test_should_keep_the_subpackage_when_the_frame_is_in_ray_or_vllm(self):
        assert package_of("handle (ray/serve/_private/proxy.py)") == "ray/serve"
        assert package_of("x (vllm/entrypoints/openai/api_server.py)") == "vllm/entrypoints"

    def test_should_use_the_top_package_or_module_when_the_frame_is_elsewhere(self):
        assert package_of("Router.app (starlette/routing.py)") == "starlette"
        assert package_of("Thread.run (threading.py)") == "threading"
        assert package_of("<lambda> (<string>)") == "<string>"


class TestDescribe:
    def test_should_list_packages_then_frames_when_the_profile_has_samples(self):
        text = describe("gateway", {"file": "x", **top_frames(COLLAPSED, top=1)})
        assert text.splitlines() == [
            "py-spy gateway: 10 samples holding the GIL",
            "  by package: selectors 60.0%",
            "   60.0%  select (selectors.py)",
        ]

    def test_should_show_the_error_when_py_spy_failed(self):
        assert describe("proxy", {"error": "Permission denied"}) == "py-spy proxy: failed: Permission denied"
