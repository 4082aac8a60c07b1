"""Only the web's own encodings are ever used to decode a page or an SVG (no punycode, idna, rot13, ...)."""

from __future__ import annotations

import time

import pytest
from scrapy.http import HtmlResponse, Request

from common.encodings import whatwg_codec
from convert.svg import decode_svg_text
from crawler.encodings import WebEncodingMiddleware
from fixtureweb.bombs import PUNYCODE_DIGITS, punycode_page, punycode_svg
from fixtureweb.images import Mark


@pytest.mark.parametrize(("label", "codec"), [("utf-8", "utf-8"), ("UTF8", "utf-8"), ("latin1", "cp1252"),
                                              ("shift_jis", "cp932"), ("koi8-r", "koi8-r")])
def test_web_labels_map_to_codecs(label, codec):
    assert whatwg_codec(label) == codec


@pytest.mark.parametrize("label", ["punycode", "idna", "rot13", "zlib", "base64", "unicode_escape", "utf-7",
                                   "replacement", "", None])
def test_other_labels_are_no_web_encoding(label):
    assert whatwg_codec(label) is None


def test_a_punycode_page_is_read_as_utf8_without_a_long_decode():
    body = punycode_page(b'<html><head><meta charset="utf-8"></head><body><img src="/logo.png"></body></html>')
    response = HtmlResponse("https://a.test/", body=body, headers={"Content-Type": "text/html; charset=punycode"},
                            request=Request("https://a.test/"))
    assert response.encoding == "punycode"  # what Scrapy alone would decode the page with
    fixed = WebEncodingMiddleware().process_response(response.request, response)
    start = time.monotonic()
    assert fixed.encoding == "utf-8" and '<img src="/logo.png">' in fixed.text
    assert time.monotonic() - start < 1.0
    assert len(fixed.text) > PUNYCODE_DIGITS


def test_a_punycode_svg_is_read_as_utf8():
    start = time.monotonic()
    text = decode_svg_text(punycode_svg(Mark.from_seed(1)))
    assert "<svg" in text and time.monotonic() - start < 1.0
