"""A secret the local run makes for itself (Ray's auth token, Redis's password): created once, random,
in a file only its owner can read, the local stand-in for a Kubernetes Secret."""

from __future__ import annotations

import secrets
from pathlib import Path


def secret_file(path: Path, nbytes: int) -> str:
    """The secret in `path`, written first (mode 600, `nbytes` random bytes as hex) when missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(nbytes))
    return path.read_text().strip()
