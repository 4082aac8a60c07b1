"""Text encodings the crawler will decode with: only the WHATWG Encoding Standard's labels (what browsers
accept, via ``webencodings``), mapped to Python codecs. A page or SVG that declares anything else (Python's
``punycode`` decoder is superlinear: 320 KB took 51 s; ``idna``, ``rot13``, ``zlib``... are no web encodings)
is read as if it declared nothing."""

from __future__ import annotations

import codecs
from typing import Any

import webencodings
from scrapy.http import HtmlResponse

# WHATWG names whose Python codec differs in name only, or which Python lacks (``replacement``: refuse).
_PYTHON = {"x-user-defined": None, "replacement": None, "iso-8859-8-i": "iso-8859-8", "x-mac-cyrillic": "mac-cyrillic"}


def whatwg_codec(label: str | None) -> str | None:
    """The Python codec for a WHATWG encoding label (``"latin1"`` -> ``"cp1252"``, as browsers read it),
    or None when the label is no web encoding."""
    if not label:
        return None
    encoding = webencodings.lookup(label.strip())
    if encoding is None:
        return None
    name = _PYTHON.get(encoding.name, encoding.codec_info.name)
    if name is None:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


class WebEncodingMiddleware:
    """Downloader middleware: a text response whose declared encoding is no web encoding is re-labelled
    UTF-8 (decoded with replacement), before anything decodes it; Scrapy's MetaRefreshMiddleware decodes
    the page in the reactor's own thread, where a punycode page would stall every download for a minute.
    Placed between HttpCompressionMiddleware (590, which must inflate the body first) and MetaRefresh (580)."""

    def process_response(self, request: Any, response: Any) -> Any:
        if not isinstance(response, HtmlResponse) or whatwg_codec(response.encoding):
            return response
        return response.replace(encoding="utf-8")
