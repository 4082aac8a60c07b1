"""One crawl worker on a shared frontier (setting LOGOSIM_FRONTIER = redis://HOST:PORT/DB): Scrapy's side.

``FrontierPipeline`` (an item pipeline after the manifest's) connects when the spider opens (an unreachable
server refuses the crawl with one line), ties the data folder to the frontier's id in ``state.json`` (a folder
of another frontier is refused), marks the folder's recorded domains done, queues the input file if there is one (the frontier's id is made with its first chunk: a worker without a
file refuses a frontier that has no list yet), renews this worker's leases every third of
LOGOSIM_FRONTIER_LEASE, and marks each domain done once its manifest line is written. The spider's
``start()`` delegates to ``requests()``: take leased batches while
Scrapy asks for start requests, until the queue is empty and no lease is out (another worker's may expire and
come back, so an idle worker waits for them).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import redis
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider, NotConfigured
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.task import LoopingCall, deferLater

from common.datadir import read_state, update_state
from common.domains import read_domains
from common.errors import InputError, LogosimError
from common.manifest import read_manifest
from crawler.frontier import UNREACHABLE_REASON, Frontier, redact, worker_name
from crawler.items import LogoItem
from crawler.pipelines import REFUSAL_STAT, crawl_data_dir

logger = logging.getLogger(__name__)
FRONTIER_STATE = "frontier"  # the state.json entry: id, url (no password), worker


class FrontierPipeline:
    def __init__(self, crawler: Crawler, url: str) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.url = url
        self.data_dir = crawl_data_dir(crawler)
        self.lease = settings.getfloat("LOGOSIM_FRONTIER_LEASE")
        self.batch = settings.getint("LOGOSIM_FRONTIER_BATCH")
        self.in_progress_max = settings.getint("CONCURRENT_REQUESTS")
        self.worker = settings.get("LOGOSIM_WORKER") or worker_name()
        self.frontier: Frontier | None = None
        self.held: set[str] = set()  # leased here and not yet finished (taken, in flight, or being written)
        self._renewal: LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FrontierPipeline:
        url = crawler.settings.get("LOGOSIM_FRONTIER")
        if not url:
            raise NotConfigured("no LOGOSIM_FRONTIER: a single-process crawl")
        return cls(crawler, url)

    def open_spider(self) -> None:
        try:
            self.frontier = Frontier.connect(self.url)
            self._load(self.crawler.spider.domains_file)  # type: ignore[union-attr]
            self._bind_folder()
        except LogosimError as exc:
            assert self.crawler.stats is not None
            self.crawler.stats.set_value(REFUSAL_STAT, str(exc))
            logger.error("%s", exc)
            raise CloseSpider("input_error" if isinstance(exc, InputError) else UNREACHABLE_REASON) from None
        self.crawler.spider.frontier_worker = self  # type: ignore[union-attr]
        self._renewal = LoopingCall(self.renew)
        self._renewal.start(self.lease / 3, now=True)

    def _load(self, domains_file: Path | None) -> None:
        """This folder's recorded domains are done; then the input file (if any) is queued, minus those."""
        assert self.frontier is not None
        records = read_manifest(self.data_dir.manifest).records
        self.frontier.mark_known_done({domain: record.status for domain, record in records.items()}, self.worker)
        if domains_file is None:
            return
        listing = read_domains(domains_file)
        added = self.frontier.load(listing.domains)
        logger.info("%d domains in %s: %d queued on the frontier, %d were already on it",
                    len(listing.domains), domains_file, added, len(listing.domains) - added)

    def _bind_folder(self) -> None:
        """state.json names the frontier this folder belongs to; a folder of another one is refused."""
        assert self.frontier is not None
        frontier_id = self.frontier.id()
        if not frontier_id:
            raise LogosimError(f"frontier {redact(self.url)} holds no list yet: load one with "
                               "`logosim crawl FILE --frontier URL` (or scrapy crawl logos -a domains=FILE)")
        mine = read_state(self.data_dir).get(FRONTIER_STATE, {}).get("id")
        if mine and mine != frontier_id:
            raise LogosimError(f"data folder {self.data_dir.root} belongs to frontier {mine}, not to "
                               f"{redact(self.url)} ({frontier_id}): give this worker its own --data-dir")
        update_state(self.data_dir, FRONTIER_STATE, id=frontier_id, url=redact(self.url), worker=self.worker)

    async def requests(self, spider: Any) -> AsyncIterator[Any]:
        """The worker's start requests: leased domains, batch by batch, as long as Scrapy has room."""
        # Imported here: importing the reactor installs one, and Scrapy chooses which.
        from twisted.internet import reactor

        from crawler.spiders.logos import SiteJob

        assert self.frontier is not None
        while True:
            # Scrapy pulls start requests faster than it downloads them (its scheduler buffers them): take only
            # while fewer domains than CONCURRENT_REQUESTS are in progress here, so idle workers get the rest.
            while len(spider.pending) >= self.in_progress_max:
                await maybe_deferred_to_future(deferLater(reactor, 0.05, lambda: None))
            try:
                taken = self.frontier.take(self.worker, self.batch, self.lease)
                over = not taken and self.frontier.remaining() == (0, 0)
            except redis.RedisError as exc:  # Redis went away: finish what is held (it is written here), stop
                logger.error("frontier %s lost (%s): taking no more domains", redact(self.url), exc)
                self.crawler.stats.set_value("logosim/frontier/lost", str(exc))  # type: ignore[union-attr]
                return
            if over:
                return
            if not taken:
                await maybe_deferred_to_future(deferLater(reactor, min(1.0, self.lease / 4), lambda: None))
                continue
            self.held.update(taken)
            self.crawler.stats.inc_value("logosim/frontier/taken", len(taken))  # type: ignore[union-attr]
            for domain in taken:
                spider.pending.add(domain)
                yield spider.home_request(SiteJob.for_domain(domain), priority=0)

    def renew(self) -> None:
        if self.frontier is None:
            return
        try:
            self.frontier.renew(self.held, self.lease)
            self.frontier.heartbeat(self.worker)
        except Exception as exc:  # noqa: BLE001 - a Redis hiccup must not stop the crawl; the next tick retries
            logger.warning("could not renew leases on the frontier: %s", exc)

    def process_item(self, item: LogoItem) -> LogoItem:
        assert self.frontier is not None
        self.held.discard(item.domain)
        try:
            first = self.frontier.finish(item.domain, item.record.status, self.worker)
        except redis.RedisError as exc:  # the record is on disk: reported when this worker starts again
            logger.warning("could not mark %s done on the frontier: %s", item.domain, exc)
            self.crawler.stats.inc_value("logosim/frontier/unreported")  # type: ignore[union-attr]
            return item
        if not first:
            self.crawler.stats.inc_value("logosim/frontier/duplicate")  # type: ignore[union-attr]
        return item

    def close_spider(self) -> None:
        if self._renewal is not None and self._renewal.running:
            self._renewal.stop()
        if self.frontier is not None:
            self.renew()
