"""The site's own brand mark among the scored candidates: the visible header logo first, JSON-LD to confirm it.

Rules (applied by crawler.extract after every candidate has its tier score):

- A *header brand* is an unpenalised element in the header/masthead (or an itemprop=logo there) with a
  brand signal of its own or of its link (home link, logo class/id, brand class, alt = site name). It is
  what a visitor sees as the logo.
- When the page has one, JSON-LD logos become the fallback (``JSONLD_FALLBACK_DISCOUNT``): publishers
  give search engines a square icon, an AMP banner or an old variant there. A JSON-LD logo (or og:logo,
  rel=logo, another header element) naming the same file as a header brand confirms it
  (``CONFIRM_BONUS``): duplicates of one logo (sticky, mobile, desktop) reinforce each other instead of
  competing. Without a header brand JSON-LD keeps its tier.
- Files are compared through CDN resizers (``/image/fetch/w_96/https%3A%2F%2F...``, ``/_next/image?url=``,
  ``?url=``), size suffixes (``-300x80``, ``@2x``) and extensions: the same logo in another size or format.

Measured on the 89 labelled real pages of ``../shared/data/real-pages`` (tests/test_real_pages.py): the
old fixed JSON-LD tier picked the visible logo on 44/89 (49.4 %); see that test for the rate now.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

# A JSON-LD logo beside a header brand drops below every header brand (70 + at least 4 signal points)
# and stays above the icon tiers (<= 49): 100 -> 70, publisher 96 -> 66.
JSONLD_FALLBACK_DISCOUNT = 30.0
CONFIRM_BONUS = 4.0  # per other candidate naming the same file, at most CONFIRM_MAX of them
CONFIRM_MAX = 2
BRAND_SIGNALS = frozenset({"home_link", "logo_own", "logo_near", "brand_class", "site_name", "itemprop_logo"})
BRAND_SOURCES = frozenset({"img", "svg_inline", "css_background"})
CONFIRMING_SOURCES = frozenset({"jsonld", "img", "svg_inline", "css_background", "link_icon", "og_image"})

_EMBEDDED_URL = re.compile(r"(?:https?:|https?%3a)(?://|%2f%2f).+", re.I)
_SIZE_SUFFIX = re.compile(r"(?:[-_.@]?(?:\d{1,4}x\d{1,4}|\d{1,4}[wh]|[1-4]x|small|large|retina)|[-_.@]\d{2,4})+$")
SUFFIX_WINDOW = 32  # characters at the end of a file name searched for a size suffix ("-300x80@2x": 10)
_URL_PARAMS = ("url", "src", "image", "img", "u", "file", "name")

# Known tracking hosts (suffix match) and endpoints (a whole last path segment): what a tracker *is*.
TRACKER_HOSTS = ("facebook.com", "facebook.net", "google-analytics.com", "googletagmanager.com", "doubleclick.net",
                 "bat.bing.com", "scorecardresearch.com", "quantserve.com", "adsrvr.org", "pixel.wp.com",
                 "stats.wp.com", "analytics.twitter.com", "t.co", "ads.linkedin.com", "px.ads.linkedin.com",
                 "pixel.quantserve.com", "sb.scorecardresearch.com", "b.scorecardresearch.com", "ct.pinterest.com",
                 "pixel.mathtag.com", "adnxs.com", "criteo.com", "criteo.net", "taboola.com", "outbrain.com",
                 "hotjar.com", "chartbeat.net", "newrelic.com", "nr-data.net", "omtrdc.net", "2o7.net",
                 "demdex.net", "krxd.net", "bluekai.com", "rlcdn.com", "adform.net", "yandex.ru/watch")
_TRACKER_PATH = re.compile(r"/(?:tr|pixel|beacon|collect|track|__utm|b/ss|p\.gif|1x1|ping|event)(?:\.(?:gif|png|php|jpe?g))?$")


class Scored(Protocol):
    url: str | None
    source: str
    score: float
    features: frozenset[str]
    penalty: float
    detail: str


def is_tracker(url: str) -> bool:
    """A known tracking host, or a tracking endpoint (``/tr``, ``/pixel.gif``, ``/collect``) on any host."""
    parts = urlsplit(url.lower())
    host = parts.hostname or ""
    if any(host == known or host.endswith("." + known) for known in TRACKER_HOSTS if "/" not in known):
        return True
    if any(f"{host}{parts.path}".startswith(known) for known in TRACKER_HOSTS if "/" in known):
        return True
    return bool(_TRACKER_PATH.search(parts.path))


def inner_url(url: str) -> str:
    """The logo's own URL behind a CDN resizer or image proxy, else the URL itself."""
    parts = urlsplit(url)
    for key, value in parse_qsl(parts.query):
        if key.lower() in _URL_PARAMS and ("/" in value or "." in value):
            return inner_url(value) if value.startswith(("http", "/")) else value
    path = unquote(parts.path)
    match = _EMBEDDED_URL.search(path[1:])
    if match:
        return inner_url(unquote(match.group(0)))
    return url


def file_key(url: str | None) -> str:
    """'https://cdn/x/w_400/https://a.com/img/Logo-300x80@2x.png' -> 'logo': one logo in any size or format."""
    if not url or url.startswith("data:"):
        return ""
    name = urlsplit(inner_url(url)).path.rsplit("/", 1)[-1].lower()
    stem = name.rsplit(".", 1)[0] if "." in name else name
    # the suffix regex backtracks on long runs of its own pieces ("1x1x1x..."): a size suffix is short
    head, tail = stem[:-SUFFIX_WINDOW], stem[-SUFFIX_WINDOW:]
    stem = head + _SIZE_SUFFIX.sub("", tail)
    return stem if len(stem) >= 3 else ""


def is_header_brand(cand: Scored) -> bool:
    return (cand.source in BRAND_SOURCES and "header" in cand.features and not cand.penalty
            and bool(cand.features & BRAND_SIGNALS))


def rank_brand(found: Iterable[Scored]) -> None:
    """Demote JSON-LD below a visible header brand, and let candidates naming one file confirm each other."""
    found = list(found)
    brands = [c for c in found if is_header_brand(c)]
    if not brands:
        return
    for cand in found:
        if cand.source == "jsonld":
            cand.score -= JSONLD_FALLBACK_DISCOUNT
            cand.detail += " (a header logo is visible: JSON-LD falls back)"
    keys = [file_key(c.url) for c in found]
    for brand in brands:
        key = file_key(brand.url)
        if not key:
            continue
        others = sum(1 for cand, other in zip(found, keys, strict=True) if other == key and cand is not brand
                     and cand.source in CONFIRMING_SOURCES)
        if others:
            brand.score += CONFIRM_BONUS * min(others, CONFIRM_MAX)
            brand.detail += f", confirmed by {others} other"
