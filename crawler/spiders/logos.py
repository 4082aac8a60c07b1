"""`scrapy crawl logos -a domains=FILE [-a force=1]`: visit each site, find its own logo, yield one item per domain.

Per domain: the homepage (https, then http; the bare domain, then www.), its logo candidates best first
(crawler.extract.candidates), then each candidate in turn until one converts to a PNG (conversion happens in
crawler.middlewares.LogoConversionMiddleware). Every path ends in exactly one LogoItem for the domain.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider, DontCloseSpider, StopDownload
from scrapy.http import Request, Response, TextResponse
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from common.domains import read_domains
from common.errors import InputError
from common.manifest import ManifestRead, read_manifest
from convert import MIME_TYPES, magic_format
from crawler.homepage_cap import HeaderRegion, will_be_cut
from crawler.items import LogoItem
from crawler.middlewares import CONVERT_ERROR, CONVERTED, INLINE_DATA, LOGO_CANDIDATE, SPRITE_OF
from crawler.pipelines import REFUSAL_STAT, crawl_data_dir
from crawler.reasons import best_reason, failure_reason
from crawler.rendering import RenderStage
from crawler.stylesheets import StylesheetStage

logger = logging.getLogger(__name__)

# Requests of sites already in progress go first, so the crawl finishes sites instead of opening new ones
# (bounded memory): start requests 0, homepage fallbacks 1, logo candidates 2.
PRIORITY_HOME, PRIORITY_LOGO = 1, 2
_FINAL_HOME_REASONS = ("http_", "too_many_redirects", "homepage_too_large")
_REGION = "_header_region"
_FLOW = "_flow"  # (request id, monotonic time of its first body bytes, bytes so far)


@dataclass
class SiteJob:
    """Where one domain's crawl stands; travels in request meta."""

    domain: str
    homepages: list[str]
    failures: list[str] = field(default_factory=list)
    candidates: list[Any] = field(default_factory=list)  # crawler.extract.candidates.Candidate, best first
    tried: set[str] = field(default_factory=set)
    attempts: int = 0
    last_reason: str | None = None
    refreshes: int = 0
    rendered: bool = False  # the candidates come from the browser pass (crawler.browser)
    static: list[Any] = field(default_factory=list)  # the served page's candidates, should the browser fail
    cookies: str = ""  # what the browser's page left (a challenge's cookie), sent with the logo's requests

    @classmethod
    def for_domain(cls, domain: str) -> SiteJob:
        return cls(domain, [f"{scheme}://{host}/" for host in (domain, f"www.{domain}")
                            for scheme in ("https", "http")])


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


def logo_url(candidate: Any) -> str:
    """What the manifest records as the logo's address; inline logos get a short stand-in."""
    if candidate.url and not candidate.url.startswith("data:"):
        return candidate.url
    if candidate.url:
        return candidate.url[:120]
    if candidate.source == "svg_inline":
        return "inline:svg"
    data = candidate.data or b""
    fmt = "svg" if data.lstrip()[:1] == b"<" else magic_format(data)
    mime = MIME_TYPES.get(fmt or "", "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(data[:48]).decode()}"[:120]


def alternatives(remaining: list[Any], chosen: Any, count: int = 2) -> list[dict[str, str]]:
    """The next ``count`` candidates after the chosen one, as the manifest records them."""
    out: list[dict[str, str]] = []
    seen = {logo_url(chosen)}
    for cand in remaining:
        url = logo_url(cand)
        if url not in seen and not cand.is_manifest:
            seen.add(url)
            out.append({"url": url, "source": cand.source})
        if len(out) == count:
            break
    return out


def _guarded(callback: Callable[..., Any]) -> Callable[..., Any]:
    """A bug while handling one site becomes that site's record (internal_error), never a lost domain."""

    async def wrapper(self: LogosSpider, response: Response) -> list[Any]:
        try:
            return list(await callback(self, response))
        except Exception as exc:  # noqa: BLE001 - any bug: record it for this site, keep crawling
            logger.exception("internal error on %s", response.url)
            return [self.finish(response.meta["job"], LogoItem.no_logo(
                response.meta["job"].domain, f"internal_error:{type(exc).__name__}"))]

    wrapper.__name__ = callback.__name__
    return wrapper


class LogosSpider(StylesheetStage, RenderStage, scrapy.Spider):
    name = "logos"

    def __init__(self, domains: str | None = None, force: str | bool = False,
                 on_start: Callable[[int], None] | None = None, todo: list[str] | None = None,
                 manifest: ManifestRead | None = None, **kwargs: Any) -> None:
        """``domains``: the input file (``scrapy crawl logos -a domains=FILE``); ``todo``: the domains to
        crawl, already planned by the caller (``crawler.runner``) from the file and ``manifest``, the data
        folder's manifest as read once for this crawl (the manifest pipeline compacts from it at the end)."""
        super().__init__(**kwargs)
        self.domains_file = Path(domains) if domains else None
        self.todo = todo
        self.manifest = manifest
        self.force = str(force).lower() in ("1", "true", "yes", "on")
        self.on_start = on_start
        self.pending: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> LogosSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.data_dir = crawl_data_dir(crawler)
        spider.homepage_maxsize = settings.getint("LOGOSIM_HOMEPAGE_MAXSIZE")
        spider.stop_at_main = settings.getbool("LOGOSIM_HOMEPAGE_STOP_AT_MAIN")
        spider.max_candidates = settings.getint("LOGOSIM_MAX_CANDIDATES")
        spider.max_refreshes = settings.getint("LOGOSIM_MAX_REFRESHES")
        spider.extract_deadline = settings.getfloat("LOGOSIM_EXTRACT_DEADLINE")
        spider.init_stylesheets(settings)
        spider.init_browser(crawler)
        # We never verify certificates (a logo is public), so a per-site hostname warning is only noise.
        logging.getLogger("scrapy.core.downloader.tls").setLevel(logging.ERROR)
        spider.low_speed_limit = settings.getint("LOGOSIM_LOW_SPEED_LIMIT")
        spider.low_speed_time = settings.getfloat("LOGOSIM_LOW_SPEED_TIME")
        crawler.signals.connect(spider.on_bytes, signal=signals.bytes_received)
        if spider.stop_at_main:
            crawler.signals.connect(spider.watch_oversized_homepage, signal=signals.headers_received)
        crawler.signals.connect(spider.recover_lost_sites, signal=signals.spider_idle)
        return spider

    # -- start ---------------------------------------------------------------------------------------------
    def plan(self) -> list[str]:
        """The input's domains minus those already in the manifest (unless force)."""
        if self.domains_file is None:
            raise InputError("no domain list: pass -a domains=FILE (.parquet, .csv or .txt)")
        listing = read_domains(self.domains_file)
        for rejected in listing.rejected[:50]:
            logger.warning("%s line %d: %r skipped (%s)", self.domains_file, rejected.line, rejected.text,
                           rejected.reason)
        if len(listing.rejected) > 50:
            logger.warning("... and %d more unusable lines", len(listing.rejected) - 50)
        self.manifest = read_manifest(self.data_dir.manifest)
        done = set() if self.force else set(self.manifest.records)
        todo = [domain for domain in listing.domains if domain not in done]
        logger.info("%d domains in %s: %d to crawl, %d already in the manifest", len(listing.domains),
                    self.domains_file, len(todo), len(listing.domains) - len(todo))
        return todo

    async def start(self) -> AsyncIterator[Request]:
        worker = getattr(self, "frontier_worker", None)  # crawler.frontier_worker: setting LOGOSIM_FRONTIER
        if worker is not None:
            async for request in worker.requests(self):
                yield request
            return
        try:
            todo = self.todo if self.todo is not None else self.plan()
        except InputError as exc:
            self.crawler.stats.set_value(REFUSAL_STAT, str(exc))
            logger.error("%s", exc)
            raise CloseSpider("input_error") from None
        if self.on_start:
            self.on_start(len(todo))
        for domain in todo:
            self.pending.add(domain)
            yield self.home_request(SiteJob.for_domain(domain), priority=0)

    # -- homepage ------------------------------------------------------------------------------------------
    def home_request(self, job: SiteJob, url: str | None = None, priority: int = PRIORITY_HOME) -> Request:
        url = url or job.homepages.pop(0)
        meta: dict[str, Any] = {"job": job, "homepage": True, "home_url": url}
        if "timeout" in job.failures:  # one full wait per site: the other scheme gets a short one
            meta["download_timeout"] = self.settings.getfloat("LOGOSIM_FALLBACK_TIMEOUT")
        return Request(url, callback=self.parse_home, errback=self.home_failed, dont_filter=True,
                       priority=priority, meta=meta)

    def watch_oversized_homepage(self, headers: Any, body_length: object, request: Request,
                                 spider: scrapy.Spider) -> None:
        """A homepage that will be cut anyway is watched for its header region's end (crawler.homepage_cap)."""
        if request.meta.get("homepage") and will_be_cut(headers, body_length, self.homepage_maxsize):
            request.meta[_REGION] = (id(request), HeaderRegion(request.url, request.meta["job"].domain,
                                                               self.extract_deadline))

    def on_bytes(self, data: bytes, request: Request, spider: scrapy.Spider) -> None:
        """Every body's bytes as they arrive (one handler: it runs for each chunk of every response).

        A body slower than LOGOSIM_LOW_SPEED_LIMIT bytes/s on average once LOGOSIM_LOW_SPEED_TIME seconds have
        passed since its first bytes is stopped as a timeout (curl's --speed-limit/--speed-time, which curl also
        reports as a timeout): a server that trickles would otherwise hold the request for DOWNLOAD_TIMEOUT.
        Of a homepage only the first LOGOSIM_HOMEPAGE_MAXSIZE bytes are kept: the logo is near the top; of a page
        cut anyway, only what comes before its main content when that shows the header logo."""
        # Retries and redirects copy meta: count per request object, not per meta dict.
        now = time.monotonic()
        owner, first, received = request.meta.get(_FLOW, (None, now, 0))
        if owner != id(request):
            first, received = now, 0
        received += len(data)
        request.meta[_FLOW] = (id(request), first, received)
        if now - first >= self.low_speed_time and received < self.low_speed_limit * (now - first):
            request.meta.pop(_REGION, None)
            self.crawler.stats.inc_value("logosim/too_slow")
            raise StopDownload(fail=True)  # crawler.reasons: a timeout
        if not request.meta.get("homepage"):
            return
        owner, region = request.meta.get(_REGION, (None, None))
        if owner == id(request) and region.feed(data):
            request.meta.pop(_REGION)
            self.crawler.stats.inc_value("logosim/homepage_stopped_at_main")
            raise StopDownload(fail=False)
        if received > self.homepage_maxsize:
            request.meta.pop(_REGION, None)
            self.crawler.stats.inc_value("logosim/homepage_truncated")
            raise StopDownload(fail=False)

    @_guarded
    async def parse_home(self, response: Response) -> Iterable[Any]:
        job: SiteJob = response.meta["job"]
        if not isinstance(response, TextResponse):
            return [self.finish(job, LogoItem.no_logo(job.domain, "not_html"))]
        from crawler.extract import ExtractTimeout, find_candidates, meta_refresh_url, run_within

        body, encoding = response.body, response.encoding
        try:
            candidates = await maybe_deferred_to_future(deferToThread(
                run_within, self.extract_deadline, find_candidates, body, response.url, job.domain, encoding=encoding))
        except ExtractTimeout:
            self.crawler.stats.inc_value("logosim/extract_timeout")
            return [self.finish(job, LogoItem.no_logo(job.domain, "extract_timeout"))]
        if (why := await self.render_reason(response, candidates)) is not None:
            return [self.render_request(job, response, candidates, why)]
        if not candidates or all(c.source == "favicon" for c in candidates):
            try:  # a second parse of the page: in the thread pool too, never in the reactor's thread
                target = await maybe_deferred_to_future(deferToThread(
                    run_within, self.extract_deadline, meta_refresh_url, body, response.url))
            except ExtractTimeout:
                target = None
            if target and job.refreshes < self.max_refreshes:
                job.refreshes += 1
                return [self.home_request(job, target)]
        if not candidates:
            return [self.finish(job, LogoItem.no_logo(job.domain, "no_candidates"))]
        job.candidates = list(candidates)
        if (sheet := await self.stylesheet_request(job, response, job.candidates)) is not None:
            return [sheet]  # no header logo in the markup: its own stylesheets may draw one
        return self.next_candidate(job)

    def home_failed(self, failure: Failure) -> list[Any]:
        request = failure.request  # type: ignore[attr-defined]
        job: SiteJob = request.meta["job"]
        try:
            reason = failure_reason(failure, homepage=True)
            job.failures.append(reason)
            response = getattr(failure.value, "response", None)
            if reason in ("http_403", "http_5xx") and response is not None \
                    and (render := self.challenge_request(job, response)) is not None:
                return [render]  # a challenge page: the browser answers it
            # Scrapy sets download_latency once the response headers arrive: a timeout after that is a
            # server that answered and then trickled, and its other scheme is the same slow server.
            answered = "download_latency" in request.meta
            url = self.next_homepage(job, reason, request.meta.get("home_url", request.url), answered=answered)
            if url:
                return [self.home_request(job, url)]
            return [self.finish(job, LogoItem.failed(job.domain, best_reason(job.failures)))]
        except Exception as exc:  # noqa: BLE001 - see _guarded
            logger.exception("internal error on %s", request.url)
            return [self.finish(job, LogoItem.failed(job.domain, f"internal_error:{type(exc).__name__}"))]

    @staticmethod
    def next_homepage(job: SiteJob, reason: str, failed_url: str, answered: bool = False) -> str | None:
        """An HTTP answer ends the search (the site exists), and so does a timeout after the server began to
        answer; a name that does not resolve skips to www.; a timeout with no answer at all (a port behind a
        firewall) still tries the other scheme on the same host, but not www. (same server, same wait)."""
        if reason.startswith(_FINAL_HOME_REASONS) or (reason == "timeout" and answered):
            return None
        host = _host(failed_url)
        if reason == "dns_error":
            job.homepages = [url for url in job.homepages if _host(url) != host]
        elif reason == "timeout":
            job.homepages = [url for url in job.homepages if _host(url) == host]
        return job.homepages.pop(0) if job.homepages else None

    # -- logo candidates -----------------------------------------------------------------------------------
    def next_candidate(self, job: SiteJob) -> list[Any]:
        while job.candidates and job.attempts < self.max_candidates:
            candidate = job.candidates.pop(0)
            if candidate.key() in job.tried:
                continue
            job.tried.add(candidate.key())
            job.attempts += 1
            return [self.candidate_request(job, candidate)]
        reason = f"all_candidates_failed:{job.last_reason or 'none'}"
        return [self.finish(job, LogoItem.no_logo(job.domain, reason))]

    def candidate_request(self, job: SiteJob, candidate: Any) -> Request:
        meta: dict[str, Any] = {"job": job, "candidate": candidate}
        if candidate.is_manifest:
            return Request(candidate.url, callback=self.parse_manifest, errback=self.candidate_failed,
                           meta=meta, dont_filter=True, priority=PRIORITY_LOGO)
        meta[LOGO_CANDIDATE] = True
        url = candidate.url
        if candidate.data is not None:
            meta[INLINE_DATA], url = candidate.data, "data:,inline"
        if candidate.sprite is not None:
            meta[SPRITE_OF] = candidate.sprite
        headers = {"Cookie": job.cookies} if job.cookies else None
        return Request(url, callback=self.parse_logo, errback=self.candidate_failed, meta=meta, headers=headers,
                       dont_filter=True, priority=PRIORITY_LOGO)

    @_guarded
    async def parse_logo(self, response: Response) -> Iterable[Any]:
        job: SiteJob = response.meta["job"]
        candidate = response.meta["candidate"]
        converted = response.meta.get(CONVERTED)
        if converted is None:
            job.last_reason = response.meta.get(CONVERT_ERROR, "not_converted")
            return self.next_candidate(job)
        return [self.finish(job, LogoItem.found(
            job.domain, converted.png, source=candidate.source, logo_url=logo_url(candidate),
            sha256=converted.sha256, width=converted.width, height=converted.height,
            alternatives=alternatives(job.candidates, candidate)))]

    @_guarded
    async def parse_manifest(self, response: Response) -> Iterable[Any]:
        from crawler.extract import ExtractTimeout, icons_from_manifest, run_within

        job: SiteJob = response.meta["job"]
        try:  # parsed in the thread pool under the extraction deadline, like a page
            icons = await maybe_deferred_to_future(deferToThread(
                run_within, self.extract_deadline, icons_from_manifest, response.body, response.url))
        except ExtractTimeout:
            self.crawler.stats.inc_value("logosim/extract_timeout")
            icons = []
        job.attempts -= 1  # the manifest itself is not a logo: its icons get the attempt
        job.candidates[:0] = icons
        job.last_reason = job.last_reason if icons else "manifest_without_icons"
        return self.next_candidate(job)

    def candidate_failed(self, failure: Failure) -> list[Any]:
        job: SiteJob = failure.request.meta["job"]  # type: ignore[attr-defined]
        job.last_reason = failure_reason(failure)
        return self.next_candidate(job)

    # -- the end of a site ---------------------------------------------------------------------------------
    def finish(self, job: SiteJob, item: LogoItem) -> LogoItem:
        self.pending.discard(job.domain)
        if job.rendered:
            item.record.rendered = True
        return item

    def recover_lost_sites(self) -> None:
        """Safety net: if a site's chain of requests broke (a bug), record it instead of losing the domain."""
        lost = sorted(self.pending)
        if not lost or self.crawler.engine is None:
            return
        logger.error("%d sites lost their request chain; recording them as internal_error", len(lost))
        self.crawler.engine.crawl(Request("data:,", callback=self._record_lost, dont_filter=True,
                                          meta={"lost": lost}))
        raise DontCloseSpider

    def _record_lost(self, response: Response) -> list[LogoItem]:
        lost = response.meta["lost"]
        self.pending.difference_update(lost)
        return [LogoItem.failed(domain, "internal_error:lost") for domain in lost]
