"""serve_app.batch_store.LocalStore: whole writes, safe keys, listing by kind."""

from __future__ import annotations

import os

import pytest

from serve_app.batch_store import LocalStore


class TestLocalStore:
    def test_should_read_back_what_was_written_when_a_key_is_put(self, tmp_path) -> None:
        store = LocalStore(tmp_path)
        store.put("files/file-1.jsonl", b"a\n")
        store.put("files/file-1.jsonl", b"b\n")
        assert store.get("files/file-1.jsonl") == b"b\n"
        assert store.keys("files") == ["files/file-1.jsonl"] and store.keys("batches") == []

    def test_should_keep_the_previous_version_when_a_write_fails_midway(self, tmp_path, monkeypatch) -> None:
        store = LocalStore(tmp_path)
        store.put("batches/b1.json", b"old")

        def broken_replace(src, dst):
            raise OSError("disk full")

        monkeypatch.setattr(os, "replace", broken_replace)
        with pytest.raises(OSError, match="disk full"):
            store.put("batches/b1.json", b"new")
        assert store.get("batches/b1.json") == b"old"
        assert store.keys("batches") == ["batches/b1.json"]  # no temporary file left behind
        assert sorted(p.name for p in (tmp_path / "batches").iterdir()) == ["b1.json"]

    def test_should_tell_whether_it_deleted_something_when_asked_to_delete(self, tmp_path) -> None:
        store = LocalStore(tmp_path)
        store.put("files/f", b"x")
        assert (store.delete("files/f"), store.delete("files/f")) == (True, False)
        with pytest.raises(FileNotFoundError):
            store.get("files/f")

    @pytest.mark.parametrize(
        "key", ["../etc/passwd", "/abs/path", "files/../x", "files/a/b", "files/", "Files/x"]
    )
    def test_should_refuse_the_key_when_it_could_leave_the_store(self, tmp_path, key: str) -> None:
        with pytest.raises(ValueError, match="not a store key"):
            LocalStore(tmp_path).put(key, b"x")
