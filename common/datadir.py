"""The data folder: where every stage reads and writes, its exclusive lock, and atomic file writes."""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from common.errors import DataDirLocked

DEFAULT = "data"
FRONTIER_STATE = "frontier"  # state.json's entry of a frontier worker's folder: id, url (no password), worker


@dataclass(frozen=True)
class DataDir:
    root: Path

    @classmethod
    def at(cls, value: str | os.PathLike[str] | None = None) -> DataDir:
        """The folder ``value`` (``./data`` when None); the environment is read by common.config, not here."""
        return cls(Path(value or DEFAULT).expanduser())

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.jsonl"

    @property
    def logos(self) -> Path:
        return self.root / "logos"

    @property
    def qdrant(self) -> Path:
        return self.root / "qdrant"

    @property
    def clusters(self) -> Path:
        return self.root / "clusters.json"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def state(self) -> Path:
        """Small JSON file where stages record when they last completed."""
        return self.root / "state.json"

    def logo_path(self, domain: str) -> Path:
        return self.logos / logo_file_name(domain)

    def inside(self, relative: str) -> Path:
        """``root / relative`` for a path read from a manifest or a payload, refused (ValueError) when it
        leaves the data folder (``../../etc/x``, an absolute path, a symlink out)."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"{relative!r} is outside the data folder")
        return path

    def logo_at(self, relative: str | None, domain: str) -> Path:
        """A record's ``logo_path``, or where this folder keeps the domain's logo when the record names none
        or names a place outside the folder (a tampered manifest or payload)."""
        try:
            return self.inside(relative) if relative else self.logo_path(domain)
        except ValueError:
            return self.logo_path(domain)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def ensure(self) -> DataDir:
        """Create the folders and sweep temporary files that a killed writer left (call with the lock held)."""
        self.logos.mkdir(parents=True, exist_ok=True)
        for folder in (self.root, self.logos):
            for stale in folder.glob(".*.tmp"):
                stale.unlink(missing_ok=True)
        return self

    @contextmanager
    def locked(self, what: str = "logosim") -> Iterator[DataDir]:
        """Hold the folder's lock for the whole block; another holder (a second process, or a second block of
        this one) fails at once with one line. Taken by the entry points only: logosim's stages
        (pipeline.stages) and `scrapy crawl` (crawler/commands/crawl.py); everything below them runs inside."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.root / ".lock"), timeout=0, is_singleton=False, thread_local=False)
        try:
            lock.acquire()
        except Timeout:
            raise DataDirLocked(
                f"data folder {self.root} is in use by another logosim process; wait for it or use another --data-dir"
            ) from None
        try:
            yield self
        finally:
            lock.release()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it over: readers never see a torn file."""
    atomic_write_many([(path, data)])


def atomic_write_many(files: list[tuple[Path, bytes]]) -> None:
    """``atomic_write_bytes`` for a batch too (group commit): every file written to a temporary beside it, their
    bytes made durable at once, then each renamed over and each folder synced once. A kill leaves each file old
    or new, and at worst temporaries that ``DataDir.ensure`` sweeps."""
    written: list[tuple[str, Path]] = []
    try:
        for path, data in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            # The temporary name stays short: a 253-character domain's own file name is already near NAME_MAX.
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:64]}.", suffix=".tmp", dir=path.parent)
            written.append((tmp, path))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)  # a buffered write loops over short os.write()s itself
        sync_files([tmp for tmp, _ in written])
        for tmp, path in written:
            os.replace(tmp, path)
        for folder in {path.parent for _, path in written}:
            fsync_dir(folder)  # a rename survives a power cut only once its folder is synced
    except BaseException:
        for tmp, _ in written:
            Path(tmp).unlink(missing_ok=True)
        raise


def sync_files(paths: list[str]) -> None:
    """Make the files' bytes durable: one file with fsync; several with one syncfs(2) of their filesystem where
    Linux offers it (one flush for the whole batch instead of one fsync, and one journal commit, per file), else
    an fsync of each."""
    syncfs = _syncfs() if len(paths) > 1 else None
    if syncfs is not None:
        fd = os.open(paths[0], os.O_RDONLY)
        try:
            if syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@functools.cache
def _syncfs() -> Any:
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def read_state(data_dir: DataDir) -> dict:
    """What each stage last did (``state.json``); an unreadable file counts as empty."""
    import json

    try:
        return json.loads(data_dir.state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def update_state(data_dir: DataDir, stage: str, **values: object) -> dict:
    """Merge ``values`` into the stage's entry and write the file atomically."""
    import json

    state = read_state(data_dir)
    state.setdefault(stage, {}).update(values)
    atomic_write_text(data_dir.state, json.dumps(state, indent=2, sort_keys=True, default=str))
    return state


NAME_MAX = 255  # bytes in one file name on ext4, xfs, btrfs, tmpfs


def logo_file_name(domain: str) -> str:
    """``<domain>.png``; a domain too long for that (238-253 characters) keeps its first 150 characters and
    gets a hash of the whole name, so every domain that normalises has a file name the filesystem accepts."""
    name = f"{domain}.png"
    if len(name.encode()) <= NAME_MAX - 80:  # room left for a temporary file's prefix and suffix
        return name
    import hashlib

    return f"{domain[:150]}~{hashlib.sha256(domain.encode()).hexdigest()[:16]}.png"


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
