"""Page plumbing for logo extraction: decode bytes, parse HTML, resolve URLs, read srcset and data: URIs."""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

from lxml import etree
from parsel import Selector
from w3lib.encoding import html_to_unicode
from w3lib.url import safe_url_string

from common.errors import ConvertError
from convert import parse_data_uri

# Schemes and prefixes that never name a fetchable image.
_IGNORED_PREFIXES = ("javascript:", "about:", "mailto:", "tel:", "blob:", "chrome:", "file:", "#")
_URL_JUNK = re.compile(r"[\t\n\r\x0c]")
_SRCSET_WIDTH = re.compile(r"^(\d+(?:\.\d+)?)w$")
_SRCSET_DENSITY = re.compile(r"^(\d+(?:\.\d+)?)x$")


@dataclass
class Page:
    """A parsed homepage: its text, lxml root, the URL it came from and the base for relative URLs."""

    text: str
    root: etree._Element
    url: str
    base: str
    domain: str


def decode_html(html: str | bytes, encoding: str | None = None) -> str:
    """Bytes -> text: BOM, then the given encoding, then <meta charset>, then detection, then UTF-8."""
    if isinstance(html, str):
        return html
    header = f"text/html; charset={encoding}" if encoding else None
    _, text = html_to_unicode(header, html, auto_detect_fun=_detect_encoding)
    return text


def _detect_encoding(body: bytes) -> str:
    """UTF-8 if valid; a detected CJK or non-Latin encoding; otherwise Windows-1252, the web's legacy default."""
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    guess = _guess(body)
    if guess and not _latin_text(body.decode(guess, errors="replace")):
        return guess
    try:
        body.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return guess or "latin-1"


def _guess(body: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes  # a Scrapy dependency, but optional for us
    except ImportError:
        return None
    best = from_bytes(body).best()
    return best.encoding if best is not None else None


def _latin_text(text: str) -> bool:
    """Short Western pages fool detectors into Baltic or Central European code pages: their letters stay Latin."""
    letters = [ch for ch in text if ord(ch) > 127 and ch.isalpha()]
    return all(unicodedata.name(ch, "").startswith("LATIN") for ch in letters)


def parse_page(html: str | bytes, page_url: str, domain: str, encoding: str | None = None) -> Page:
    """Decode and parse once; lxml's recovering HTML parser never raises on real-world markup."""
    text = decode_html(html, encoding)
    # NUL characters make libxml2 truncate the document; they carry nothing useful.
    root = Selector(text=text.replace("\x00", "") or "<html></html>", type="html").root
    base = page_url
    for el in root.iter("base"):
        href = clean_url(el.get("href", ""))
        joined = urljoin(page_url, href) if href else ""
        if joined.startswith(("http://", "https://")):
            base = joined
        break
    return Page(text=text, root=root, url=page_url, base=base, domain=domain)


def clean_url(raw: str | None) -> str:
    """Browsers drop tabs and newlines anywhere in a URL and trim surrounding spaces."""
    return _URL_JUNK.sub("", raw or "").strip()


def resolve_url(raw: str | None, base: str) -> str | None:
    """Absolute http(s) URL without fragment, or a ``data:`` URI as is, or None for anything unusable."""
    value = clean_url(raw)
    if not value or value.lower().startswith(_IGNORED_PREFIXES):
        return None
    if value[:5].lower() == "data:":
        return value
    try:
        joined = urljoin(base, value)
        parts = urlsplit(joined)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return safe_url_string(urlunsplit(parts._replace(fragment="")))


def parse_srcset(value: str | None) -> list[tuple[str, float, float]]:
    """``"a.png 1x, b.png 2x"`` -> [(url, width, density)]; commas inside URLs (data:, CDN params) survive."""
    text, out, pos = value or "", [], 0
    while pos < len(text):
        while pos < len(text) and (text[pos].isspace() or text[pos] == ","):
            pos += 1
        start = pos
        while pos < len(text) and not text[pos].isspace():
            pos += 1
        url, descriptor = text[start:pos], ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            start, depth = pos, 0
            while pos < len(text) and (text[pos] != "," or depth):
                depth += {"(": 1, ")": -1}.get(text[pos], 0)
                pos += 1
            descriptor = text[start:pos].strip()
        if url:
            out.append((url, *_descriptor_size(descriptor)))
    return out


def _descriptor_size(descriptor: str) -> tuple[float, float]:
    width, density = 0.0, 1.0
    for token in descriptor.lower().split():
        if m := _SRCSET_WIDTH.match(token):
            width = float(m.group(1))
        elif m := _SRCSET_DENSITY.match(token):
            density = float(m.group(1))
    return width, density


def largest_in_srcset(value: str | None) -> str | None:
    """The URL with the biggest width descriptor (or density when no widths are given)."""
    entries = parse_srcset(value)
    if not entries:
        return None
    return max(entries, key=lambda entry: (entry[1], entry[2]))[0]


def decode_data_uri(uri: str) -> tuple[str, bytes] | None:
    """``data:[<type>][;base64],<data>`` -> (media type, bytes), or None when it does not decode."""
    try:
        return parse_data_uri(uri)
    except ConvertError:
        return None


def tiny_raster(data: bytes) -> bool:
    """True for placeholder pixels (images of at most 2x2 pixels); SVG and unreadable data are not tiny."""
    if len(data) > 4096 or data.lstrip()[:1] == b"<":
        return False
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data), formats=["PNG", "GIF", "JPEG", "WEBP", "BMP", "ICO"]) as image:
            return image.width <= 2 or image.height <= 2
    except Exception:  # Pillow raises many types for junk; junk is simply not a placeholder pixel
        return False


def home_host(host: str) -> str:
    """``www.acme.com`` -> ``acme.com``: the homepage host comparison ignores a leading www."""
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def text_of(el: etree._Element) -> str:
    """All text inside an element, whitespace collapsed."""
    return " ".join("".join(el.itertext()).split())
