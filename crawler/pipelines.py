"""Item pipelines: write each logo PNG atomically, then append the domain's manifest record (and count it)."""

from __future__ import annotations

import logging
from contextlib import ExitStack

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider
from scrapy.statscollectors import StatsCollector
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.threads import deferToThread

from common.datadir import DataDir, atomic_write_bytes
from common.errors import DataDirLocked
from common.manifest import (
    OK,
    ManifestRecord,
    ManifestWriter,
    now_iso,
    read_manifest,
    rewrite_manifest,
)
from crawler.items import LogoItem

logger = logging.getLogger(__name__)
LOCKED_REASON = "data_dir_locked"
# Why a crawl refused to start (finish_reason data_dir_locked or input_error), in one line: crawler.runner
# raises it as the matching error type.
REFUSAL_STAT = "logosim/refusal"


def crawl_data_dir(crawler: Crawler) -> DataDir:
    """The setting LOGOSIM_DATA_DIR (crawler/settings.py takes it from the environment for `scrapy crawl`)."""
    return DataDir.at(crawler.settings["LOGOSIM_DATA_DIR"])


class LogoFilePipeline:
    """logos/<domain>.png, written atomically in a worker thread (fsync must not block the reactor)."""

    def __init__(self, data_dir: DataDir) -> None:
        self.data_dir = data_dir

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LogoFilePipeline:
        return cls(crawl_data_dir(crawler))

    async def process_item(self, item: LogoItem) -> LogoItem:
        if item.ok and item.png is not None:
            path = self.data_dir.logo_path(item.domain)
            await maybe_deferred_to_future(deferToThread(atomic_write_bytes, path, item.png))
            item.record.logo_path = self.data_dir.relative(path)
            item.png = None
        return item


class ManifestPipeline:
    """Owns the crawl's hold on the data folder: takes its lock when the spider opens (a second crawler is
    refused with one line and closes with reason ``data_dir_locked``), appends one durable manifest line per
    item, and at the end compacts the manifest when it holds superseded or torn lines."""

    def __init__(self, data_dir: DataDir, stats: StatsCollector) -> None:
        self.data_dir = data_dir
        self.stats = stats
        self.writer: ManifestWriter | None = None
        self._hold = ExitStack()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ManifestPipeline:
        assert crawler.stats is not None
        pipeline = cls(crawl_data_dir(crawler), crawler.stats)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self) -> None:
        try:
            self._hold.enter_context(self.data_dir.locked("crawl"))
        except DataDirLocked as exc:
            self.stats.set_value(REFUSAL_STAT, str(exc))
            logger.error("%s", exc)
            raise CloseSpider(LOCKED_REASON) from None
        self.data_dir.ensure()
        self.writer = ManifestWriter(self.data_dir.manifest)

    async def process_item(self, item: LogoItem) -> LogoItem:
        assert self.writer is not None, "the manifest is written only while the data folder is locked"
        item.record.fetched_at = now_iso()
        await maybe_deferred_to_future(deferToThread(self.writer.write, item.record))
        self.count(item.record)
        return item

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
        self._compact()
        self._hold.close()

    def _compact(self) -> None:
        read = read_manifest(self.data_dir.manifest)
        if read.superseded or read.bad_lines:
            rewrite_manifest(self.data_dir.manifest, read.records.values())
            logger.info("manifest compacted: %d superseded and %d unreadable lines dropped",
                        read.superseded, len(read.bad_lines))
