"""Where batch files and batch records live: a directory (the local run, or a volume).

Every `put` lands whole or not at all (a temporary file renamed over the target), so a replica killed
mid-write leaves the previous version, never half a record; `append` is for journals, whose reader
drops a cut last line.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

# Keys are `<kind>/<id>[.<ext>]`: no absolute paths, no `..`, nothing a request could steer elsewhere.
_KEY = re.compile(r"^[a-z_]+/[A-Za-z0-9_.-]+$")


class LocalStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key:
            raise ValueError(f"not a store key: {key!r}")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def append(self, key: str, data: bytes) -> None:
        """Adds `data` at the end (a batch's journal of answered lines); a crash may cut the last one."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())

    def get(self, key: str) -> bytes:
        """The data; FileNotFoundError when nothing is stored under `key`."""
        return self._path(key).read_bytes()

    def delete(self, key: str) -> bool:
        """Whether something was stored under `key`."""
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def keys(self, kind: str) -> list[str]:
        """Every key of a kind (`files`, `batches`), sorted."""
        folder = self._path(f"{kind}/x").parent
        if not folder.is_dir():
            return []
        return sorted(
            f"{kind}/{p.name}" for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
        )
