"""The product's stages over one data folder, in order, each under the folder's lock with ``state.json`` kept.

``crawl`` (or ``import_logos``) -> ``index`` -> ``cluster``, and ``run`` for the three resumably; ``similar``,
``export``, ``status`` and ``merge`` read what they left. Every function takes the one ``Config`` and reports
through a ``Reporter`` (the CLI draws bars and tables from it; the default says nothing); none of them prints.
Each returns a typed summary whose ``to_dict()`` is what ``--json`` prints.

This module alone takes the data folder's lock for logosim (``scrapy crawl`` takes it in its own command): a
public stage takes it once and hands the held ``DataDir`` to its body, and ``run`` takes it once for all three.

The stages' modules that import torch, Scrapy or scikit-learn are imported inside the stage that runs them, so
that `logosim status`, `--help` and every refusal start in a fraction of a second rather than seconds.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from common.config import Config
from common.datadir import DataDir, read_state, update_state
from common.errors import LogosimError
from common.manifest import ManifestRead, now_iso, read_manifest
from indexer.store import LogoStore, StoreConfig, StoredPoint
from indexer.weights import Weights
from pipeline.clusters import load_clusters, load_grouping, load_previous, write_clusters

if TYPE_CHECKING:
    from convert.importer import ImportSummary
    from crawler.explain import Explanation
    from crawler.frontier import FrontierStatus
    from crawler.runner import CrawlSummary
    from indexer.runner import IndexSummary
    from pipeline.merge import MergeSummary
    from search.cluster import ClusterResult
    from search.similar import SimilarResult


class Stage(str, Enum):
    crawl = "crawl"
    index = "index"
    cluster = "cluster"


ORDER = (Stage.crawl, Stage.index, Stage.cluster)


class Ticker(Protocol):
    def __call__(self, *, completed: int | None = None, total: int | None = None, advance: int = 0,
                 status: str = "") -> None: ...


class Reporter:
    """What long work tells its caller. The base class is silent; the CLI overrides each hook."""

    def task(self, name: str) -> AbstractContextManager[Ticker]:
        """A progress bar for one stage's items."""
        return _silent_task()

    def note(self, message: str) -> None:
        """A passing status line ("grouping logos…")."""

    def stage(self, index: int, count: int, stage: Stage) -> None:
        """``run``: a stage begins."""

    def done(self, stage: Stage, summary: Any) -> None:
        """``run``: a stage's summary (CrawlSummary, IndexSummary), to show before the next stage begins."""


@contextmanager
def _silent_task() -> Iterator[Ticker]:
    yield lambda **_: None


SILENT = Reporter()


def _held(config: Config, what: str) -> AbstractContextManager[DataDir]:
    """The data folder, locked for the whole block (a second process refuses at once, in one line)."""
    return DataDir.at(config.data_dir).locked(what)


# -- stage 1: crawl or import -----------------------------------------------------------------------
def crawl(config: Config, file: Path | None, *, force: bool = False, settings: dict[str, Any] | None = None,
          reporter: Reporter = SILENT) -> CrawlSummary:
    """Visit every domain of ``file`` not yet in the manifest (all with ``force``); once per process. With
    ``config.frontier``: queue ``file`` (if any) on that shared frontier and work on it as one worker."""
    if config.frontier:
        from crawler.frontier import Frontier

        Frontier.connect(config.frontier)  # unreachable: one line now, before Scrapy starts
    with _held(config, "crawl") as data:
        return _crawl(config, data, file, force, settings, reporter)


def _crawl(config: Config, data: DataDir, file: Path | None, force: bool, settings: dict[str, Any] | None,
           reporter: Reporter) -> CrawlSummary:
    from crawler.processes import default_processes
    from crawler.runner import run_crawl

    with reporter.task("crawl") as tick:
        counts: Counter[str] = Counter()

        def on_record(record: Any) -> None:
            counts[record.status] += 1
            tick(advance=1, status=f"ok {counts['ok']} · no logo {counts['no_logo']} · failed {counts['failed']}")

        summary = run_crawl(file, data, force=force, settings=crawl_settings(config) | (settings or {}),
                            on_record=on_record, on_start=lambda total: tick(total=total),
                            processes=config.crawl_processes or default_processes())
    update_state(data, "crawl", finished_at=now_iso(), input=str(file or config.frontier), total=summary.total)
    return summary


def crawl_settings(config: Config) -> dict[str, Any]:
    """The configuration's part that the crawl reads, as Scrapy settings, at logosim's log level."""
    from crawler.runner import config_settings

    return {"LOG_LEVEL": config.log_level, **config_settings(config)}


def explain(config: Config, domain: str) -> Explanation:
    """One site's scored logo candidates, fetched as the crawl would; nothing is written."""
    from crawler.explain import explain as explain_site

    return explain_site(domain, crawl_settings(config))


def import_logos(config: Config, folder: Path, *, force: bool = False, follow_symlinks: bool = False,
                 reporter: Reporter = SILENT) -> ImportSummary:
    """A folder of ``<domain>.<ext>`` files -> the same logos/ and manifest a crawl writes."""
    from convert.importer import import_folder

    if not folder.is_dir():
        raise LogosimError(f"not a folder: {folder}")
    with _held(config, "import") as data, reporter.task("import") as tick:
        tick(total=sum(1 for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")))
        summary = import_folder(folder, data, force=force, follow_symlinks=follow_symlinks,
                                progress=lambda domain, status: tick(advance=1, status=domain))
        update_state(data, "crawl", finished_at=now_iso(), input=str(folder), total=summary.total)
    return summary


# -- stage 2: index ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class IndexOptions:
    weights: str = "imagenet"  # imagenet | efficientnet-lite0 | random | PATH (see indexer.weights)
    device: str = "auto"
    batch_size: int | None = None
    force: bool = False
    prune: bool = False


def index(config: Config, options: IndexOptions = IndexOptions(), *, reporter: Reporter = SILENT) -> IndexSummary:
    """Embed every new or changed logo and upsert it, keyed by domain."""
    with _held(config, "index") as data:
        return _index(config, data, options, reporter)


def _index(config: Config, data: DataDir, options: IndexOptions, reporter: Reporter) -> IndexSummary:
    from indexer.runner import index_data_dir

    with reporter.task("index") as tick:
        summary = index_data_dir(data, store_config(config, data), weights=weights(config, options.weights),
                                 device=options.device, batch_size=options.batch_size, force=options.force,
                                 prune=options.prune, workers=config.index_workers,
                                 progress=lambda done, total: tick(completed=done, total=total))
    values: dict[str, Any] = {"finished_at": now_iso(), "model": summary.model, "device": summary.device}
    if summary.indexed + summary.pruned or "changed_at" not in read_state(data).get("index", {}):
        values["changed_at"] = now_iso()
    update_state(data, "index", **values)
    return summary


def weights(config: Config, value: str) -> Weights:
    return Weights.parse(value, offline=config.offline)


def store_config(config: Config, data: DataDir | None = None) -> StoreConfig:
    root = (data or DataDir.at(config.data_dir)).root
    return StoreConfig.resolve(root, url=config.qdrant_url, collection=config.collection,
                               api_key=config.qdrant_api_key, embedded=config.embedded)


def open_store(config: Config, data: DataDir | None = None) -> LogoStore:
    return LogoStore(store_config(config, data))


# -- stage 3: cluster -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClusterOptions:
    min_cluster_size: int = 2
    incremental: bool = False  # place logos indexed since the last full run into its groups (search.incremental)


def cluster(config: Config, options: ClusterOptions = ClusterOptions(), *,
            reporter: Reporter = SILENT) -> tuple[ClusterResult, Path]:
    """Group every stored logo; write the labels back, ``clusters.json`` and ``report.html``."""
    with _held(config, "cluster") as data:
        return _cluster(config, data, options, reporter)


def _cluster(config: Config, data: DataDir, options: ClusterOptions, reporter: Reporter) -> tuple[ClusterResult, Path]:
    from search.cluster import cluster_store
    from search.report import write_report

    with open_store(config, data) as store:
        if not store.count():
            raise LogosimError(f"collection '{config.collection}' holds no vectors: run `logosim index` first")
        if options.incremental:
            result = _place_new(config, data, store, reporter)
        else:
            reporter.note("grouping logos…")
            result = cluster_store(store, min_cluster_size=options.min_cluster_size,
                                   read_text=text_reader(data) if config.read_text else None)
        write_clusters(result, data)
        report_path = write_report(result, result.points or store, data)  # one scroll, not two
    update_state(data, "cluster", finished_at=now_iso(), groups=len(result.groups), outliers=len(result.outliers))
    return result, report_path


def text_reader(data: DataDir) -> Callable[[StoredPoint], dict[str, Any] | None]:
    """A stored logo's words (indexer.text), read from this folder's copy of its file."""
    from indexer.text import read_logo_file

    return lambda point: read_logo_file(data.logo_at(point.payload.get("logo_path"), point.domain))


def _place_new(config: Config, data: DataDir, store: LogoStore, reporter: Reporter) -> ClusterResult:
    from search.cluster import write_labels
    from search.incremental import place_new

    previous = load_previous(data)
    reporter.note("placing logos indexed since the last clustering…")
    started = time.perf_counter()
    result, changed = place_new(store, previous, read_text=text_reader(data) if config.read_text else None)
    write_labels(store, result, only=changed)
    for domain, reading in sorted(result.readings.items()):
        store.set_payload([domain], {"text": reading})
    result.seconds = time.perf_counter() - started
    return result


# -- the whole pipeline -----------------------------------------------------------------------------
def run(config: Config, file: Path | None, *, start: Stage = Stage.crawl, force: bool = False,
        index_options: IndexOptions = IndexOptions(), cluster_options: ClusterOptions = ClusterOptions(),
        crawl_extra: dict[str, Any] | None = None, reporter: Reporter = SILENT) -> tuple[ClusterResult, Path]:
    """crawl -> index -> cluster; each stage skips what is current, ``start`` restarts from a later stage.
    The data folder stays locked from the first stage to the last."""
    stages = ORDER[ORDER.index(start):]
    if Stage.crawl in stages and file is None:
        raise LogosimError("a domain file is needed to crawl (or use --from index)")
    if Stage.crawl in stages and config.frontier:
        from crawler.frontier import Frontier

        Frontier.connect(config.frontier)
    with _held(config, "run") as data:
        if Stage.crawl in stages:
            reporter.stage(1, len(ORDER), Stage.crawl)
            reporter.done(Stage.crawl, _crawl(config, data, file, force, crawl_extra, reporter))
        if Stage.index in stages:
            reporter.stage(2, len(ORDER), Stage.index)
            options = IndexOptions(**{**asdict(index_options), "force": force, "prune": True})
            reporter.done(Stage.index, _index(config, data, options, reporter))
        reporter.stage(3, len(ORDER), Stage.cluster)
        if start != Stage.cluster and not force and clusters_current(data):
            reporter.note("groups are current (nothing changed since the last clustering)")
            return load_clusters(data), data.report
        return _cluster(config, data, cluster_options, reporter)


def clusters_current(data: DataDir) -> bool:
    """Nothing was indexed or pruned since the last clustering wrote its files."""
    state = read_state(data)
    return data.clusters.exists() and \
        state.get("cluster", {}).get("finished_at", "") >= state.get("index", {}).get("changed_at", "~")


# -- queries --------------------------------------------------------------------------------------
def similar(config: Config, query: str, *, top: int = 10, min_score: float | None = None,
            device: str = "auto", weights_value: str | None = None) -> SimilarResult:
    """Which logos look like ``query`` (a domain, an image file or an image URL)?"""
    from indexer.model import Embedder
    from search.similar import similar as nearest

    chosen = weights(config, weights_value) if weights_value else None
    data = DataDir.at(config.data_dir)
    with open_store(config, data) as store:
        return nearest(query, store, top=top, min_score=min_score, weights=chosen,
                       embedder_factory=lambda w: Embedder(w, device=device),
                       allow_private=config.allow_private_addresses, proxy=config.proxy,
                       grouping=load_grouping(data))


def export(config: Config, out: Path, fmt: str) -> int:
    from search.export import export_vectors

    with open_store(config) as store:
        return export_vectors(store, out, fmt)


@dataclass
class Status:
    """What a data folder holds and when each stage last ran (`logosim status`)."""

    data_dir: str
    domains: int
    logos_found: int
    logos_with_warning: int
    no_logo: int
    failed: int
    bad_manifest_lines: int
    crawled_at: str | None = None
    indexed_at: str | None = None
    model: str | None = None
    clustered_at: str | None = None
    groups: int | None = None
    report: str | None = None
    vectors_indexed: int | None = None  # None: the store is busy (another process holds it)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def status(config: Config) -> Status:
    """What the data folder holds: domains, logos found, vectors indexed, when each stage last ran."""
    data = DataDir.at(config.data_dir)
    read: ManifestRead = read_manifest(data.manifest)
    statuses = Counter(record.status for record in read.records.values())
    state = read_state(data)
    return Status(data_dir=str(data.root), domains=len(read.records), logos_found=statuses.get("ok", 0),
                  logos_with_warning=sum(1 for r in read.records.values() if r.status == "ok" and r.warning),
                  no_logo=statuses.get("no_logo", 0), failed=statuses.get("failed", 0),
                  bad_manifest_lines=len(read.bad_lines), crawled_at=state.get("crawl", {}).get("finished_at"),
                  indexed_at=state.get("index", {}).get("finished_at"), model=state.get("index", {}).get("model"),
                  clustered_at=state.get("cluster", {}).get("finished_at"),
                  groups=state.get("cluster", {}).get("groups"),
                  report=str(data.report) if data.report.exists() else None,
                  vectors_indexed=_count_vectors(config, data))


def _count_vectors(config: Config, data: DataDir) -> int | None:
    stored = store_config(config, data)
    if stored.path is not None and not stored.path.exists():
        return 0
    try:
        with LogoStore(stored) as store:
            return store.count()
    except LogosimError:
        return None  # e.g. another process holds the embedded store right now


# -- a crawl shared by many workers ---------------------------------------------------------------------
def frontier_status(config: Config) -> FrontierStatus:
    """The whole shared crawl: queued, in flight, done, failed, per worker, the rate."""
    from crawler.frontier import Frontier

    if not config.frontier:
        raise LogosimError("no frontier: pass --frontier redis://HOST:PORT/DB (or set LOGOSIM_FRONTIER)")
    return Frontier.connect(config.frontier).status()


def merge(config: Config, folders: list[Path]) -> MergeSummary:
    """The workers' data folders of one frontier -> ``config.data_dir``, one record per domain."""
    from pipeline.merge import merge_folders

    return merge_folders(folders, config.data_dir)

