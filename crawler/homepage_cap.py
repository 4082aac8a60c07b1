"""Read a homepage up to its cap whatever length it declares, instead of refusing it (downloader middleware).

Scrapy cancels a download whose Content-Length exceeds DOWNLOAD_MAXSIZE before reading a byte, so a 12 MB
homepage with its logo in the first kilobytes was refused as ``homepage_too_large``. For homepage requests
this middleware lifts that per-request limit on the way to the downloader; the spider's ``bytes_received``
handler (``LogosSpider.truncate_homepage``) stops the body at LOGOSIM_HOMEPAGE_MAXSIZE, which bounds the
bytes read whatever the server declares or streams. On the way back the limit is restored before
HttpCompressionMiddleware (590) decodes the body, so a compressed page still cannot inflate past
DOWNLOAD_MAXSIZE. Ordered at 595: after compression's request hook, before its response hook.

A page that will be cut anyway (its declared, uncompressed Content-Length is above the cap) is cut where
nothing more is needed instead of at the cap: ``HeaderRegion`` watches its bytes for the start of the main
content (the first ``<main``) and, when what came before it already shows a header-tier logo, the spider
stops there (LOGOSIM_HOMEPAGE_STOP_AT_MAIN). Measured on the 89 real pages (../shared/data/real-pages),
each cut so: 33 would stop there, with the same chosen logo as the whole page on all 33 (5.7 MB of 7.6 MB
not needed); the other 56 have no <main> (50) or no header logo before it (6) and read on to the cap. Cutting
at the first </header> instead changed 4 of 68 (inc and instagram keep their logo in a later nav, bloomberg
a JSON-LD Organization logo after the header, mac-rumors a second header), and at the first <main> without
the header-logo condition 1 of 39 (instagram).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from scrapy.crawler import Crawler
from scrapy.http import Request, Response

logger = logging.getLogger(__name__)
_SAVED = "_logosim_maxsize"
MAIN_START = re.compile(rb"<main[\s>/]", re.I)
_OVERLAP = 5  # bytes of the previous chunk searched again: a tag split between two chunks


class HeaderRegion:
    """The received bytes of one oversized homepage, until its main content starts (at most the cap: the
    spider stops there anyway). The check parses them once, in the reactor thread: a page over the cap is rare
    (7 in 600 on the fixture web), and the parse costs less than reading on to the cap."""

    def __init__(self, url: str, domain: str) -> None:
        self.url, self.domain = url, domain
        self.buffer: bytearray | None = bytearray()

    def feed(self, data: bytes) -> bool:
        """True when the main content has started and the bytes before it show a header-tier logo (checked once:
        a page without one reads on to the cap)."""
        if self.buffer is None:
            return False
        start = max(0, len(self.buffer) - _OVERLAP)
        self.buffer += data
        match = MAIN_START.search(self.buffer, start)
        if match is None:
            return False
        head, self.buffer = bytes(self.buffer[: match.start()]), None
        return shows_header_logo(head, self.url, self.domain)


def shows_header_logo(html: bytes, url: str, domain: str) -> bool:
    from crawler.extract import TIERS, find_candidates

    candidates = find_candidates(html, url, domain)
    return bool(candidates) and candidates[0].score >= TIERS["header_logo"]


def abort_stopped_downloads() -> bool:
    """Make a download stopped from a signal handler (StopDownload: the cap, the stop at <main>) drop its connection
    at once, as Scrapy's own size limit does (``_ScrapyAgent._cancel``).

    Scrapy stops it with loseConnection(), which on TLS sends close_notify and keeps reading, and decrypting, the
    rest of the body until the server answers or closes (Twisted #8930): the whole 12 or 64 MB after the cut.
    Measured, 20 oversized fixture pages (twelve_mb_page, giant_homepage, huge_homepage) through the real
    spider: 3.4-3.7 s of crawler CPU, 2.0-2.6 s with the abort, as much as 20 ordinary sites (2.1 s). False, and
    nothing changed, when Scrapy's private reader no longer looks as expected."""
    from scrapy.core.downloader.handlers import http11

    reader = getattr(http11, "_ResponseReader", None)
    finish = getattr(reader, "_finish_response", None)
    if finish is None:
        return False
    if getattr(finish, "_logosim_aborts", False):
        return True

    def _finish_response(self: Any, flags: list[str] | None = None, stop_download: Any = None) -> None:
        finish(self, flags=flags, stop_download=stop_download)
        producer = getattr(self.transport, "_producer", None)
        if stop_download is not None and producer is not None:
            producer.abortConnection()

    _finish_response._logosim_aborts = True  # type: ignore[attr-defined]
    reader._finish_response = _finish_response  # type: ignore[union-attr]
    return True


def will_be_cut(headers: Any, body_length: object, maxsize: int) -> bool:
    """The page declares more bytes than the cap, uncompressed (compressed bytes cannot be searched)."""
    encoding = (headers.get(b"Content-Encoding") or b"identity").strip().lower()
    return isinstance(body_length, int) and body_length > maxsize and encoding == b"identity"


class HomepageCapMiddleware:
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HomepageCapMiddleware:
        if not abort_stopped_downloads():
            logger.warning("Scrapy's response reader changed: a stopped homepage is closed, not aborted")
        return cls(crawler.settings.getint("DOWNLOAD_MAXSIZE"))

    def process_request(self, request: Request, spider: Any = None) -> None:
        if request.meta.get("homepage"):
            request.meta[_SAVED] = request.meta.get("download_maxsize", self.maxsize)
            request.meta["download_maxsize"] = 0  # no declared-length refusal: truncate_homepage bounds the read

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Response:
        if _SAVED in request.meta:
            request.meta["download_maxsize"] = request.meta.pop(_SAVED)
        return response

    def process_exception(self, request: Request, exception: Exception, spider: Any = None) -> None:
        if _SAVED in request.meta:
            request.meta["download_maxsize"] = request.meta.pop(_SAVED)
