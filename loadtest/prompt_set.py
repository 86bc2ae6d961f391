"""A prompt set with a length distribution: prompts grouped into length buckets, drawn by weight.

File format: JSON lines, one prompt each, either `{"messages": [...]}` (OpenAI chat messages) or
`{"prompt": "..."}` (one user message); an optional `"bucket"` names its length bucket, otherwise
the bucket follows from the word count (see `BUCKET_LIMITS`).

Context fit (`fit_context`): a served model answers 400 when prompt tokens + max_tokens exceed its
max_model_len, so prompts estimated too long for it are skipped and a max_tokens that leaves no room
for the prompts is lowered. There is no tokenizer on the client; `estimated_tokens` bounds the count
from above (see `TOKENS_PER_BYTE`).
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
# One token per UTF-8 byte is an upper bound for byte-level BPE (GPT-2, Llama 3, Qwen) and for
# SentencePiece with byte fallback (Llama 2, Mistral): every byte is in the base vocabulary and merges
# only shorten. Real tokenizers use about 0.25 tokens per byte of English; the tiny test model's
# 512-entry vocabulary up to 0.8, which is why no per-word factor is safe.
TOKENS_PER_BYTE = 1
# Safety margin for the chat template: role markers per message; BOS, the generation prompt and a
# template's default system prompt (Llama 3.1 and Qwen 2.5 add one of about 20 tokens) per request.
MESSAGE_OVERHEAD_TOKENS = 8
REQUEST_OVERHEAD_TOKENS = 32


@dataclass(frozen=True)
class Prompt:
    messages: tuple[dict, ...]
    bucket: str


def message_words(messages: tuple[dict, ...]) -> int:
    return sum(len(str(m.get("content", "")).split()) for m in messages)


def estimated_tokens(messages: tuple[dict, ...]) -> int:
    """Prompt tokens of `messages` after the chat template, estimated from above."""
    content_bytes = sum(len(str(m.get("content") or "").encode("utf-8")) for m in messages)
    return content_bytes * TOKENS_PER_BYTE + MESSAGE_OVERHEAD_TOKENS * len(messages) + REQUEST_OVERHEAD_TOKENS


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

    def prompts(self) -> list[Prompt]:
        return [prompt for bucket in self.buckets.values() for prompt in bucket]

    def within(self, max_prompt_tokens: int) -> PromptSet:
        """The prompts estimated at `max_prompt_tokens` or fewer; emptied buckets leave the mix."""
        kept = [p for p in self.prompts() if estimated_tokens(p.messages) <= max_prompt_tokens]
        left = {p.bucket for p in kept}
        mix = dict(zip(self.buckets, self.weights, strict=True))
        return PromptSet(kept, {name: weight for name, weight in mix.items() if name in left})


class ContextFitError(ValueError):
    """No prompt of the mix fits the model's context."""


@dataclass(frozen=True)
class ContextFit:
    """What is sent to one model: max_tokens and the prompts that fit next to it."""

    max_model_len: int
    requested_max_tokens: int
    max_tokens: int
    prompts: PromptSet
    kept: dict[str, tuple[int, int]]  # bucket -> (prompts kept, prompts in the bucket)

    @property
    def prompt_budget(self) -> int:
        return self.max_model_len - self.max_tokens

    @property
    def shortened(self) -> bool:
        return self.max_tokens < self.requested_max_tokens or any(k < n for k, n in self.kept.values())

    def describe(self, model: str) -> str:
        tokens = f"max_tokens {self.requested_max_tokens}"
        if self.max_tokens < self.requested_max_tokens:
            tokens += f" -> {self.max_tokens}"
        head = f"model {model}: max_model_len {self.max_model_len}; {tokens}"
        cut = [
            f"{name} dropped (0 of {n} fit)" if not k else f"{name} {k} of {n} kept"
            for name, (k, n) in self.kept.items()
            if k < n
        ]
        if not cut:
            return f"{head}; every prompt fits"
        return f"{head}; prompts over {self.prompt_budget} estimated tokens are skipped: {', '.join(cut)}"


def fitted_max_tokens(max_model_len: int, max_tokens: int, longest_prompt: int) -> int:
    """`max_tokens`, lowered as far as the longest prompt needs, but not below half the context."""
    return min(max_tokens, max_model_len - min(longest_prompt, max_model_len // 2))


def fit_context(prompts: PromptSet, max_model_len: int, max_tokens: int) -> ContextFit:
    """Fit max_tokens and the prompt set to a model's context, so estimated prompt + max_tokens fit."""
    estimates = [estimated_tokens(p.messages) for p in prompts.prompts()]
    sent_max_tokens = fitted_max_tokens(max_model_len, max_tokens, max(estimates))
    budget = max_model_len - sent_max_tokens
    if min(estimates) > budget:
        raise ContextFitError(
            f"no prompt of the mix fits max_model_len {max_model_len} with max_tokens {sent_max_tokens}: "
            f"the shortest is estimated at {min(estimates)} tokens, {budget} are left "
            "(lower --max-tokens, use shorter prompts, or pass --no-fit-context)"
        )
    fitted = prompts.within(budget)
    kept = {name: (len(fitted.buckets.get(name, ())), len(all_)) for name, all_ in prompts.buckets.items()}
    return ContextFit(max_model_len, max_tokens, sent_max_tokens, fitted, kept)
