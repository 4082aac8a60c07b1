"""Group commit (crawler.groupcommit, common.datadir.atomic_write_many, ManifestWriter.write_many): a batch is
made durable at once, each caller released only once its own batch is, and a failed batch fails every caller."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from twisted.internet.defer import maybeDeferred
from twisted.internet.task import Clock

from common.datadir import atomic_write_many
from common.manifest import ManifestRecord, ManifestWriter, read_manifest
from crawler.groupcommit import GroupCommit


def _inline(func, *args):  # the flush runs at once instead of in a thread
    return maybeDeferred(func, *args)


def test_a_batch_waits_for_company_then_commits_once() -> None:
    clock, batches, released = Clock(), [], []
    commit = GroupCommit(batches.append, max_delay=0.05, max_items=3, clock=clock, run=_inline)
    for entry in ("a", "b"):
        commit.submit(entry).addCallback(lambda _, e=entry: released.append(e))
    assert batches == [] and released == []  # not durable yet: nobody goes on
    clock.advance(0.05)
    assert batches == [["a", "b"]] and released == ["a", "b"]
    for entry in ("c", "d", "e"):  # a full batch does not wait
        commit.submit(entry).addCallback(lambda _, e=entry: released.append(e))
    assert batches[-1] == ["c", "d", "e"] and released[-3:] == ["c", "d", "e"]
    assert not clock.getDelayedCalls()


def test_a_failed_batch_fails_each_of_its_callers() -> None:
    def broken(entries: list[str]) -> None:
        raise OSError("disk full")

    clock, errors = Clock(), []
    commit = GroupCommit(broken, max_items=2, clock=clock, run=_inline)
    for entry in ("a", "b"):
        commit.submit(entry).addErrback(lambda failure: errors.append(failure.value))
    assert [str(error) for error in errors] == ["disk full", "disk full"]


def test_atomic_write_many_writes_every_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    files = [(tmp_path / "logos" / f"site{i}.example.png", os.urandom(1000 + i)) for i in range(20)]
    (tmp_path / "logos").mkdir()
    files[0][0].write_bytes(b"old")
    atomic_write_many(files)
    assert all(path.read_bytes() == data for path, data in files)
    assert not list(tmp_path.rglob("*.tmp"))


def test_atomic_write_many_that_fails_leaves_the_old_files_and_no_temporary(tmp_path: Path) -> None:
    good = tmp_path / "a.png"
    good.write_bytes(b"old")
    blocked = tmp_path / "file"
    blocked.write_bytes(b"")
    with pytest.raises(OSError):
        atomic_write_many([(good, b"new"), (blocked / "b.png", b"x")])  # a folder that is a file
    assert good.read_bytes() == b"old"
    assert not list(tmp_path.rglob("*.tmp"))


def test_write_many_appends_each_record_as_a_line(tmp_path: Path) -> None:
    path = tmp_path / "manifest.jsonl"
    with ManifestWriter(path) as writer:
        writer.write_many([ManifestRecord(domain=f"site{i}.example", status="no_logo") for i in range(5)])
        writer.write(ManifestRecord(domain="site0.example", status="failed", reason="timeout"))
    read = read_manifest(path)
    assert len(read.records) == 5 and read.superseded == 1 and not read.bad_lines
    assert read.records["site0.example"].status == "failed"
