"""Fitting prompts and max_tokens to a model's max_model_len: the token estimate and what is sent."""

from __future__ import annotations

import json
import random

import pytest

from loadtest.prompt_set import (
    DEFAULT_PROMPT_FILE,
    ContextFitError,
    Prompt,
    PromptSet,
    estimated_tokens,
    fit_context,
    fitted_max_tokens,
    parse_mix,
)

DEFAULT_MIX = "short=0.5,medium=0.35,long=0.15"


def user(content: str) -> tuple[dict, ...]:
    return ({"role": "user", "content": content},)


def prompt(bucket: str, content_bytes: int) -> Prompt:
    """A one-message prompt estimated at `content_bytes` + 40 tokens (8 for the message, 32 per request)."""
    return Prompt(messages=user("x" * content_bytes), bucket=bucket)


def content_bytes(prompts: PromptSet) -> dict[str, list[int]]:
    return {name: [len(p.messages[0]["content"]) for p in bucket] for name, bucket in prompts.buckets.items()}


def prompt_set(mix: str = DEFAULT_MIX) -> PromptSet:
    """Estimated tokens: short 60; medium 340 and 390; long 740."""
    prompts = [prompt("short", 20), prompt("medium", 300), prompt("medium", 350), prompt("long", 700)]
    return PromptSet(prompts, parse_mix(mix))


class TestEstimatedTokens:
    def test_should_count_a_token_per_byte_plus_the_template_margin_when_content_is_ascii(self):
        assert estimated_tokens(user("hello world")) == 11 + 8 + 32

    def test_should_count_every_utf8_byte_when_content_is_not_ascii(self):
        assert estimated_tokens(user("日本語")) == 9 + 8 + 32

    def test_should_add_the_margin_per_message_when_there_are_several(self):
        messages = ({"role": "system", "content": "ab"}, {"role": "user", "content": "cde"})
        assert estimated_tokens(messages) == 5 + 2 * 8 + 32

    def test_should_count_only_the_margin_when_content_is_missing(self):
        assert estimated_tokens(({"role": "assistant", "content": None}, {"role": "user"})) == 2 * 8 + 32


class TestEstimateAgainstTheTinyModel:
    """The served tiny model's tokenizer (byte-level BPE, 512 entries) needs up to 0.8 tokens per byte."""

    @pytest.fixture(scope="class")
    def tokenizer(self):
        pytest.importorskip("transformers")
        from devkit.tiny_model import train_tokenizer

        return train_tokenizer(vocab_size=512)

    def test_should_never_count_fewer_tokens_than_the_template_renders_when_given_the_shipped_prompts(
        self, tokenizer
    ):
        lines = DEFAULT_PROMPT_FILE.read_text(encoding="utf-8").splitlines()
        under = []
        for line in filter(None, lines):
            entry = json.loads(line)
            messages = entry.get("messages") or list(user(entry["prompt"]))
            rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)
            if len(rendered["input_ids"]) > estimated_tokens(tuple(messages)):
                under.append(line[:60])
        assert under == []


class TestFittedMaxTokens:
    def test_should_keep_max_tokens_when_the_longest_prompt_fits_next_to_it(self):
        assert fitted_max_tokens(512, 128, longest_prompt=340) == 128

    def test_should_lower_max_tokens_when_the_longest_prompt_needs_the_room(self):
        assert fitted_max_tokens(512, 400, longest_prompt=200) == 312

    def test_should_stop_at_half_the_context_when_the_longest_prompt_needs_more(self):
        assert fitted_max_tokens(512, 500, longest_prompt=1000) == 256

    def test_should_never_raise_max_tokens_when_it_is_below_half_the_context(self):
        assert fitted_max_tokens(512, 100, longest_prompt=1000) == 100


class TestFitContext:
    def test_should_skip_prompts_over_the_budget_when_max_tokens_leaves_too_little(self):
        fit = fit_context(prompt_set(), max_model_len=512, max_tokens=128)
        assert (fit.max_tokens, fit.prompt_budget) == (128, 384)
        assert content_bytes(fit.prompts) == {"short": [20], "medium": [300]}
        assert fit.prompts.weights == [0.5, 0.35]
        assert fit.kept == {"short": (1, 1), "medium": (1, 2), "long": (0, 1)}
        assert fit.shortened is True

    def test_should_say_what_is_skipped_when_prompts_are_dropped(self):
        fit = fit_context(prompt_set(), max_model_len=512, max_tokens=128)
        assert fit.describe("tiny") == (
            "model tiny: max_model_len 512; max_tokens 128; prompts over 384 estimated tokens are skipped: "
            "medium 1 of 2 kept, long dropped (0 of 1 fit)"
        )

    def test_should_lower_max_tokens_and_say_so_when_it_alone_leaves_no_room(self):
        fit = fit_context(prompt_set(), max_model_len=512, max_tokens=1024)
        assert (fit.max_tokens, fit.prompt_budget) == (256, 256)
        assert list(fit.prompts.buckets) == ["short"]
        assert fit.describe("tiny") == (
            "model tiny: max_model_len 512; max_tokens 1024 -> 256; prompts over 256 estimated tokens are "
            "skipped: medium dropped (0 of 2 fit), long dropped (0 of 1 fit)"
        )

    def test_should_send_everything_as_set_when_the_context_is_large(self):
        prompts = prompt_set()
        fit = fit_context(prompts, max_model_len=8192, max_tokens=128)
        assert fit.max_tokens == 128
        assert fit.prompts.buckets == prompts.buckets
        assert fit.prompts.weights == [0.5, 0.35, 0.15]
        assert fit.shortened is False
        assert fit.describe("big") == "model big: max_model_len 8192; max_tokens 128; every prompt fits"

    def test_should_only_draw_prompts_within_the_budget_when_sampling_the_fitted_set(self):
        fit = fit_context(prompt_set(), max_model_len=512, max_tokens=128)
        rng = random.Random(3)
        drawn = {estimated_tokens(fit.prompts.sample(rng).messages) for _ in range(500)}
        assert drawn == {60, 340}

    def test_should_leave_out_zero_weight_buckets_when_fitting(self):
        fit = fit_context(prompt_set("short=0,medium=1,long=1"), max_model_len=512, max_tokens=128)
        assert fit.kept == {"medium": (1, 2), "long": (0, 1)}
        assert list(fit.prompts.buckets) == ["medium"]

    def test_should_raise_when_no_prompt_of_the_mix_fits(self):
        with pytest.raises(ContextFitError) as raised:
            fit_context(prompt_set("long=1"), max_model_len=512, max_tokens=128)
        assert str(raised.value) == (
            "no prompt of the mix fits max_model_len 512 with max_tokens 128: the shortest is estimated at "
            "740 tokens, 384 are left (lower --max-tokens, use shorter prompts, or pass --no-fit-context)"
        )

    def test_should_drop_the_long_bucket_when_the_shipped_prompts_meet_the_tiny_model(self):
        fit = fit_context(PromptSet.load(DEFAULT_PROMPT_FILE, DEFAULT_MIX), max_model_len=512, max_tokens=128)
        assert fit.kept == {"short": (10, 10), "medium": (8, 8), "long": (0, 6)}
        assert fit.describe("tiny") == (
            "model tiny: max_model_len 512; max_tokens 128; prompts over 384 estimated tokens are skipped: "
            "long dropped (0 of 6 fit)"
        )
