"""Item pipelines: write each logo PNG atomically, then append the domain's manifest record (and count it)."""

from __future__ import annotations

import logging
from pathlib import Path

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector
from scrapy.utils.defer import maybe_deferred_to_future

from common.datadir import DataDir, atomic_write_many
from common.manifest import (
    OK,
    ManifestRecord,
    ManifestWriter,
    now_iso,
    read_manifest,
    rewrite_manifest,
)
from crawler.groupcommit import GroupCommit
from crawler.items import LogoItem

logger = logging.getLogger(__name__)
# Why a crawl refused to start or stopped (finish_reason input_error, frontier_unreachable, frontier_lost), in one
# line: crawler.runner raises it as the matching error type.
REFUSAL_STAT = "logosim/refusal"


def crawl_data_dir(crawler: Crawler) -> DataDir:
    """The setting LOGOSIM_DATA_DIR (from the configuration: crawler.settings.from_config)."""
    return DataDir.at(crawler.settings["LOGOSIM_DATA_DIR"])


class LogoFilePipeline:
    """logos/<domain>.png, written atomically and made durable in batches (crawler.groupcommit) in a worker
    thread (a sync must not block the reactor); an item goes on once its file is durable."""

    def __init__(self, data_dir: DataDir) -> None:
        self.data_dir = data_dir
        self.files: GroupCommit[tuple[Path, bytes]] = GroupCommit(atomic_write_many)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LogoFilePipeline:
        return cls(crawl_data_dir(crawler))

    async def process_item(self, item: LogoItem) -> LogoItem:
        if item.ok and item.png is not None:
            path = self.data_dir.logo_path(item.domain)
            await maybe_deferred_to_future(self.files.submit((path, item.png)))
            item.record.logo_path = self.data_dir.relative(path)
            item.png = None
        return item


class ManifestPipeline:
    """Appends one durable manifest line per item and, at the end, compacts the manifest when it holds superseded
    or torn lines. It runs inside the data folder's lock, which the crawl's entry point holds (logosim's stage,
    or `scrapy crawl`'s command: crawler/commands/crawl.py)."""

    def __init__(self, data_dir: DataDir, stats: StatsCollector, crawler: Crawler | None = None,
                 shared: bool = False) -> None:
        self.data_dir = data_dir
        self.stats = stats
        self.crawler = crawler
        # One of several processes writing this folder (crawler.processes): their coordinator sweeps and compacts.
        self.shared = shared
        self.writer: ManifestWriter | None = None
        self.lines: GroupCommit[ManifestRecord] = GroupCommit(self._write_lines)
        self.written: dict[str, ManifestRecord] = {}  # this crawl's records, by domain

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ManifestPipeline:
        assert crawler.stats is not None
        pipeline = cls(crawl_data_dir(crawler), crawler.stats, crawler,
                       shared=crawler.settings.getbool("LOGOSIM_SHARED_FOLDER"))
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self) -> None:
        if self.shared:  # no sweep: another process's temporary file may be in flight
            self.data_dir.logos.mkdir(parents=True, exist_ok=True)
        else:
            self.data_dir.ensure()
        self.writer = ManifestWriter(self.data_dir.manifest)

    async def process_item(self, item: LogoItem) -> LogoItem:
        assert self.writer is not None, "the manifest is written only while the data folder is locked"
        item.record.fetched_at = now_iso()
        await maybe_deferred_to_future(self.lines.submit(item.record))
        self.written[item.record.domain] = item.record
        self.count(item.record)
        return item

    def _write_lines(self, records: list[ManifestRecord]) -> None:
        assert self.writer is not None, "the crawl closes the manifest only once every item is written"
        self.writer.write_many(records)

    def count(self, record: ManifestRecord) -> None:
        self.stats.inc_value(f"logosim/status/{record.status}")
        if record.source and record.status == OK:
            self.stats.inc_value(f"logosim/source/{record.source}")
        if record.reason:
            self.stats.inc_value(f"logosim/reason/{record.reason}")

    def spider_closed(self, spider: object, reason: str) -> None:
        if self.writer is None:
            return
        self.writer.close()
        self.writer = None
        if not self.shared:
            self._compact()

    def _compact(self) -> None:
        """Rewrite the manifest when it holds superseded or unreadable lines: from the read the crawl planned from
        (the spider's ``manifest``) and this crawl's records, without reading the file again."""
        before = getattr(self.crawler.spider, "manifest", None) if self.crawler else None
        if before is None:  # a crawl that planned nothing (refused early): read it now
            before = read_manifest(self.data_dir.manifest)
        superseded = before.superseded + sum(1 for domain in self.written if domain in before.records)
        if superseded or before.bad_lines:
            rewrite_manifest(self.data_dir.manifest, {**before.records, **self.written}.values())
            logger.info("manifest compacted: %d superseded and %d unreadable lines dropped",
                        superseded, len(before.bad_lines))
