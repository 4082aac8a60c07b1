"""manifest.jsonl: one record per input domain, appended durably, last record per domain wins."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from common.datadir import atomic_write_text

OK, NO_LOGO, FAILED = "ok", "no_logo", "failed"
STATUSES = (OK, NO_LOGO, FAILED)


@dataclass
class ManifestRecord:
    domain: str
    status: str
    reason: str | None = None
    source: str | None = None
    logo_url: str | None = None
    logo_path: str | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    fetched_at: str | None = None
    # An ok logo that is a doubtful one: "placeholder_blank" / "placeholder_tiny", kept by `logosim import`.
    warning: str | None = None
    # The next candidates after the chosen logo (at most two): [{"url": ..., "source": ...}], best first.
    alternatives: list[dict[str, str]] | None = None
    # True when the logo was found in the page as headless Chromium rendered it (crawler.browser)
    rendered: bool | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict) -> ManifestRecord:
        known = {f.name for f in fields(cls)}
        record = cls(**{key: value for key, value in data.items() if key in known})
        if not isinstance(record.domain, str) or record.status not in STATUSES:
            raise ValueError("missing domain or unknown status")
        return record


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class ManifestRead:
    records: dict[str, ManifestRecord]
    bad_lines: list[tuple[int, str]]
    superseded: int


def read_manifest(path: Path) -> ManifestRead:
    """Parse every line; a torn or foreign line is reported, never fatal; later records replace earlier ones."""
    records: dict[str, ManifestRecord] = {}
    bad: list[tuple[int, str]] = []
    superseded = 0
    if not path.exists():
        return ManifestRead(records, bad, superseded)
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = ManifestRecord.from_dict(json.loads(line))
            except (ValueError, TypeError) as exc:
                bad.append((number, f"{exc.__class__.__name__}: {exc}"[:200]))
                continue
            if record.domain in records:
                superseded += 1
            records[record.domain] = record
    return ManifestRead(records, bad, superseded)


def rewrite_manifest(path: Path, records: Iterable[ManifestRecord]) -> None:
    """Compact to one line per domain, atomically (a kill leaves the old file or the new one)."""
    atomic_write_text(path, "".join(record.to_json() + "\n" for record in records))


class ManifestWriter:
    """Appends one JSON line per record with a single write and fsync, so a kill never tears a record
    that was reported written; a torn tail from a kill mid-write is dropped by the next read."""

    def __init__(self, path: Path, fsync: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fsync = fsync
        self._ensure_newline_at_end()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _ensure_newline_at_end(self) -> None:
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open("rb") as handle:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    with self.path.open("ab") as append:
                        append.write(b"\n")

    def write(self, record: ManifestRecord) -> None:
        self.write_many([record])

    def write_many(self, records: list[ManifestRecord]) -> None:
        """One write of all their lines and one fsync (group commit): a kill tears at most the last line."""
        write_all(self._fd, "".join(record.to_json() + "\n" for record in records).encode("utf-8"))
        if self.fsync:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_ok(records: dict[str, ManifestRecord]) -> Iterator[ManifestRecord]:
    return (record for record in records.values() if record.status == OK)


def write_all(fd: int, data: bytes) -> None:
    """os.write may write less than asked (a signal, a full disk's last blocks): loop until all is written."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
