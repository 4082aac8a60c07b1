"""Read a homepage up to its cap whatever length it declares, instead of refusing it (downloader middleware).

Scrapy cancels a download whose Content-Length exceeds DOWNLOAD_MAXSIZE before reading a byte, so a 12 MB
homepage with its logo in the first kilobytes was refused as ``homepage_too_large``. For homepage requests
this middleware lifts that per-request limit on the way to the downloader; the spider's ``bytes_received``
handler (``LogosSpider.truncate_homepage``) stops the body at LOGOSIM_HOMEPAGE_MAXSIZE, which bounds the
bytes read whatever the server declares or streams. On the way back the limit is restored before
HttpCompressionMiddleware (590) decodes the body, so a compressed page still cannot inflate past
DOWNLOAD_MAXSIZE. Ordered at 595: after compression's request hook, before its response hook.
"""

from __future__ import annotations

from typing import Any

from scrapy.crawler import Crawler
from scrapy.http import Request, Response

_SAVED = "_logosim_maxsize"


class HomepageCapMiddleware:
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HomepageCapMiddleware:
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
