"""The index run: manifest -> logos decoded in worker processes -> embeddings -> Qdrant, keyed by domain."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from common.datadir import DataDir
from common.errors import ManifestError
from common.manifest import ManifestRecord, iter_ok, read_manifest
from indexer.dataset import Batch, LogoDataset, collate
from indexer.features import ALWAYS as FEATURE_FIELDS
from indexer.features import features
from indexer.model import Embedder
from indexer.preprocess import load_logo
from indexer.store import LogoStore, StoreConfig
from indexer.weights import Weights

# On CPU the model needs every core and decoding is ~5% of the work (bench/embed.py): workers only compete.
CPU_WORKERS = 0
# On a GPU decoding is the bottleneck (6.7-11.8 ms per logo per core against a model at 14,000 img/s on an
# H200, docs/BENCHMARKS.md): use the cores, leaving one to feed the GPU.
MAX_GPU_WORKERS = 16
PREFETCH = 2  # batches each worker prepares ahead
SHM_PATH = "/dev/shm"
SHM_HEADROOM = 2  # margin: /dev/shm is shared with torch itself and every other process
BAD_LINE = "bad_manifest_line"

log = logging.getLogger(__name__)


@dataclass
class IndexSummary:
    indexed: int = 0
    unchanged: int = 0
    failed: int = 0
    pruned: int = 0
    refreshed: int = 0  # unchanged logos whose near-duplicate evidence gained a field (no re-embedding)
    reasons: dict[str, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # domain -> reason
    seconds: float = 0.0
    model: str = ""
    device: str = ""
    bad_lines: list[tuple[int, str]] = field(default_factory=list)  # (line number, error) in the manifest

    def to_dict(self) -> dict[str, Any]:
        return {"indexed": self.indexed, "unchanged": self.unchanged, "refreshed": self.refreshed,
                "failed": self.failed, "pruned": self.pruned, "reasons": self.reasons, "failures": self.failures,
                "seconds": round(self.seconds, 2), "model": self.model, "device": self.device}


def index_data_dir(data_dir: DataDir, store_config: StoreConfig, *, weights: str | Weights = "imagenet",
                   device: str = "auto", batch_size: int | None = None, force: bool = False,
                   prune: bool = False, workers: int | None = None, overlap: bool | None = None,
                   progress: Callable[[int, int], None] | None = None) -> IndexSummary:
    """Embed every ``ok`` logo whose sha256 or model changed since the last run; upsert batch by batch. The
    caller holds the data folder's lock."""
    started = time.perf_counter()
    records, bad_lines = _read(data_dir)
    chosen, fallback = Weights.parse(weights).available()
    if fallback:
        log.warning("%s", fallback)
    with LogoStore(store_config) as store:  # first: an unreachable or mismatched store fails before the model loads
        store.ensure_collection(chosen.vector)
        embedder = Embedder(chosen, device, batch_size)
        summary = IndexSummary(model=embedder.name, device=embedder.device_label, bad_lines=bad_lines)
        stored = {point.domain: point.payload for point in store.scroll(with_vectors=False)}
        todo = _changed(data_dir, records, stored, embedder.name, force)
        summary.unchanged = sum(1 for _ in iter_ok(records)) - len(todo)
        summary.refreshed = _refresh_features(data_dir, records, stored, todo, store)
        _embed_all(data_dir, todo, embedder, store, summary, workers, progress, overlap)
        if prune:
            stale = sorted(set(stored) - {record.domain for record in iter_ok(records)})
            store.delete(stale)
            summary.pruned = len(stale)
    reasons = Counter(_code(reason) for reason in summary.failures.values())
    if bad_lines:
        reasons[BAD_LINE] = len(bad_lines)
    summary.reasons = dict(reasons)
    summary.failed = len(summary.failures)
    summary.seconds = time.perf_counter() - started
    return summary


def _read(data_dir: DataDir) -> tuple[dict[str, ManifestRecord], list[tuple[int, str]]]:
    """Missing or empty manifest stops the run; torn or foreign lines are reported."""
    if not data_dir.manifest.exists():
        raise ManifestError(f"no manifest at {data_dir.manifest}: run `logosim crawl` or `logosim import` first")
    read = read_manifest(data_dir.manifest)
    if not read.records:
        raise ManifestError(f"manifest {data_dir.manifest} holds no records")
    return read.records, read.bad_lines


def _logo_file(data_dir: DataDir, record: ManifestRecord) -> Path:
    return data_dir.logo_at(record.logo_path, record.domain)


def _file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _changed(data_dir: DataDir, records: dict[str, ManifestRecord], stored: dict[str, dict[str, Any]],
             model: str, force: bool) -> list[ManifestRecord]:
    """The ok records to (re)embed: new, changed file, other model, or everything with ``force``."""
    todo = []
    for record in iter_ok(records):
        if record.sha256 is None:  # an older manifest without hashes: hash the file itself
            record.sha256 = _file_sha256(_logo_file(data_dir, record))
        payload = stored.get(record.domain)
        if force or payload is None or payload.get("sha256") != record.sha256 or payload.get("model") != model \
                or "nhash" not in payload:  # indexed before the near-duplicate features existed
            todo.append(record)
    return todo


def _refresh_features(data_dir: DataDir, records: dict[str, ManifestRecord], stored: dict[str, dict[str, Any]],
                      todo: list[ManifestRecord], store: LogoStore) -> int:
    """Points whose vector stays but whose payload lacks a near-duplicate field added since it was indexed
    (``colour``, ``on_white``): the evidence is recomputed from the logo file and set on the point, without the model."""
    embedding = {record.domain for record in todo}
    fields = set(FEATURE_FIELDS)
    stale = [record for record in iter_ok(records) if record.domain not in embedding
             and (payload := stored.get(record.domain)) is not None and not fields <= payload.keys()]
    if stale:
        log.info("adding the near-duplicate evidence %s to %d stored logos (no re-embedding)",
                 sorted(fields - stored[stale[0].domain].keys()), len(stale))
    refreshed = 0
    for record in stale:
        try:
            values = features(load_logo(_logo_file(data_dir, record))).payload()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            continue  # unreadable now: the stored evidence stays, the missing field stays unchecked
        store.set_payload([record.domain], values)
        refreshed += 1
    return refreshed


def default_workers(device: torch.device) -> int:
    if device.type != "cuda":
        return CPU_WORKERS
    return max(1, min(MAX_GPU_WORKERS, (os.cpu_count() or 2) - 1))


def shared_memory_free(path: str = SHM_PATH) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def fit_workers(workers: int, batch_size: int, shm_free: int | None) -> int:
    """Workers hand batches over through /dev/shm, PREFETCH batches each in flight; a container's default
    64 MB cannot hold that for big GPU batches (the loader dies with a bus error): use as many workers as fit."""
    if workers == 0 or shm_free is None:
        return workers
    per_worker = PREFETCH * batch_size * 3 * 224 * 224 * SHM_HEADROOM  # uint8 pixels
    fitting = int(shm_free // per_worker)
    if fitting < workers:
        log.warning("/dev/shm has %d MB free: %d DataLoader worker(s) instead of %d (docker: --shm-size=4g)",
                    shm_free // 2**20, fitting, workers)
    return min(workers, fitting)


def _loader(data_dir: DataDir, todo: list[ManifestRecord], embedder: Embedder,
            workers: int | None) -> torch.utils.data.DataLoader:
    workers = default_workers(embedder.device) if workers is None else workers
    workers = fit_workers(workers, embedder.batch_size, shared_memory_free())
    dataset = LogoDataset([(record.domain, _logo_file(data_dir, record)) for record in todo])
    return torch.utils.data.DataLoader(
        dataset, batch_size=embedder.batch_size, shuffle=False, num_workers=workers, collate_fn=collate,
        pin_memory=embedder.device.type == "cuda", prefetch_factor=PREFETCH if workers else None,
    )


class _Inline:
    """The writer's stand-in when nothing is overlapped: runs each task at once, in the caller's thread."""

    def submit(self, fn: Callable[..., Batch], *args: Any) -> Future[Batch]:
        future: Future[Batch] = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # handed to finish(), exactly as a writer thread would
            future.set_exception(exc)
        return future

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _embed_all(data_dir: DataDir, todo: list[ManifestRecord], embedder: Embedder, store: LogoStore,
               summary: IndexSummary, workers: int | None, progress: Callable[[int, int], None] | None,
               overlap: bool | None = None) -> None:
    """On a GPU, embed batch k+1 while batch k is upserted in a writer thread (the upsert of 256 points costs
    about as much as their forward pass); a crash loses at most those two batches, never a half-written point.
    On a CPU the upsert is ~0.3 % of a batch's time: overlapping it gains nothing measurable (A/B here, 3 runs
    each: 10.4-11.4 vs 10.2-11.3 logos/s), so ``overlap`` defaults to the device being CUDA and the CPU keeps
    the simpler arrangement."""
    if not todo:
        return
    by_domain = {record.domain: record for record in todo}
    done = 0

    def store_batch(batch: Batch, vectors: Any) -> Batch:
        if batch.domains:
            store.upsert(list(zip(_payloads(batch, by_domain, embedder.name, data_dir), vectors, strict=True)))
        return batch

    def finish(pending: Future[Batch]) -> None:
        nonlocal done
        batch = pending.result()  # an upsert's error (e.g. the server went away) stops the run here
        summary.indexed += len(batch.domains)
        done += len(batch)
        if progress is not None:
            progress(done, len(todo))

    overlap = embedder.device.type == "cuda" if overlap is None else overlap
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="logosim-upsert") if overlap else _Inline() as writer:
        pending: Future[Batch] | None = None
        for batch in _loader(data_dir, todo, embedder, workers):
            summary.failures.update(batch.failures)
            vectors = embedder.embed_tensors(batch.tensors) if batch.domains else None
            if pending is not None:
                finish(pending)
            pending = writer.submit(store_batch, batch, vectors)
            if not overlap:  # stored already: report it now, not after the next forward pass
                finish(pending)
                pending = None
        if pending is not None:
            finish(pending)


def _payloads(batch: Batch, by_domain: dict[str, ManifestRecord], model: str, data_dir: DataDir) -> list[dict]:
    payloads = []
    features = batch.features or [{}] * len(batch.domains)
    for domain, phash, (width, height), evidence in zip(batch.domains, batch.phashes, batch.sizes, features,
                                                        strict=True):
        record = by_domain[domain]
        payloads.append({
            "domain": domain, "logo_url": record.logo_url, "source": record.source, "sha256": record.sha256,
            "phash": phash, "width": record.width or width, "height": record.height or height,
            "logo_path": record.logo_path or data_dir.relative(data_dir.logo_path(domain)),
            "fetched_at": record.fetched_at, "model": model, "warning": record.warning, **evidence,
        })
    return payloads


def _code(reason: str) -> str:
    """'decode_failed: OSError: ...' -> 'decode_failed' for the per-reason counts."""
    return reason.split(":", 1)[0]
