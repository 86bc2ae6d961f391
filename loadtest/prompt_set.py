"""A prompt set with a length distribution: prompts grouped into length buckets, drawn by weight.

File format: JSON lines, one prompt each, either `{"messages": [...]}` (OpenAI chat messages) or
`{"prompt": "..."}` (one user message); an optional `"bucket"` names its length bucket, otherwise
the bucket follows from the word count (see `BUCKET_LIMITS`).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PROMPT_FILE = Path(__file__).resolve().parent / "prompts" / "chat.jsonl"
# Upper word-count limits of the derived buckets; anything longer is "long".
BUCKET_LIMITS = (("short", 20), ("medium", 60))
LONG = "long"


@dataclass(frozen=True)
class Prompt:
    messages: tuple[dict, ...]
    bucket: str


def message_words(messages: tuple[dict, ...]) -> int:
    return sum(len(str(m.get("content", "")).split()) for m in messages)


def bucket_for_words(words: int) -> str:
    return next((name for name, limit in BUCKET_LIMITS if words <= limit), LONG)


def parse_prompt_line(line: str) -> Prompt:
    entry = json.loads(line)
    if "messages" in entry:
        messages = tuple(entry["messages"])
    elif "prompt" in entry:
        messages = ({"role": "user", "content": entry["prompt"]},)
    else:
        raise ValueError(f"prompt line needs 'messages' or 'prompt': {line[:120]}")
    if not messages or not all(isinstance(m, dict) and "role" in m for m in messages):
        raise ValueError(f"messages must be a non-empty list of {{role, content}}: {line[:120]}")
    return Prompt(messages=messages, bucket=entry.get("bucket") or bucket_for_words(message_words(messages)))


def parse_mix(text: str) -> dict[str, float]:
    """`"short=0.6,medium=0.3,long=0.1"` → weights; an empty text means every bucket equally."""
    mix: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, weight = item.partition("=")
        if not sep:
            raise ValueError(f"prompt mix item {item!r} is not bucket=weight")
        mix[name.strip()] = float(weight)
        if mix[name.strip()] < 0:
            raise ValueError(f"prompt mix weight of {name!r} is negative")
    if mix and not any(mix.values()):
        raise ValueError("prompt mix has no positive weight")
    return mix


class PromptSet:
    def __init__(self, prompts: list[Prompt], mix: dict[str, float]):
        by_bucket: dict[str, list[Prompt]] = {}
        for prompt in prompts:
            by_bucket.setdefault(prompt.bucket, []).append(prompt)
        if not by_bucket:
            raise ValueError("prompt set is empty")
        mix = mix or dict.fromkeys(by_bucket, 1.0)
        missing = sorted(name for name, weight in mix.items() if weight > 0 and name not in by_bucket)
        if missing:
            raise ValueError(f"prompt mix names buckets without prompts: {missing}; have {sorted(by_bucket)}")
        self.buckets = {name: by_bucket[name] for name, weight in mix.items() if weight > 0}
        self.weights = [mix[name] for name in self.buckets]

    @classmethod
    def load(cls, path: str | Path, mix: str = "") -> PromptSet:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return cls([parse_prompt_line(line) for line in lines if line.strip()], parse_mix(mix))

    def sample(self, rng: random.Random) -> Prompt:
        (bucket,) = rng.choices(list(self.buckets), weights=self.weights)
        return rng.choice(self.buckets[bucket])
