"""The prompt set: file format, length buckets and the weighted draw."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from loadtest.prompt_set import DEFAULT_PROMPT_FILE, PromptSet, bucket_for_words, parse_mix, parse_prompt_line


def write_prompts(path: Path, entries: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    return path


class TestParsePromptLine:
    def test_should_wrap_a_user_message_when_line_has_prompt(self):
        prompt = parse_prompt_line('{"prompt": "hello there"}')
        assert prompt.messages == ({"role": "user", "content": "hello there"},)
        assert prompt.bucket == "short"

    def test_should_keep_messages_and_bucket_when_given(self):
        line = json.dumps(
            {
                "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}],
                "bucket": "long",
            }
        )
        prompt = parse_prompt_line(line)
        assert [m["role"] for m in prompt.messages] == ["system", "user"]
        assert prompt.bucket == "long"

    def test_should_raise_when_line_has_neither_prompt_nor_messages(self):
        with pytest.raises(ValueError, match="needs 'messages' or 'prompt'"):
            parse_prompt_line('{"text": "x"}')


class TestBucketForWords:
    @pytest.mark.parametrize(
        ("words", "bucket"), [(1, "short"), (20, "short"), (21, "medium"), (60, "medium"), (61, "long")]
    )
    def test_should_pick_bucket_when_word_count_is_given(self, words, bucket):
        assert bucket_for_words(words) == bucket


class TestParseMix:
    def test_should_read_weights_when_mix_is_well_formed(self):
        assert parse_mix(" short=0.6, medium=0.4 ") == {"short": 0.6, "medium": 0.4}

    def test_should_mean_equal_weights_when_mix_is_empty(self):
        assert parse_mix("") == {}

    @pytest.mark.parametrize("text", ["short", "short=-1", "short=0,long=0", "short=x"])
    def test_should_raise_when_mix_is_malformed(self, text):
        with pytest.raises(ValueError):
            parse_mix(text)


class TestPromptSet:
    def test_should_draw_buckets_by_weight_when_sampling(self, tmp_path):
        entries = [{"prompt": "a b", "bucket": "short"}, {"prompt": "c d", "bucket": "long"}]
        prompts = PromptSet.load(write_prompts(tmp_path / "p.jsonl", entries), "short=3,long=1")
        rng = random.Random(7)
        drawn = Counter(prompts.sample(rng).bucket for _ in range(8000))
        assert drawn["short"] / 8000 == pytest.approx(0.75, abs=0.03)

    def test_should_never_draw_a_bucket_when_its_weight_is_zero(self, tmp_path):
        entries = [{"prompt": "a", "bucket": "short"}, {"prompt": "b", "bucket": "long"}]
        prompts = PromptSet.load(write_prompts(tmp_path / "p.jsonl", entries), "short=1,long=0")
        assert {prompts.sample(random.Random(i)).bucket for i in range(200)} == {"short"}

    def test_should_raise_when_mix_names_a_bucket_without_prompts(self, tmp_path):
        with pytest.raises(ValueError, match="without prompts"):
            PromptSet.load(write_prompts(tmp_path / "p.jsonl", [{"prompt": "a"}]), "short=1,long=1")

    def test_should_offer_every_bucket_when_loading_the_shipped_prompts(self):
        prompts = PromptSet.load(DEFAULT_PROMPT_FILE, "short=1,medium=1,long=1")
        assert {name: len(p) >= 5 for name, p in prompts.buckets.items()} == dict.fromkeys(
            ("short", "medium", "long"), True
        )
