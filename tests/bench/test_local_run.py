"""The bench's loopback check and its variant options."""

from __future__ import annotations

import argparse

import pytest

from bench.local_run import add_variant_options, variant
from devkit.loopback import is_loopback


class TestIsLoopback:
    @pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1"])
    def test_should_accept_when_bound_to_loopback(self, address):
        assert is_loopback(address)

    @pytest.mark.parametrize("address", ["0.0.0.0", "::", "192.0.2.2", "::ffff:10.0.0.1"])
    def test_should_reject_when_bound_to_any_or_a_network_address(self, address):
        assert not is_loopback(address)


class TestVariant:
    def parse(self, *argv: str) -> argparse.Namespace:
        parser = argparse.ArgumentParser()
        add_variant_options(parser)
        return parser.parse_args(argv)

    def test_should_keep_the_name_and_add_nothing_when_no_variant_is_given(self):
        assert variant(self.parse(), "full-path") == ("full-path", {}, ())

    def test_should_suffix_the_name_and_pass_the_variables_when_tagged(self):
        args = self.parse("--local-env", "A=1", "--local-env", "B=x=y", "--tag", "fast")
        assert variant(args, "full-path") == ("full-path-fast", {"A": "1", "B": "x=y"}, ())

    def test_should_pass_the_chart_values_when_set(self):
        args = self.parse("--local-set", "modelDefaults.streamIntervalMs=10", "--tag", "s10")
        assert variant(args, "full-path") == ("full-path-s10", {}, ("modelDefaults.streamIntervalMs=10",))
