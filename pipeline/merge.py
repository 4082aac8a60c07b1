"""`logosim merge DIR... --data-dir OUT`: the data folders of one frontier's workers -> one data folder.

Each worker's folder names its frontier in ``state.json`` (crawler.frontier_worker); folders of different
frontiers, or of none, are refused. Every input is locked while it is read (a worker still running refuses
with one line). One record per domain: when two folders both record a domain (only a worker gone for longer than
LOGOSIM_FRONTIER_GRACE between writing a record and telling the frontier, whose domain was then crawled again:
crawler.frontier), the better outcome wins (ok, then no_logo, then failed), then the later one.

Every input folder is untrusted (a peer's folder, or one that passed through other hands): a record's domain is
normalised as an input line is and must be its own normal form; an ok record's logo must lie inside its own
folder's logos/ (no absolute path, no "..", no symlink), carry its recorded sha256, and decode again as a logo
PNG under the conversion limits (convert.check_png in a worker process). A record failing any of that is a
count and a line in the summary (``rejected``), never a copy and never a crash; its domain keeps a record from
another folder if one has a good one.
"""

from __future__ import annotations

import hashlib
import os
import stat
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from common.datadir import FRONTIER_STATE, DataDir, atomic_write_bytes, read_state, update_state
from common.domains import normalise_domain
from common.errors import ConvertError, LogosimError
from common.manifest import (
    FAILED,
    NO_LOGO,
    OK,
    ManifestRecord,
    now_iso,
    read_manifest,
    rewrite_manifest,
)
from convert import MAX_INPUT_BYTES, check_png
from convert.pool import ConvertPool, Limits

MAX_REJECTED_SHOWN = 50  # rejected records listed in the summary (all are counted)


@dataclass
class MergeSummary:
    frontier: str
    folders: int
    domains: int
    ok: int
    duplicates: int  # domains recorded by more than one worker (one record kept)
    by_folder: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> records refused
    rejected_records: list[dict[str, str]] = field(default_factory=list)  # the first MAX_REJECTED_SHOWN

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Refused(Exception):
    """A peer's record that is not merged, with the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_RANK = {OK: 0, NO_LOGO: 1, FAILED: 2}


def frontier_of(data: DataDir) -> str:
    frontier_id = read_state(data).get(FRONTIER_STATE, {}).get("id")
    if not frontier_id:
        raise LogosimError(f"{data.root} is not a frontier worker's folder (no frontier id in its state.json)")
    return str(frontier_id)


def _better(new: ManifestRecord, old: ManifestRecord) -> bool:
    return (_RANK[new.status], _neg(new.fetched_at)) < (_RANK[old.status], _neg(old.fetched_at))


def _neg(stamp: str | None) -> tuple[int, ...]:
    return tuple(-ord(c) for c in (stamp or ""))


def merge_folders(folders: list[Path], out: Path) -> MergeSummary:
    inputs = [DataDir.at(folder) for folder in folders]
    target = DataDir.at(out)
    if not inputs:
        raise LogosimError("nothing to merge: name the workers' data folders")
    for data in inputs:
        if not data.root.is_dir():
            raise LogosimError(f"not a folder: {data.root}")
        if data.root.resolve() == target.root.resolve():
            raise LogosimError(f"{data.root} is both an input and the output: merge into a new --data-dir")
    ids = {str(data.root): frontier_of(data) for data in inputs}
    if read_state(target).get(FRONTIER_STATE):
        ids[f"{target.root} (the output)"] = frontier_of(target)
    if len(set(ids.values())) > 1:
        listed = ", ".join(f"{root} ({fid[:8]})" for root, fid in ids.items())
        raise LogosimError(f"these folders are not from one frontier: {listed}")
    with ExitStack() as hold:
        for data in (*inputs, target):
            hold.enter_context(data.locked("merge"))
        target.ensure()
        return _merge(inputs, target, next(iter(ids.values())))


def _merge(inputs: list[DataDir], target: DataDir, frontier_id: str) -> MergeSummary:
    summary = MergeSummary(frontier_id, len(inputs), 0, 0, 0)
    chosen: dict[str, tuple[ManifestRecord, DataDir]] = dict(
        (domain, (record, target)) for domain, record in read_manifest(target.manifest).records.items())
    with ConvertPool(1, Limits()) as pool:
        for data in inputs:
            for key, record in read_manifest(data.manifest).records.items():
                try:
                    logo = _checked(data, key, record, pool)
                except Refused as refused:
                    _reject(summary, data, key, refused.reason)
                    continue
                domain = record.domain
                if domain in chosen and chosen[domain][1] is not target:
                    summary.duplicates += 1
                    if not _better(record, chosen[domain][0]):
                        continue
                if logo is not None:
                    atomic_write_bytes(target.logo_path(domain), logo)
                    record.logo_path = target.relative(target.logo_path(domain))
                chosen[domain] = (record, data)
    rewrite_manifest(target.manifest, [record for record, _ in chosen.values()])
    for _, source in chosen.values():
        summary.by_folder[str(source.root)] = summary.by_folder.get(str(source.root), 0) + 1
    update_state(target, FRONTIER_STATE, id=frontier_id, merged_from=[str(d.root) for d in inputs])
    update_state(target, "crawl", finished_at=now_iso(), input=f"merge of {len(inputs)} folders",
                 total=len(chosen))
    summary.domains, summary.ok = len(chosen), sum(r.status == OK for r, _ in chosen.values())
    return summary


def _reject(summary: MergeSummary, data: DataDir, domain: str, reason: str) -> None:
    summary.rejected[reason] = summary.rejected.get(reason, 0) + 1
    if len(summary.rejected_records) < MAX_REJECTED_SHOWN:
        summary.rejected_records.append({"folder": str(data.root), "domain": domain[:300], "reason": reason})


def _checked(source: DataDir, key: str, record: ManifestRecord, pool: ConvertPool) -> bytes | None:
    """The record's logo bytes once everything about it holds (None for a record without a logo); Refused."""
    try:
        domain = normalise_domain(key)
    except ValueError:
        raise Refused("bad_domain") from None
    if domain != key or record.domain != key:
        raise Refused("bad_domain")
    if record.status not in _RANK:
        raise Refused("bad_status")
    if record.status != OK:
        return None
    if not record.sha256 or len(record.sha256) != 64:
        raise Refused("no_sha256")
    data = _read_logo(source, record.logo_path)
    if hashlib.sha256(data).hexdigest() != record.sha256.lower():
        raise Refused("sha256_mismatch")
    outcome = pool.call(check_png, data)
    if isinstance(outcome, ConvertError):
        raise Refused(f"bad_logo:{outcome.reason}")
    return data


def _read_logo(source: DataDir, logo_path: str | None) -> bytes:
    """A file inside the folder's own logos/: a relative path without "..", no symlink on the way, a regular
    file of bounded size."""
    if not logo_path or not isinstance(logo_path, str) or "\x00" in logo_path:
        raise Refused("no_logo_file")
    relative = Path(logo_path)
    if relative.is_absolute() or ".." in relative.parts or relative.parts[:1] != ("logos",):
        raise Refused("logo_outside_folder")
    path = source.root
    try:
        for part in relative.parts:
            path = path / part
            if stat.S_ISLNK(os.lstat(path).st_mode):
                raise Refused("logo_is_symlink")
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise Refused("logo_missing") from None
    except OSError:
        raise Refused("logo_unreadable") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise Refused("logo_not_a_file")
        data = handle.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise Refused("logo_too_large")
    return data
