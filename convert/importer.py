"""`logosim import DIR`: a folder of <domain>.<ext> logo files -> logos/ + manifest.jsonl, as a crawl writes them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from common.datadir import DataDir, atomic_write_bytes
from common.domains import normalise_domain
from common.errors import ConvertError, InputError
from common.manifest import FAILED, OK, ManifestRecord, ManifestWriter, now_iso, read_manifest
from convert import MAX_INPUT_BYTES, to_png
from convert.pool import ConvertPool, Limits

SOURCE = "import"
# Progress statuses: ok / failed (a manifest record was written), skipped (already in the manifest),
# rejected (no record: the name is not a domain, or a second file for one domain).
OK_STATUS, FAILED_STATUS, SKIPPED, REJECTED = "ok", "failed", "skipped", "rejected"
NOT_A_DOMAIN, DUPLICATE, OUTSIDE = "not_a_domain", "duplicate_domain", "symlink_outside_folder"
TIMEOUT = "convert_timeout"
# Extensions stripped from a file name to find its domain; anything else is part of the name
# ("example.co.uk" has no extension). None of these is a top-level domain.
IMAGE_SUFFIXES = frozenset({
    "png", "apng", "jpg", "jpeg", "jpe", "jfif", "pjpeg", "gif", "ico", "cur", "svg", "svgz", "webp",
    "bmp", "dib", "avif", "tif", "tiff", "heic", "txt", "b64", "base64", "html", "htm", "xml", "bin",
    "dat", "img", "image", "data", "uri",
})
POOL_MIN_FILES = 24  # below this, a second worker process costs more than it saves
DEFAULT_WORKERS = 2


@dataclass
class ImportSummary:
    total: int = 0  # files looked at (ok + failed + skipped)
    ok: int = 0
    failed: int = 0  # conversion failures plus rejected files
    reasons: dict[str, int] = field(default_factory=dict)  # reason -> count, over ``failed``
    warnings: dict[str, int] = field(default_factory=dict)  # warning -> count, over ``ok``
    skipped: int = 0  # domains already in the manifest (resume)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Job:
    domain: str
    path: Path


@dataclass
class _Result:
    png: bytes | None
    width: int | None = None
    height: int | None = None
    sha256: str | None = None
    reason: str | None = None
    warning: str | None = None


def domain_for_file(path: Path) -> str:
    """``logos/WWW.Example.com.PNG`` -> ``example.com``; raises ValueError when the name is no domain."""
    name = path.name
    stem, dot, suffix = name.rpartition(".")
    if dot and suffix.lower() in IMAGE_SUFFIXES:
        name = stem
    return normalise_domain(name)


def import_folder(src: Path, data_dir: DataDir, *, force: bool = False,
                  progress: Callable[[str, str], None] | None = None,
                  workers: int = DEFAULT_WORKERS, limits: Limits | None = None,
                  follow_symlinks: bool = False) -> ImportSummary:
    """Convert every file in ``src`` (not recursive, hidden files ignored) into ``data_dir``.

    The caller holds the data folder's lock. Domains already in the manifest are skipped unless
    ``force``. ``progress(domain_or_file_name, status)`` is called once per file. Each file converts in a
    worker process within ``limits`` (convert.pool: past the deadline it fails as convert_timeout);
    ``workers=0`` converts in this process, without a deadline. A symlink to a file outside ``src`` is
    refused (``symlink_outside_folder``: a folder handed over could otherwise make the import read and record
    any file of this machine) unless ``follow_symlinks``.
    """
    src = Path(src)
    if not src.is_dir():
        raise InputError(f"not a folder: {src}")
    data_dir.ensure()
    known = set() if force else set(read_manifest(data_dir.manifest).records)
    summary = ImportSummary()
    report = progress or (lambda _name, _status: None)
    files = _list_files(src)
    if not follow_symlinks:
        files = _inside(files, src, summary, report)
    jobs = _plan(files, known, summary, report)
    # No fsync per record: os.write already survives a killed process, the logo files are fsynced,
    # and close() fsyncs once; an OS crash can only lose records whose domains a re-run redoes.
    with ManifestWriter(data_dir.manifest, fsync=False) as writer:
        for job, result in zip(jobs, _convert_all(jobs, workers, limits or Limits()), strict=True):
            record = _store(job, result, data_dir)
            writer.write(record)
            _count(summary, OK_STATUS if record.status == OK else FAILED_STATUS, record.reason, record.warning)
            report(job.domain, OK_STATUS if record.status == OK else FAILED_STATUS)
    return summary


def _list_files(src: Path) -> list[Path]:
    return sorted(p for p in src.iterdir() if p.is_file() and not p.name.startswith("."))


def _inside(files: list[Path], src: Path, summary: ImportSummary, report: Callable[[str, str], None]) -> list[Path]:
    """The files that are what they seem: a symlink counts only when its target lies inside ``src``."""
    root, kept = src.resolve(), []
    for path in files:
        if path.is_symlink() and not path.resolve().is_relative_to(root):
            _count(summary, REJECTED, OUTSIDE)
            report(path.name, REJECTED)
            continue
        kept.append(path)
    return kept


def _plan(files: Iterable[Path], known: set[str], summary: ImportSummary,
          report: Callable[[str, str], None]) -> list[_Job]:
    """Name -> domain; reject non-domains and second files for a domain (the first in sorted order
    wins); skip domains already imported or crawled."""
    jobs: list[_Job] = []
    seen: set[str] = set()
    for path in files:
        try:
            domain = domain_for_file(path)
        except ValueError:
            _count(summary, REJECTED, NOT_A_DOMAIN)
            report(path.name, REJECTED)
            continue
        if domain in seen:
            _count(summary, REJECTED, DUPLICATE)
            report(domain, REJECTED)
            continue
        seen.add(domain)
        if domain in known:
            _count(summary, SKIPPED, None)
            report(domain, SKIPPED)
            continue
        jobs.append(_Job(domain, path))
    return jobs


def _count(summary: ImportSummary, status: str, reason: str | None, warning: str | None = None) -> None:
    summary.total += 1
    if status == OK_STATUS:
        summary.ok += 1
        if warning:
            summary.warnings[warning] = summary.warnings.get(warning, 0) + 1
    elif status == SKIPPED:
        summary.skipped += 1
    else:
        summary.failed += 1
        key = reason or "unknown"
        summary.reasons[key] = summary.reasons.get(key, 0) + 1


def _convert_all(jobs: list[_Job], workers: int, limits: Limits, retry_timeouts: bool = True) -> Iterator[_Result]:
    """Results in job order, converted in worker processes (CPU-bound Python, and each file under a deadline)."""
    paths = [job.path for job in jobs]
    if workers <= 0 or not paths:
        yield from map(convert_file, paths)
        return
    with ConvertPool(workers if len(paths) >= POOL_MIN_FILES else 1, limits) as pool, ExitStack() as stack:
        retry: ConvertPool | None = None
        for path, outcome in zip(paths, pool.map(convert_file, paths, window=8 * workers), strict=True):
            if isinstance(outcome, ConvertError) and outcome.reason == TIMEOUT and retry_timeouts:
                # A file that ran out of time beside busy siblings gets one more try alone: a real logo
                # on a loaded machine passes (the slowest of the 3,318 real ones takes ~1.3 s loaded), a
                # bomb costs a second deadline. Seen: 1 real logo of 3,318 timed out at load ~8 without it.
                retry = retry or stack.enter_context(ConvertPool(1, limits))
                outcome = retry.call(convert_file, path)
            yield _Result(None, reason=outcome.reason) if isinstance(outcome, ConvertError) else outcome


def convert_file(path: Path) -> _Result:
    """Worker: one file -> PNG or reason. Never raises for a bad file.

    Unlike a crawl, an import has no other candidate to fall back to and its user has said that the file is
    the logo: a tiny or single-colour picture is converted and flagged (``warning``), not dropped. Only a
    file with nothing visible, or no image at all, fails.
    """
    try:
        if path.stat().st_size > MAX_INPUT_BYTES:
            return _Result(None, reason="too_large")
        converted = to_png(path.read_bytes(), keep_placeholders=True)
    except ConvertError as exc:
        return _Result(None, reason=exc.reason)
    except OSError:
        return _Result(None, reason="read_error")
    return _Result(converted.png, converted.width, converted.height, converted.sha256, warning=converted.warning)


def _store(job: _Job, result: _Result, data_dir: DataDir) -> ManifestRecord:
    """Write the logo (atomically) before its record, so an ok record always has its file."""
    logo = data_dir.logo_path(job.domain)
    base = {"domain": job.domain, "source": SOURCE, "logo_url": job.path.resolve().as_uri(),
            "fetched_at": now_iso()}
    if result.png is None:
        logo.unlink(missing_ok=True)  # a forced re-import that now fails must not leave a stale logo
        return ManifestRecord(status=FAILED, reason=result.reason, **base)
    atomic_write_bytes(logo, result.png)
    return ManifestRecord(status=OK, logo_path=data_dir.relative(logo), sha256=result.sha256,
                          width=result.width, height=result.height, warning=result.warning, **base)
