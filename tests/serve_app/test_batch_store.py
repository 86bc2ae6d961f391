"""serve_app.batch_store: whole writes, journals, safe keys and listing by kind, the same in a directory
and in S3 (a real S3 API: moto's server)."""

from __future__ import annotations

import os

import pytest

from serve_app.batch_store import LocalStore, ObjectStore, open_store
from tests.serve_app.deployment import BUCKET


class TestStore:
    def test_should_read_back_what_was_written_when_a_key_is_put(self, storage: str) -> None:
        store = open_store(storage)
        store.put("files/file-1.jsonl", b"a\n")
        store.put("files/file-1.jsonl", b"b\n")
        assert store.get("files/file-1.jsonl") == b"b\n"
        assert store.keys("files") == ["files/file-1.jsonl"] and store.keys("batches") == []

    def test_should_read_every_part_in_order_when_a_journal_is_appended_to(self, storage: str) -> None:
        store = open_store(storage)
        for line in (b"1\n", b"2\n", b"3\n"):
            store.append("journals/b1.jsonl", line)
        store.put("journals/b2.jsonl", b"x\n")
        assert store.get("journals/b1.jsonl") == b"1\n2\n3\n"
        assert store.keys("journals") == ["journals/b1.jsonl", "journals/b2.jsonl"]

    def test_should_tell_whether_it_deleted_something_when_asked_to_delete(self, storage: str) -> None:
        store = open_store(storage)
        store.put("files/f", b"x")
        store.append("journals/j", b"y\n")
        assert (store.delete("files/f"), store.delete("files/f")) == (True, False)
        assert (store.delete("journals/j"), store.delete("journals/j")) == (True, False)
        for key in ("files/f", "journals/j"):
            with pytest.raises(FileNotFoundError):
                store.get(key)

    @pytest.mark.parametrize(
        "key", ["../etc/passwd", "/abs/path", "files/../x", "files/a/b", "files/", "Files/x"]
    )
    def test_should_refuse_the_key_when_it_could_leave_the_store(self, storage: str, key: str) -> None:
        with pytest.raises(ValueError, match="not a store key"):
            open_store(storage).put(key, b"x")

    def test_should_pick_the_store_by_its_location_when_opened(self, storage: str) -> None:
        expected = ObjectStore if storage.startswith("s3://") else LocalStore
        assert type(open_store(storage)) is expected


class TestLocalStore:
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


class TestObjectStore:
    def test_should_write_objects_under_the_prefix_when_keys_are_put_and_appended(self, s3) -> None:
        store = ObjectStore(s3.uri(BUCKET, "layout"))
        store.put("batches/b1.json", b"{}")
        store.append("journals/b1.jsonl", b"1\n")
        store.append("journals/b1.jsonl", b"2\n")
        keys = s3.objects(BUCKET, "layout/")
        assert keys[0] == "layout/batches/b1.json" and len(keys) == 3
        assert all(key.startswith("layout/journals/b1.jsonl.parts/") for key in keys[1:])

    def test_should_fail_with_the_bucket_named_when_the_bucket_does_not_exist(self, s3) -> None:
        with pytest.raises(OSError, match="no-such-bucket"):
            ObjectStore(s3.uri("no-such-bucket", "x")).put("files/f", b"x")
