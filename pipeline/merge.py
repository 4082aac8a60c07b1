"""`logosim merge DIR... --data-dir OUT`: the data folders of one frontier's workers -> one data folder.

Each worker's folder names its frontier in ``state.json`` (crawler.frontier_worker); folders of different
frontiers, or of none, are refused. Every input is locked while it is read (a worker still running refuses
with one line). One record per domain: when two folders both record a domain (only a worker gone for longer than
LOGOSIM_FRONTIER_GRACE between writing a record and telling the frontier, whose domain was then crawled again:
crawler.frontier), the better outcome wins (ok, then no_logo, then failed), then the later one. Each chosen logo file is copied atomically and checked
against the record's sha256.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from common.datadir import FRONTIER_STATE, DataDir, atomic_write_bytes, read_state, update_state
from common.errors import LogosimError
from common.manifest import (
    FAILED,
    NO_LOGO,
    OK,
    ManifestRecord,
    now_iso,
    read_manifest,
    rewrite_manifest,
)

_RANK = {OK: 0, NO_LOGO: 1, FAILED: 2}


@dataclass
class MergeSummary:
    frontier: str
    folders: int
    domains: int
    ok: int
    duplicates: int  # domains recorded by more than one worker (one record kept)
    by_folder: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    chosen: dict[str, tuple[ManifestRecord, DataDir]] = dict(
        (domain, (record, target)) for domain, record in read_manifest(target.manifest).records.items())
    duplicates = 0
    for data in inputs:
        for domain, record in read_manifest(data.manifest).records.items():
            if domain in chosen and chosen[domain][1] is not target:
                duplicates += 1
                if not _better(record, chosen[domain][0]):
                    continue
            chosen[domain] = (record, data)
    for record, source in chosen.values():
        if source is not target and record.status == OK and record.logo_path:
            _copy_logo(source, target, record)
    rewrite_manifest(target.manifest, [record for record, _ in chosen.values()])
    by_folder: dict[str, int] = {}
    for _, source in chosen.values():
        by_folder[str(source.root)] = by_folder.get(str(source.root), 0) + 1
    update_state(target, FRONTIER_STATE, id=frontier_id, merged_from=[str(d.root) for d in inputs])
    update_state(target, "crawl", finished_at=now_iso(), input=f"merge of {len(inputs)} folders",
                 total=len(chosen))
    return MergeSummary(frontier_id, len(inputs), len(chosen), sum(r.status == OK for r, _ in chosen.values()),
                        duplicates, by_folder)


def _copy_logo(source: DataDir, target: DataDir, record: ManifestRecord) -> None:
    import hashlib

    data = (source.root / str(record.logo_path)).read_bytes()
    if record.sha256 and hashlib.sha256(data).hexdigest() != record.sha256:
        raise LogosimError(f"{source.root / str(record.logo_path)} does not match its manifest record (sha256)")
    atomic_write_bytes(target.logo_path(record.domain), data)
    record.logo_path = target.relative(target.logo_path(record.domain))
