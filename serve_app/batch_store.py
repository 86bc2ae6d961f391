"""Where batch files and batch records live: a directory (the local run, or a volume) or an S3 prefix.

Every `put` lands whole or not at all (a directory: a temporary file renamed over the target; S3: one
object upload), so a replica killed mid-write leaves the previous version, never half a record;
`append` is for journals, whose reader drops a cut last line.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Protocol

# Keys are `<kind>/<id>[.<ext>]`: no absolute paths, no `..`, nothing a request could steer elsewhere.
_KEY = re.compile(r"^[a-z_]+/[A-Za-z0-9_.-]+$")


def _checked(key: str) -> str:
    if not _KEY.match(key) or ".." in key:
        raise ValueError(f"not a store key: {key!r}")
    return key


class Store(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def append(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> bool: ...
    def keys(self, kind: str) -> list[str]: ...


def open_store(location: str) -> Store:
    """The store at `location`: `s3://bucket/prefix[?options]` or an absolute directory."""
    return ObjectStore(location) if location.startswith("s3://") else LocalStore(location)


class LocalStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)

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


class ObjectStore:
    """An S3 prefix, `s3://bucket/prefix`, with pyarrow's S3 URI options as a query (`region`,
    `endpoint_override` and `scheme` for an S3-compatible server). Credentials come from the AWS chain:
    in a cluster, the role of the Ray pods' service account (IRSA or EKS Pod Identity).

    S3 cannot append to an object: a key that is appended to is a folder `<key>.parts/` of one object
    per append, read back in the order they were written.
    """

    def __init__(self, uri: str) -> None:
        from pyarrow import fs  # the image has pyarrow (Ray Data); only S3 stores need it

        self._fs, self._root = fs.FileSystem.from_uri(uri)
        self._selector = fs.FileSelector
        self._file, self._dir = fs.FileType.File, fs.FileType.Directory
        self._parts = itertools.count()

    def _path(self, key: str) -> str:
        return f"{self._root}/{_checked(key)}"

    def _write(self, path: str, data: bytes) -> None:
        with self._fs.open_output_stream(path) as out:
            out.write(data)

    def _files(self, folder: str) -> list[str]:
        infos = self._fs.get_file_info(self._selector(folder, allow_not_found=True))
        return sorted(info.path for info in infos if info.type == self._file)

    def put(self, key: str, data: bytes) -> None:
        self._write(self._path(key), data)

    def append(self, key: str, data: bytes) -> None:
        """Adds `data` as the next part of `key`; parts sort by write time, then by this process's count."""
        self._write(f"{self._path(key)}.parts/{time.time_ns():020d}-{next(self._parts):09d}", data)

    def get(self, key: str) -> bytes:
        """The data (the parts in order, for an appended key); FileNotFoundError when there is none.
        The object first: only a journal, read once per run, pays for the listing of its parts."""
        path = self._path(key)
        try:
            return self._read(path)
        except FileNotFoundError:
            parts = self._files(f"{path}.parts")
            if not parts:
                raise
            return b"".join(self._read(part) for part in parts)

    def _read(self, path: str) -> bytes:
        with self._fs.open_input_stream(path) as source:
            return source.read()

    def delete(self, key: str) -> bool:
        """Whether something was stored under `key`."""
        path = self._path(key)
        found = False
        for target in [path, *self._files(f"{path}.parts")]:
            try:
                self._fs.delete_file(target)
                found = True
            except FileNotFoundError:
                pass
        return found

    def keys(self, kind: str) -> list[str]:
        """Every key of a kind (`files`, `batches`), sorted; an appended key is its folder of parts."""
        folder = self._path(f"{kind}/x").rsplit("/", 1)[0]
        names = {
            info.base_name.removesuffix(".parts") if info.type == self._dir else info.base_name
            for info in self._fs.get_file_info(self._selector(folder, allow_not_found=True))
        }
        return sorted(f"{kind}/{name}" for name in names)
