"""The crawler's side of ``common.encodings``: a text response (HTML, but also text/plain, text/css, XML,
JSON) that declares no web encoding is read as UTF-8."""

from __future__ import annotations

from typing import Any

from scrapy.http import TextResponse

from common.encodings import whatwg_codec


class WebEncodingMiddleware:
    """Downloader middleware: a text response (any TextResponse: a homepage served as text/plain is parsed, a
    stylesheet or a manifest decoded) whose declared encoding is no web encoding is re-labelled
    UTF-8 (decoded with replacement), before anything decodes it; Scrapy's MetaRefreshMiddleware decodes
    the page in the reactor's own thread, where a punycode page would stall every download for a minute.
    Placed between HttpCompressionMiddleware (590, which must inflate the body first) and MetaRefresh (580)."""

    def process_response(self, request: Any, response: Any) -> Any:
        if not isinstance(response, TextResponse) or whatwg_codec(response.encoding):
            return response
        return response.replace(encoding="utf-8")
