"""monitoring/metrics-inventory.json: the metric names of the pinned Ray and vLLM, as the live run
exports them. A version bump (or a changed workload) fails here until `make metrics-inventory`
regenerates the file, and its diff shows which names changed."""

from __future__ import annotations

import json

import pytest

from devkit.metrics_inventory import DCGM_RECORD, INVENTORY, SPORADIC, inventory, versions

COMMITTED = json.loads(INVENTORY.read_text())


class TestMetricsInventory:
    def test_should_record_the_installed_ray_and_vllm_versions_when_generated(self):
        assert COMMITTED["versions"] == versions()

    def test_should_name_the_sporadic_families_it_leaves_out_when_generated(self):
        assert COMMITTED["sporadic"] == SPORADIC
        assert not COMMITTED["families"].keys() & SPORADIC.keys()

    def test_should_carry_the_dcgm_exporter_record_with_its_source_when_generated(self):
        assert COMMITTED["dcgm_exporter"] == json.loads(DCGM_RECORD.read_text())
        assert COMMITTED["dcgm_exporter"]["source"]["default_counters"]["commit"]

    @pytest.mark.live
    def test_should_list_exactly_the_families_the_live_run_exports_when_versions_are_unchanged(self, live):
        now, then = inventory(live.run)["families"], COMMITTED["families"]
        assert {
            "new": sorted(now.keys() - then.keys()),
            "gone": sorted(then.keys() - now.keys()),
            "changed": sorted(name for name in now.keys() & then.keys() if now[name] != then[name]),
        } == {"new": [], "gone": [], "changed": []}, "run `make metrics-inventory` and review the diff"
