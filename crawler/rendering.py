"""The logos spider's browser stage (crawler.browser says when and how): a homepage whose served markup shows no
header logo and looks built by a script, or a challenge that answered 403/503, is opened once in headless
Chromium; its rendered DOM goes through the same extraction, and the candidates found there go first."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

from scrapy.crawler import Crawler
from scrapy.http import Request, Response
from scrapy.settings import BaseSettings
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from common.config import BROWSER_MODES
from crawler.browser import GUARD, browser_settings, find_chromium, looks_scripted

logger = logging.getLogger(__name__)
PRIORITY_RENDER = 1
FAILED_BODY_SCAN = 64 * 1024  # of a 403/503 answer, the bytes read for a challenge (in the reactor's thread)


class RenderStage:
    """Mixed into LogosSpider: ``render_request`` after a homepage, ``parse_rendered`` then ``next_candidate``."""

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        """Install the browser pass (its download handler and Playwright's settings) when LOGOSIM_BROWSER is not
        ``never`` and a Chromium is found: Scrapy builds its download handlers from these settings."""
        super().update_settings(settings)  # type: ignore[misc]
        mode = str(settings.get("LOGOSIM_BROWSER") or "auto").lower()
        if mode not in BROWSER_MODES:
            raise ValueError(f"LOGOSIM_BROWSER={mode!r}: use one of {', '.join(BROWSER_MODES)}")
        chromium = find_chromium(settings.get("LOGOSIM_CHROMIUM"))
        settings.set("LOGOSIM_BROWSER_FOUND", chromium, priority="spider")
        extra = browser_settings(mode, chromium, _crawl_proxy(settings), settings.getint("LOGOSIM_BROWSER_PAGES"),
                                 settings.getfloat("LOGOSIM_BROWSER_DEADLINE"))
        for name, value in extra.items():
            settings.set(name, value, priority="spider")

    def init_browser(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.browser_mode = str(settings.get("LOGOSIM_BROWSER") or "auto").lower()
        self.browser_on = settings.getbool("LOGOSIM_BROWSER_ON")
        self.browser_settle = settings.getfloat("LOGOSIM_BROWSER_SETTLE")
        GUARD["proxied"] = "proxy" in settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")  # update_settings read it
        GUARD["allow_private"] = settings.getbool("LOGOSIM_ALLOW_PRIVATE_ADDRESSES")
        if self.browser_mode != "never" and not self.browser_on:
            logger.warning("browser pass off: no Chromium found (apt-get install chromium, or set LOGOSIM_CHROMIUM); "
                           "sites whose header a script writes get their favicon or nothing")

    async def render_reason(self, response: Response, candidates: list[Any]) -> str | None:
        """Why this served homepage goes to the browser, or None (off, already rendered, a header logo found, or
        a page no script builds). The markup is scanned in the thread pool."""
        if not self.browser_on or response.meta.get("rendered"):
            return None
        if self.browser_mode == "always":
            return "always"
        from crawler.extract import TIERS

        if candidates and candidates[0].score >= TIERS["header_logo"]:
            return None
        return await maybe_deferred_to_future(deferToThread(looks_scripted, response.body))

    def render_request(self, job: Any, response: Response, candidates: list[Any], why: str) -> Request:
        job.static = list(candidates)
        self.crawler.stats.inc_value(f"logosim/browser/{why}")  # type: ignore[attr-defined]
        meta = {"job": job, "rendered": True, "playwright": True, "playwright_include_page": True,
                "playwright_context": "default", "playwright_page_goto_kwargs": {"wait_until": "domcontentloaded"}}
        return Request(response.url, callback=self.parse_rendered, errback=self.render_failed, meta=meta,
                       dont_filter=True, priority=PRIORITY_RENDER)

    def challenge_request(self, job: Any, response: Response) -> Request | None:
        """A homepage refused with 403/503 whose body is a script challenge: the browser answers it."""
        if not self.browser_on or response.meta.get("rendered"):
            return None
        if looks_scripted(response.body[:FAILED_BODY_SCAN]) != "challenge":
            return None
        return self.render_request(job, response, [], "challenge")

    async def parse_rendered(self, response: Response) -> Iterable[Any]:
        from crawler.extract import ExtractTimeout, find_candidates, run_within

        job = response.meta["job"]
        page = response.meta.pop("playwright_page", None)
        html, url = response.text, response.url
        try:
            if page is not None:
                with suppress(Exception):  # a page that never finishes loading is read as it stands
                    await page.wait_for_load_state("load", timeout=int(self.browser_settle * 1000))
                html, url = await page.content(), page.url
                job.cookies = "; ".join(f"{c['name']}={c['value']}" for c in await page.context.cookies(url))
        finally:
            if page is not None:
                await page.close()
        job.rendered = True
        try:
            candidates = await maybe_deferred_to_future(deferToThread(
                run_within, self.extract_deadline, find_candidates, html.encode("utf-8"), url, job.domain,  # type: ignore[attr-defined]
                encoding="utf-8"))
        except ExtractTimeout:
            candidates = []
        seen = {c.key() for c in candidates}
        job.candidates = list(candidates) + [c for c in job.static if c.key() not in seen]
        self.crawler.stats.inc_value("logosim/browser/rendered")  # type: ignore[attr-defined]
        return self.next_candidate(job)  # type: ignore[attr-defined]

    def render_failed(self, failure: Failure) -> list[Any]:
        request = failure.request  # type: ignore[attr-defined]
        job = request.meta["job"]
        page = request.meta.pop("playwright_page", None)
        if page is not None:
            asyncio.ensure_future(page.close())
        self.crawler.stats.inc_value("logosim/browser/failed")  # type: ignore[attr-defined]
        logger.info("browser pass failed for %s: %s", job.domain, failure.getErrorMessage()[:200])
        if job.static:
            job.candidates = list(job.static)
            return self.next_candidate(job)  # type: ignore[attr-defined]
        from crawler.items import LogoItem
        from crawler.reasons import best_reason

        if job.failures:
            return [self.finish(job, LogoItem.failed(job.domain, best_reason(job.failures)))]  # type: ignore[attr-defined]
        return [self.finish(job, LogoItem.no_logo(job.domain, "render_failed"))]  # type: ignore[attr-defined]


def _crawl_proxy(settings: BaseSettings) -> str | None:
    """The proxy the crawl's requests take: LOGOSIM_PROXY, else the http(s)_proxy that Scrapy's own
    HttpProxyMiddleware reads (the browser must take the same way out)."""
    if settings.get("LOGOSIM_PROXY"):
        return str(settings.get("LOGOSIM_PROXY"))
    from urllib.request import getproxies

    proxies = getproxies()
    return proxies.get("https") or proxies.get("http")
