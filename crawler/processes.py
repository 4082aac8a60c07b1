"""One crawl over several Scrapy processes of one machine: every core, no Redis to install.

Scrapy and Twisted run under one GIL, so one crawl process is bound by one core. ``run_processes`` shards the
planned domains by a hash of the domain into N lists and starts N crawl processes (``python -m
crawler.runner``), each a whole crawler with its own conversion worker, over the same data folder:

- one manifest: every process appends its records to ``manifest.jsonl`` itself, each batch of whole lines one
  ``write()`` on a file opened with O_APPEND (the kernel serialises such writes: lines never interleave)
  followed by an fsync, after their logo files are durable (crawler.groupcommit), exactly as a lone crawl
  writes them; the shards are disjoint, so a domain gets one record;
- one lock: the caller (logosim's stage) holds the folder's lock for the whole crawl; the processes run inside
  it and neither sweep the folder's temporary files nor compact the manifest while others write it
  (LOGOSIM_SHARED_FOLDER): the caller sweeps before and compacts after;
- one progress display: the caller reads the manifest's new lines as they are appended;
- resume as before: a kill -9 of the caller kills the processes too (PR_SET_PDEATHSIG, and a watch of the
  parent as the conversion workers have), and the next run plans from what the manifest holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common.datadir import DataDir
from common.errors import LogosimError
from common.manifest import ManifestRecord

SHARDS = ".shards"  # the shard lists, inside the data folder while a crawl runs (swept by the next one)
POLL_S = 0.2  # how often the manifest's new lines are read for the progress display
# A process costs about 1.5 s of CPU to start (Python, Scrapy, Twisted, its conversion worker: `python -X
# importtime`) against 20-30 ms of CPU a domain (bench/crawl.py): below this many domains a process of its own
# does not pay for its start on a 2-core machine.
MIN_DOMAINS_PER_PROCESS = 100


def default_processes() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def processes_for(todo: int, wanted: int) -> int:
    """As many processes as asked for, but none with fewer than MIN_DOMAINS_PER_PROCESS domains."""
    return max(1, min(wanted, todo // MIN_DOMAINS_PER_PROCESS))


def shard_of(domain: str, count: int) -> int:
    """A stable shard (the same on every run and machine, unlike hash()), spread evenly by a digest."""
    return int.from_bytes(hashlib.blake2b(domain.encode("utf-8"), digest_size=8).digest(), "big") % count


def run_processes(todo: list[str], data_dir: DataDir, count: int, settings: dict[str, Any],
                  on_record: Callable[[ManifestRecord], None] | None = None) -> None:
    """Crawl ``todo`` (planned, normalised domains) in ``count`` processes; returns once every one has ended.
    The caller holds the data folder's lock. Raises LogosimError with a process's one-line error."""
    data_dir.ensure()  # the sweep of a killed writer's temporary files, once, before anyone writes
    folder = data_dir.root / SHARDS
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    shards: list[list[str]] = [[] for _ in range(count)]
    for domain in todo:
        shards[shard_of(domain, count)].append(domain)
    child_settings = {**settings, "LOGOSIM_DATA_DIR": str(data_dir.root), "LOGOSIM_SHARED_FOLDER": True}
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    tail = _ManifestTail(data_dir.manifest)
    try:
        for index, domains in enumerate(shards):
            if not domains:
                continue
            listing = folder / f"{index}.txt"
            listing.write_text("".join(f"{domain}\n" for domain in domains), encoding="utf-8")
            error = folder / f"{index}.err"
            procs.append((subprocess.Popen(
                [sys.executable, "-m", "crawler.runner", str(listing), json.dumps(child_settings), str(error),
                 str(os.getpid())],
                # Its own session: a terminal's Ctrl-C reaches this process alone, which passes one SIGINT on
                # (a second one would make Scrapy stop uncleanly).
                cwd=Path(__file__).resolve().parents[1], start_new_session=True,
                stdout=subprocess.DEVNULL), error))  # stdout is the command's (--json); logs go to stderr
        while any(proc.poll() is None for proc, _ in procs):
            tail.read(on_record)
            time.sleep(POLL_S)
        tail.read(on_record)
    except BaseException:  # Ctrl-C or an error: Scrapy's own graceful stop in each, then wait for them
        for proc, _ in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc, _ in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        raise
    finally:
        tail.close()
    failed = [(proc, error) for proc, error in procs if proc.returncode != 0]
    if failed:
        proc, error = failed[0]
        message = error.read_text(encoding="utf-8", errors="replace").strip() if error.exists() else ""
        raise LogosimError(message or f"a crawl process exited with status {proc.returncode}; its log is above")
    shutil.rmtree(folder, ignore_errors=True)


class _ManifestTail:
    """The lines appended to the manifest since the crawl began, whole lines only (a line being written is
    read once it ends)."""

    def __init__(self, path: Path) -> None:
        path.touch()
        self._file = path.open("rb")
        self._file.seek(0, os.SEEK_END)
        self._partial = b""

    def read(self, on_record: Callable[[ManifestRecord], None] | None) -> None:
        chunk = self._file.read()
        if not chunk:
            return
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        for line in lines:
            if not line.strip() or on_record is None:
                continue
            try:
                on_record(ManifestRecord.from_dict(json.loads(line)))
            except (ValueError, TypeError):
                continue  # a torn line: the next read of the manifest drops it too

    def close(self) -> None:
        self._file.close()
