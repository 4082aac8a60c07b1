"""Read a homepage up to its cap whatever length it declares, instead of refusing it (downloader middleware).

Scrapy cancels a download whose Content-Length exceeds DOWNLOAD_MAXSIZE before reading a byte, so a 12 MB
homepage with its logo in the first kilobytes was refused as ``homepage_too_large``. For homepage requests
this middleware lifts that per-request limit on the way to the downloader; the spider's ``bytes_received``
handler (``LogosSpider.on_bytes``) stops the body at LOGOSIM_HOMEPAGE_MAXSIZE, which bounds the
bytes read whatever the server declares or streams. On the way back the limit is restored and a compressed
page is decoded here, to at most the cap of its decoded bytes (``decoded_prefix``), before
HttpCompressionMiddleware (590) would inflate it whole. Ordered at 595: after compression's request hook,
before its response hook.

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
import zlib
from collections.abc import Callable
from typing import Any

from scrapy.crawler import Crawler
from scrapy.http import Request, Response
from scrapy.responsetypes import responsetypes
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

logger = logging.getLogger(__name__)
_SAVED = "_logosim_maxsize"
MAIN_START = re.compile(rb"<main[\s>/]", re.I)
_INFLATE_CHUNK = 64 * 1024  # compressed bytes inflated at a time
_OVERLAP = 5  # bytes of the previous chunk searched again: a tag split between two chunks


class HeaderRegion:
    """The received bytes of one oversized homepage, until its main content starts (at most the cap: the
    spider stops there anyway). Those bytes are checked once, in the reactor's thread pool under the extraction
    deadline (never in the reactor's own thread: a page's parse must not stall every download); the download
    stops at the first chunk after the check said yes, and reads on to the cap when it said no or failed."""

    def __init__(self, url: str, domain: str, deadline_s: float | None = None,
                 run: Callable[..., Any] = deferToThread) -> None:
        """``run(fn, *args)``: where the check runs (a Deferred of its result; or the result itself)."""
        self.url, self.domain, self.deadline_s, self.run = url, domain, deadline_s, run
        self.buffer: bytearray | None = bytearray()
        self.verdict: bool | None = None  # None: not checked yet, or the check is still running

    def feed(self, data: bytes) -> bool:
        """True once the main content has started and the bytes before it showed a header-tier logo."""
        if self.verdict is not None or self.buffer is None:
            return bool(self.verdict)
        start = max(0, len(self.buffer) - _OVERLAP)
        self.buffer += data
        match = MAIN_START.search(self.buffer, start)
        if match is None:
            return False
        head, self.buffer = bytes(self.buffer[: match.start()]), None
        from crawler.extract import run_within

        checked = self.run(run_within, self.deadline_s, shows_header_logo, head, self.url, self.domain)
        if isinstance(checked, Deferred):
            checked.addCallbacks(self._decided, self._undecided)
        else:
            self._decided(checked)
        return bool(self.verdict)

    def _decided(self, shown: bool) -> None:
        self.verdict = bool(shown)

    def _undecided(self, failure: Failure) -> None:
        self.verdict = False  # an extraction that failed or timed out: read on to the cap


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


def decoded_prefix(body: bytes, encoding: bytes, limit: int) -> bytes | None:
    """The first ``limit`` bytes of ``body`` decoded from one Content-Encoding (gzip, deflate, br), never
    inflating more than that; a stream cut short (the page cap cut it) or corrupt later on gives what came
    before. None for an encoding decoded elsewhere (HttpCompressionMiddleware, bounded by DOWNLOAD_MAXSIZE)."""
    encoding = encoding.strip().lower()
    if encoding in (b"gzip", b"x-gzip"):
        return _inflate_prefix(body, 16 + zlib.MAX_WBITS, limit)
    if encoding == b"deflate":  # zlib-wrapped as the standard says, or raw as some servers send it
        return _inflate_prefix(body, zlib.MAX_WBITS, limit) if body[:1] == b"\x78" \
            else _inflate_prefix(body, -zlib.MAX_WBITS, limit)
    if encoding == b"br":
        import brotli

        try:
            return bytes(brotli.Decompressor().process(body, output_buffer_limit=limit)[:limit])
        except brotli.error:
            return b""
    return None


def _inflate_prefix(body: bytes, wbits: int, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    out = bytearray()
    try:
        for start in range(0, len(body), _INFLATE_CHUNK):
            out += inflater.decompress(body[start:start + _INFLATE_CHUNK], limit - len(out))
            if len(out) >= limit:
                break
    except zlib.error:
        pass  # what came before the damage
    return bytes(out[:limit])


class HomepageCapMiddleware:
    def __init__(self, maxsize: int, homepage_maxsize: int) -> None:
        self.maxsize = maxsize
        self.homepage_maxsize = homepage_maxsize

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HomepageCapMiddleware:
        if not abort_stopped_downloads():
            logger.warning("Scrapy's response reader changed: a stopped homepage is closed, not aborted")
        return cls(crawler.settings.getint("DOWNLOAD_MAXSIZE"), crawler.settings.getint("LOGOSIM_HOMEPAGE_MAXSIZE"))

    def process_request(self, request: Request, spider: Any = None) -> None:
        if request.meta.get("homepage"):
            request.meta[_SAVED] = request.meta.get("download_maxsize", self.maxsize)
            request.meta["download_maxsize"] = 0  # no declared-length refusal: on_bytes bounds the read

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Response:
        """A compressed homepage is decoded here to at most the page cap (the cap counts the page's own bytes, not
        the compressed ones: a gzip page of 2 MiB inflates to 10 MiB and more); HttpCompressionMiddleware then
        finds nothing left to decode. Another encoding, or several, is left to it, bounded by the cap."""
        if _SAVED not in request.meta:
            return response
        request.meta["download_maxsize"] = request.meta.pop(_SAVED)
        encodings = response.headers.getlist(b"Content-Encoding")
        if not encodings:
            return response
        decoded = decoded_prefix(response.body, encodings[0], self.homepage_maxsize) if len(encodings) == 1 else None
        if decoded is None:
            request.meta["download_maxsize"] = min(request.meta["download_maxsize"] or self.maxsize,
                                                   self.homepage_maxsize)
            return response
        headers = response.headers.copy()
        del headers[b"Content-Encoding"]
        respcls = responsetypes.from_args(headers=headers, url=response.url, body=decoded)
        return response.replace(cls=respcls, body=decoded, headers=headers)

    def process_exception(self, request: Request, exception: Exception, spider: Any = None) -> None:
        if _SAVED in request.meta:
            request.meta["download_maxsize"] = request.meta.pop(_SAVED)
