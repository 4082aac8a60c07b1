"""The manifest survives kills: a torn tail is dropped, later records win, rewrites are atomic."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from common.datadir import DataDir
from common.manifest import ManifestRecord, ManifestWriter, read_manifest, rewrite_manifest


def test_append_read_last_wins(tmp_path) -> None:
    path = tmp_path / "manifest.jsonl"
    with ManifestWriter(path) as writer:
        writer.write(ManifestRecord("a.com", "failed", reason="timeout"))
        writer.write(ManifestRecord("b.com", "no_logo", reason="no_candidates"))
        writer.write(ManifestRecord("a.com", "ok", source="img", logo_path="logos/a.com.png"))
    read = read_manifest(path)
    assert read.records["a.com"].status == "ok" and read.superseded == 1
    assert list(read.records) == ["a.com", "b.com"]


def test_torn_tail_is_reported_and_next_append_starts_on_a_new_line(tmp_path) -> None:
    path = tmp_path / "manifest.jsonl"
    with ManifestWriter(path) as writer:
        writer.write(ManifestRecord("a.com", "ok"))
    with path.open("a") as handle:
        handle.write('{"domain": "b.com", "sta')  # what a kill mid-write could leave
    with ManifestWriter(path) as writer:
        writer.write(ManifestRecord("c.com", "ok"))
    read = read_manifest(path)
    assert set(read.records) == {"a.com", "c.com"}
    assert [line for line, _ in read.bad_lines] == [2]
    rewrite_manifest(path, read.records.values())
    assert read_manifest(path).bad_lines == []


def test_kill_9_while_appending_never_tears_a_written_record(tmp_path) -> None:
    path = tmp_path / "manifest.jsonl"
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from common.manifest import ManifestRecord, ManifestWriter
        w = ManifestWriter(Path({str(path)!r}), fsync=False)
        i = 0
        while True:
            w.write(ManifestRecord(f"d{{i}}.com", "ok", reason="x" * 500))
            if i == 200:
                print("ready", flush=True)
            i += 1
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=os.getcwd())
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    proc.kill()
    proc.wait()
    read = read_manifest(path)
    assert len(read.records) > 200
    assert len(read.bad_lines) <= 1  # at most the very last line, and it is dropped, not misread


def test_lock_refuses_a_second_process(tmp_path) -> None:
    data = DataDir(tmp_path)
    script = f"from common.datadir import DataDir\nwith DataDir.at({str(tmp_path)!r}).locked(): pass"
    with data.locked():
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode != 0 and "in use by another logosim process" in proc.stderr
    assert subprocess.run([sys.executable, "-c", script]).returncode == 0
