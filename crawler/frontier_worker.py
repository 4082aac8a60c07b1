"""One crawl worker on a shared frontier (setting LOGOSIM_FRONTIER = redis://HOST:PORT/DB): Scrapy's side.

``FrontierPipeline`` (an item pipeline after the manifest's) connects when the spider opens, under the data
folder's lock (an unreachable server refuses the crawl with one line). A folder already bound to a frontier
(``state.json``) must find that frontier's id in Redis (a Redis restarted without its data, or another
frontier, is refused before anything is queued); then the input file (if any) is queued (the frontier's id
is made with its first chunk: a worker without a file refuses a frontier that has no list yet), the folder is
bound, its worker identity (kept in ``state.json``: a replacement on the folder is the same worker) reconciles
what its predecessor held (crawler.frontier.Frontier.reconcile), and the folder's recorded domains are marked
done. It renews this worker's leases every third of LOGOSIM_FRONTIER_LEASE. ``FrontierCommitPipeline`` (the
first item pipeline) commits each finished domain before anything is written, and drops the result of a
domain whose lease this worker lost; ``FrontierPipeline`` marks it done once its manifest line is fsync'd.
The spider's ``start()`` delegates to ``requests()``: take leased batches while Scrapy asks for start requests,
until the queue is empty and nothing is in flight (another worker's lease may expire and come back, so an
idle worker waits for them).

A Redis that goes away mid-crawl stops the worker at once (finish reason ``frontier_lost``, one error line;
``logosim crawl`` exits 1): what it had not committed is dropped (its leases return to the queue), what it had
written stays, and its next start on the folder reconciles.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import redis
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider, DropItem, NotConfigured
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet.task import LoopingCall, deferLater

from common.datadir import FRONTIER_STATE, read_state, update_state
from common.domains import normalise_domain, read_domains
from common.errors import InputError, LogosimError
from common.manifest import read_manifest
from crawler.frontier import (
    INTAKE_REASON,
    LOST_REASON,
    NOT_A_DOMAIN,
    UNREACHABLE_REASON,
    Frontier,
    redact,
    worker_name,
)
from crawler.items import LogoItem
from crawler.pipelines import REFUSAL_STAT, crawl_data_dir

logger = logging.getLogger(__name__)


class FrontierPipeline:
    def __init__(self, crawler: Crawler, url: str) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.url = url
        self.data_dir = crawl_data_dir(crawler)
        self.lease = settings.getfloat("LOGOSIM_FRONTIER_LEASE")
        self.grace = settings.getfloat("LOGOSIM_FRONTIER_GRACE")
        self.batch = settings.getint("LOGOSIM_FRONTIER_BATCH")
        self.in_progress_max = settings.getint("CONCURRENT_REQUESTS")
        self.worker = settings.get("LOGOSIM_WORKER") or ""  # the folder's identity wins (open_spider)
        self.frontier: Frontier | None = None
        self.held: set[str] = set()  # leased here and not yet committed (taken, in flight)
        self.lost: str | None = None  # why Redis was lost mid-crawl: then nothing more is asked of it
        self._renewal: LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FrontierPipeline:
        url = crawler.settings.get("LOGOSIM_FRONTIER")
        if not url:
            raise NotConfigured  # a single-process crawl: no frontier (no message: Scrapy would warn)
        return cls(crawler, url)

    def open_spider(self) -> None:
        try:
            self.frontier = Frontier.connect(self.url)
            bound = self._check_binding()
            self._load(self.crawler.spider.domains_file)  # type: ignore[union-attr]
            self._bind_folder(bound)
            self._reconcile()
        except (LogosimError, redis.RedisError) as exc:
            assert self.crawler.stats is not None
            message = str(exc) if isinstance(exc, LogosimError) else f"frontier {redact(self.url)}: {exc}"
            self.crawler.stats.set_value(REFUSAL_STAT, message)
            logger.error("%s", message, extra={"refusal": True})
            raise CloseSpider("input_error" if isinstance(exc, InputError) else UNREACHABLE_REASON) from None
        self.crawler.spider.frontier_worker = self  # type: ignore[union-attr]
        self._renewal = LoopingCall(self.renew)
        self._renewal.start(self.lease / 3, now=True)

    def _check_binding(self) -> dict[str, Any]:
        """A folder bound to a frontier works only on that one: refused before anything is queued."""
        assert self.frontier is not None
        bound = read_state(self.data_dir).get(FRONTIER_STATE, {})
        mine, theirs = bound.get("id"), self.frontier.id()
        if mine and not theirs:
            raise LogosimError(f"frontier {redact(self.url)} holds no list, but data folder {self.data_dir.root} "
                               f"belongs to frontier {mine}: Redis lost its data (restarted without persistence?); "
                               "a new list needs new data folders")
        if mine and mine != theirs:
            raise LogosimError(f"data folder {self.data_dir.root} belongs to frontier {mine}, not to "
                               f"{redact(self.url)} ({theirs}): give this worker its own --data-dir")
        return bound

    def _load(self, domains_file: Path | None) -> None:
        assert self.frontier is not None
        if domains_file is None:
            return
        listing = read_domains(domains_file)
        added = self.frontier.load(listing.domains)
        logger.info("%d domains in %s: %d queued on the frontier, %d were already on it",
                    len(listing.domains), domains_file, added, len(listing.domains) - added)

    def _bind_folder(self, bound: dict[str, Any]) -> None:
        """state.json names the frontier this folder belongs to and the folder's worker identity."""
        assert self.frontier is not None
        frontier_id = self.frontier.id()
        if not frontier_id:
            raise LogosimError(f"frontier {redact(self.url)} holds no list yet: load one with "
                               "`logosim crawl FILE --frontier URL` (or scrapy crawl logos -a domains=FILE)")
        identity = bound.get("worker") if bound.get("id") else None
        if identity and self.worker and identity != self.worker:
            logger.warning("LOGOSIM_WORKER=%s ignored: data folder %s is worker %s", self.worker,
                           self.data_dir.root, identity)
        self.worker = identity or self.worker or worker_name()
        update_state(self.data_dir, FRONTIER_STATE, id=frontier_id, url=redact(self.url), worker=self.worker)

    def _reconcile(self) -> None:
        """What this folder's worker held when it stopped: committing and recorded -> done, the rest back to
        the queue; then every recorded domain is done (never queued again)."""
        assert self.frontier is not None
        spider = self.crawler.spider
        assert spider is not None
        if spider.manifest is None:  # type: ignore[attr-defined]  # `scrapy crawl`: nobody read it yet
            spider.manifest = read_manifest(self.data_dir.manifest)  # type: ignore[attr-defined]
        statuses = {domain: record.status for domain, record in spider.manifest.records.items()}  # type: ignore[attr-defined]
        finished, released = self.frontier.reconcile(self.worker, statuses)
        if finished or released:
            logger.info("worker %s: %d domains it was writing are done, %d it held are back on the queue",
                        self.worker, finished, released)
        self.frontier.mark_known_done(statuses, self.worker)

    async def requests(self, spider: Any) -> AsyncIterator[Any]:
        """The worker's start requests: leased domains, batch by batch, as long as Scrapy has room. If taking
        work breaks, the worker stops (``frontier_intake_failed``, exit 1) instead of idling with its leases."""
        try:
            async for request in self._requests(spider):
                yield request
        except (CloseSpider, GeneratorExit):
            raise
        except Exception as exc:  # noqa: BLE001 - any bug or bad answer: one line, a non-zero exit
            stats = self.crawler.stats
            assert stats is not None
            message = f"frontier {redact(self.url)}: taking work failed ({type(exc).__name__}: {exc})"[:500]
            stats.set_value(REFUSAL_STAT, message)
            logger.error("%s", message, extra={"refusal": True})
            raise CloseSpider(INTAKE_REASON) from None

    async def _requests(self, spider: Any) -> AsyncIterator[Any]:
        # Imported here: importing the reactor installs one, and Scrapy chooses which.
        from twisted.internet import reactor

        from crawler.spiders.logos import SiteJob

        assert self.frontier is not None
        waiting = False
        while self.lost is None:
            # Scrapy pulls start requests faster than it downloads them (its scheduler buffers them): take only
            # while fewer domains than CONCURRENT_REQUESTS are in progress here, so idle workers get the rest.
            while len(spider.pending) >= self.in_progress_max and self.lost is None:
                await maybe_deferred_to_future(deferLater(reactor, 0.05, lambda: None))
            if self.lost is not None:
                return
            try:
                taken = self.frontier.take(self.worker, self.batch, self.lease, self.grace)
                over = not taken and self.frontier.remaining() == (0, 0)
            except redis.RedisError as exc:
                self._lose(exc)
                return
            if over:
                return
            if not taken:
                if not waiting and not spider.pending:
                    waiting = True
                    logger.info("queue empty; waiting for the domains other workers hold (leases come back when "
                                "they expire, a gone worker's committing ones after %.0f s)", self.grace)
                await maybe_deferred_to_future(deferLater(reactor, min(1.0, self.lease / 4), lambda: None))
                continue
            waiting = False
            taken = self._domains(taken)
            self.held.update(taken)
            self.crawler.stats.inc_value("logosim/frontier/taken", len(taken))  # type: ignore[union-attr]
            for domain in taken:
                spider.pending.add(domain)
                yield spider.home_request(SiteJob.for_domain(domain), priority=0)

    def _domains(self, taken: list[str]) -> list[str]:
        """The taken entries that are normalised domains, as a line of the input list would be; every other one
        (a path, a port, a header injection: anyone who can write to this Redis can queue anything) is failed
        on the frontier with its reason, counted, and never becomes a request or a file name."""
        assert self.frontier is not None
        good = []
        for entry in taken:
            try:
                ok = normalise_domain(entry) == entry
            except ValueError:
                ok = False
            if ok:
                good.append(entry)
                continue
            self.frontier.reject(entry, NOT_A_DOMAIN, self.worker)
            self.crawler.stats.inc_value("logosim/frontier/rejected")  # type: ignore[union-attr]
            logger.warning("frontier entry %r is not a domain: failed, not crawled", entry[:200])
        return good

    def _lose(self, exc: Exception) -> None:
        """Redis went away mid-crawl: one error line, then the spider closes (``frontier_lost``)."""
        if self.lost is not None:
            return
        stats = self.crawler.stats
        assert stats is not None
        self.lost = (f"frontier {redact(self.url)} lost mid-crawl ({exc}): the records written in "
                     f"{self.data_dir.root} stay; start this worker again on it once Redis is back")
        stats.set_value(REFUSAL_STAT, self.lost)
        logger.error("%s", self.lost, extra={"refusal": True})
        if self.crawler.engine is not None and self.crawler.engine.spider is not None:
            deferred_from_coro(self.crawler.engine.close_spider_async(reason=LOST_REASON))

    def renew(self) -> None:
        if self.frontier is None or self.lost is not None:
            return
        try:
            self.frontier.renew(self.held, self.lease)
            self.frontier.heartbeat(self.worker)
        except redis.RedisError as exc:  # after the connection's own retries: gone
            self._lose(exc)

    def commit(self, domain: str) -> bool:
        """Before the domain's record is written (FrontierCommitPipeline); False: drop the result."""
        assert self.frontier is not None
        self.held.discard(domain)
        if self.lost is not None:
            return False
        try:
            return self.frontier.commit(domain, self.worker)
        except redis.RedisError as exc:
            self._lose(exc)
            return False

    def process_item(self, item: LogoItem) -> LogoItem:
        assert self.frontier is not None
        if self.lost is not None:  # the record is on disk: the next start reconciles it
            return item
        try:
            first = self.frontier.finish(item.domain, item.record.status, self.worker)
        except redis.RedisError as exc:
            self._lose(exc)
            return item
        if not first:
            self.crawler.stats.inc_value("logosim/frontier/duplicate")  # type: ignore[union-attr]
        return item

    def close_spider(self) -> None:
        if self._renewal is None:  # refused at the start: nothing of this worker is on the frontier
            return
        if self._renewal.running:
            self._renewal.stop()
        self.renew()


class FrontierCommitPipeline:
    """The first item pipeline on a frontier: a domain's result is kept only if its commit succeeds (this
    worker still owned its lease); otherwise nothing of it is written (another worker has the domain)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FrontierCommitPipeline:
        if not crawler.settings.get("LOGOSIM_FRONTIER"):
            raise NotConfigured  # a single-process crawl: no frontier (no message: Scrapy would warn)
        return cls(crawler)

    def process_item(self, item: LogoItem) -> LogoItem:
        worker: FrontierPipeline = self.crawler.spider.frontier_worker  # type: ignore[union-attr]
        if worker.commit(item.domain):
            return item
        assert self.crawler.stats is not None
        if worker.lost is None:
            self.crawler.stats.inc_value("logosim/frontier/lease_lost")
            raise DropItem(f"{item.domain}: this worker's lease expired and the domain went back to the "
                           "frontier; its result is dropped", log_level="INFO")
        self.crawler.stats.inc_value("logosim/frontier/uncommitted")
        raise DropItem(f"{item.domain}: the frontier is lost; not written (its lease returns to the queue)",
                       log_level="DEBUG")
