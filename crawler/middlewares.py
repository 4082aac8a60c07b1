"""Downloader middlewares: convert logo responses to PNG off the reactor thread; retry with capped back-off."""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Response
from scrapy.statscollectors import StatsCollector
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread

from common.errors import ConvertError
from convert.pool import ConvertPool, Limits
from crawler.reasons import proxy_reason

LOGO_CANDIDATE = "logo_candidate"  # request meta: this response is a logo to convert
INLINE_DATA = "logo_inline_data"  # request meta: bytes of an inline logo (no download)
CONVERTED = "logo_converted"  # meta set here: a convert.topng.Converted
CONVERT_ERROR = "logo_convert_error"  # meta set here: the ConvertError's reason
SPRITE_OF = "logo_sprite_of"  # request meta: the inline svg that draws from this response (a sprite file)


def convert_logo(body: bytes, max_side: int, min_side: int, sprite_of: bytes | None = None) -> Any:
    """Top-level so a worker process can run it."""
    from convert import to_png

    if sprite_of is not None:
        from crawler.extract import with_sprite

        body = with_sprite(sprite_of, body)
    return to_png(body, max_side=max_side, min_side=min_side)


class LogoConversionMiddleware:
    """For requests marked ``meta["logo_candidate"]``: turn the final 200 body into a PNG off the reactor
    (conversion is CPU-bound and would stall every download) and attach the result or the failure reason to
    the request's meta; the spider falls back to its next candidate on failure. Inline logos
    (``meta["logo_inline_data"]``) are answered here without any download.

    LOGOSIM_CONVERT_PROCESSES > 0 converts in that many worker processes (SVG rendering holds the GIL, so
    threads would share one core with the reactor), each logo within LOGOSIM_CONVERT_DEADLINE seconds
    (convert.pool: past it the worker is killed and replaced, the logo fails as convert_timeout);
    0 converts in the reactor's thread pool, with no deadline (a thread cannot be killed: tests only)."""

    def __init__(self, stats: StatsCollector, max_side: int, min_side: int, processes: int = 0,
                 limits: Limits | None = None) -> None:
        self.stats = stats
        self.max_side = max_side
        self.min_side = min_side
        self.pool: ConvertPool | None = ConvertPool(processes, limits or Limits()) if processes > 0 else None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LogoConversionMiddleware:
        settings = crawler.settings
        assert crawler.stats is not None
        limits = Limits(settings.getfloat("LOGOSIM_CONVERT_DEADLINE"), settings.getint("LOGOSIM_CONVERT_CPU_S"),
                        settings.getint("LOGOSIM_CONVERT_MEMORY_MB") * 1024 * 1024)
        middleware = cls(crawler.stats, settings.getint("LOGOSIM_LOGO_MAX_SIDE"),
                         settings.getint("LOGOSIM_LOGO_MIN_SIDE"), settings.getint("LOGOSIM_CONVERT_PROCESSES"),
                         limits)
        crawler.signals.connect(middleware.close, signal=signals.spider_closed)
        return middleware

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def process_request(self, request: Request) -> Response | None:
        data = request.meta.pop(INLINE_DATA, None)
        if data is None:
            return None
        return Response(request.url, status=200, body=data, request=request)

    async def process_response(self, request: Request, response: Response) -> Response:
        if not request.meta.get(LOGO_CANDIDATE) or response.status != 200:
            return response
        try:
            converted = await self._convert(response.body, request.meta.get(SPRITE_OF))
        except ConvertError as exc:
            request.meta[CONVERT_ERROR] = exc.reason
            self.stats.inc_value(f"logosim/convert/error/{exc.reason}")
        else:
            request.meta[CONVERTED] = converted
            self.stats.inc_value("logosim/convert/ok")
        return response.replace(body=b"")  # the PNG is all we keep: free the original bytes now

    async def _convert(self, body: bytes, sprite_of: bytes | None = None) -> Any:
        if self.pool is not None:
            # A logo that outlives its deadline or kills its worker (a crash in a native library, the OOM
            # killer) fails alone as a ConvertError; pebble replaces the worker for the next logo.
            return await asyncio.wrap_future(self.pool.submit(convert_logo, body, self.max_side, self.min_side,
                                                              sprite_of))
        return await maybe_deferred_to_future(deferToThread(convert_logo, body, self.max_side, self.min_side,
                                                            sprite_of))


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retry, plus a wait before each retry: ``Retry-After`` when the server sends one (capped, as a
    broad crawl cannot park a download slot for minutes on one site), else exponential back-off. A proxy's
    DNS/connect failure is final: retrying a name that does not resolve only doubles its cost."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.retry_after_max = settings.getfloat("LOGOSIM_RETRY_AFTER_MAX")
        self.backoff = settings.getfloat("LOGOSIM_RETRY_BACKOFF")

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry") or response.status not in self.retry_http_codes:
            return response
        if proxy_reason(response):
            return response
        retry = self._retry(request, f"HTTP {response.status}")
        if retry is None:
            return response
        delay = self.delay(response, request.meta.get("retry_times", 0))
        if delay > 0:
            from twisted.internet import reactor  # imported late: importing it installs a reactor

            await maybe_deferred_to_future(deferLater(reactor, delay, lambda: None))
        return retry

    def delay(self, response: Response, retries: int) -> float:
        header = response.headers.get(b"Retry-After")
        wait = parse_retry_after(header.decode("latin-1")) if header else None
        if wait is None:
            wait = self.backoff * (2**retries)
        return max(0.0, min(wait, self.retry_after_max))


def parse_retry_after(value: str, now: float | None = None) -> float | None:
    """``Retry-After`` is either seconds or an HTTP date."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - (time.time() if now is None else now)
