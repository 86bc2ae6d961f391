"""Standalone vLLM gets the preset's engine arguments, as flags."""

from __future__ import annotations

import os

from bench.report import REPO
from bench.vllm_server import cli_flags, preset_engine


class TestCliFlags:
    def test_should_spell_each_kwarg_as_a_flag_when_converting(self):
        assert cli_flags({"max_model_len": 512, "dtype": "float32", "kv_cache_memory_bytes": 268435456}) == [
            "--max-model-len", "512", "--dtype", "float32", "--kv-cache-memory-bytes", "268435456",
        ]  # fmt: skip

    def test_should_use_bare_and_negated_flags_when_the_value_is_a_bool(self):
        assert cli_flags({"enforce_eager": True, "enable_prefix_caching": False}) == [
            "--enforce-eager", "--no-enable-prefix-caching",
        ]  # fmt: skip

    def test_should_pass_json_and_skip_none_when_values_are_structured_or_unset(self):
        assert cli_flags({"limit_mm_per_prompt": {"image": 1}, "tokenizer": None}) == [
            "--limit-mm-per-prompt", '{"image": 1}',
        ]  # fmt: skip


class TestPresetEngine:
    def test_should_give_the_local_presets_engine_args_when_rendered(self, monkeypatch):
        monkeypatch.setenv("MODEL_ROOT", str(REPO))
        source, kwargs = preset_engine()
        assert source == os.path.join(REPO, ".cache", "tiny-llama")
        assert kwargs == {
            "max_model_len": 512, "gpu_memory_utilization": 0.9, "dtype": "float32", "enforce_eager": True,
            "max_num_seqs": 8, "kv_cache_memory_bytes": 268435456, "tensor_parallel_size": 1,
        }  # fmt: skip
