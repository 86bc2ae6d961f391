"""Documents → overlapping chunks small enough to embed and to fit a prompt."""

from __future__ import annotations

import hashlib

CHUNK_CHARS = 800
OVERLAP_CHARS = 100


def document_id(source: str) -> str:
    """The id of a document sent without one: its source, so ingesting a source again replaces it."""
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def chunk_text(text: str, max_chars: int = CHUNK_CHARS, overlap_chars: int = OVERLAP_CHARS) -> list[str]:
    """Word-aligned windows of at most `max_chars` (longer words stand alone), sharing ~`overlap_chars`."""
    words = text.split()
    chunks: list[str] = []
    start = 0
    while start < len(words):
        end, size = start, 0
        while end < len(words) and (end == start or size + 1 + len(words[end]) <= max_chars):
            size += len(words[end]) + (end > start)
            end += 1
        chunks.append(" ".join(words[start:end]))
        if end == len(words):
            break
        back, kept = end, 0
        while back - 1 > start and kept + len(words[back - 1]) + 1 <= overlap_chars:
            back -= 1
            kept += len(words[back]) + 1
        start = back
    return chunks
