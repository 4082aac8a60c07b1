"""Find and score every logo candidate on a homepage (pure functions; the spider fetches them best first).

Scoring: each candidate gets its tier's base score. HTML elements in the header_logo and logo tiers
add their logo-signal points (capped at ``SIGNAL_CAP``); those and itemprop elements add an order
bonus for coming first, unpenalised, in their tier; every element loses its penalties, so tiers never
overlap upwards. A candidate left below the favicon tier is dropped, og:image excepted (a
partner logo or a cookie banner's "powered by" logo is worse than no logo: it would match every site
showing it), so the list always ends with /favicon.ico, then og:image/twitter:image when present.

    tier            base  what
    jsonld          100   JSON-LD logo of the site's Organization/Brand/LocalBusiness/WebSite (also @graph,
                          top-level arrays, @id references); publisher.logo 96, brand.logo 90, other types 88;
                          30 less when the header shows a brand logo (crawler.extract.brand: JSON-LD is the
                          fallback, and confirms a header logo naming the same file, +4 to that one)
    itemprop         92   microdata itemprop=logo (<img>, <meta>, <link>)                 (+ order, up to 6)
    link_logo        75   <link rel=logo>, <meta property=og:logo>
    header_logo      70   img/svg/css in header or nav with a logo signal   (+ signals up to 12, + order up to 6)
    logo             50   img/svg/css elsewhere with a logo signal (class/id/alt/src "logo", home link,
                          alt = site name, .navbar-brand, .custom-logo, .site-logo, #logo) (+ same as above)
    apple_touch_icon 40   <link rel=apple-touch-icon(-precomposed)>                 (+ up to 9 by size)
    manifest_icon    38   <link rel=manifest> (is_manifest) and the icons inside it (+ up to 9 by size)
    mask_icon        32   <link rel=mask-icon> (single colour silhouette)
    link_icon        30   <link rel=icon>, shortcut icon, msapplication-TileImage   (+ up to 9 by size)
    header_plain     28   img in header/nav with no logo signal at all
    weak_logo        26   img/svg/css outside the header whose only signals are its URL (logo_src, domain_src)
                          or an alt that mentions the site (a photo credit): a content picture more often than not
    favicon          10   /favicon.ico (always present, last resort before og:image)
    og_image          5   og:image / twitter:image: usually a banner, not a logo

Penalties (``PENALTIES``): distractor sections (partner/client/sponsor/customer/social/payment/app-store/
flag...), cookie banners, footers, carousels, hero banners, bad image names (sprite/avatar/banner/social
networks), dropdown/mega menus, UI icons, white/inverted variants. Tracking pixels are dropped outright.
CSS backgrounds lose ``SOURCE_DISCOUNT`` (they may be sprite sheets).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from lxml import etree

from crawler.extract.brand import rank_brand
from crawler.extract.dom import Page, decode_data_uri, parse_page, resolve_url
from crawler.extract.elements import Found, html_elements, placeholder_data, style_rule_elements
from crawler.extract.jsonld import jsonld_logos, loads_lenient
from crawler.extract.signals import (
    SiteSignals,
    ancestors,
    meta_content,
    page_site_name,
)

TIERS: dict[str, float] = {
    "itemprop": 92.0,
    "link_logo": 75.0,
    "header_logo": 70.0,
    "logo": 50.0,
    "apple_touch_icon": 40.0,
    "manifest_icon": 38.0,
    "mask_icon": 32.0,
    "link_icon": 30.0,
    "header_plain": 28.0,
    "weak_logo": 26.0,
    "favicon": 10.0,
    "og_image": 5.0,
}
SIGNAL_POINTS: dict[str, float] = {
    "itemprop_logo": 8, "logo_own": 8, "home_link": 10, "logo_near": 6, "brand_class": 6, "logo_text": 6,
    "logo_src": 6, "site_name": 6, "domain_src": 4,
}
SIGNAL_CAP = 12.0
WEAK_SIGNALS = frozenset({"logo_src", "domain_src", "site_name"})  # what a content picture can have by chance
SIGNAL_TIERS = frozenset({"itemprop", "header_logo", "logo"})  # tiers that get signal points and order bonus
ORDER_BONUS = (6.0, 3.0, 1.0)  # first, second, third element of a tier: the first header logo wins ties
PENALTIES: dict[str, float] = {
    "distractor": 60, "cookie": 60, "footer": 40, "carousel": 40, "hero": 25, "bad_src": 30, "dropdown": 20,
    "icon": 25, "in_button": 25, "light_variant": 4, "hidden": 3,
}
DROPPED = frozenset({"tracker"})
SOURCE_DISCOUNT = {"css_background": 3.0}  # a CSS background is sometimes a sprite sheet
SIZE_BONUS_MAX = 9.0
TWITTER_DISCOUNT = 1.0
SOURCES = ("jsonld", "img", "svg_inline", "css_background", "link_icon", "apple_touch_icon", "mask_icon",
           "manifest_icon", "favicon", "og_image")

_REFRESH = re.compile(r"\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?(.*)$", re.I | re.S)


@dataclass
class Candidate:
    """One place the site's logo may be found: a URL to fetch or inline bytes, with its score."""

    url: str | None  # absolute URL to fetch (None when data is inline)
    source: str  # one of SOURCES
    score: float  # higher is better
    data: bytes | None = None  # inline bytes (serialised <svg>, decoded data: URI); then url may be None
    detail: str = ""  # short human reason for the score, for debugging
    is_manifest: bool = False  # url points to a web app manifest JSON to expand (source "manifest_icon")
    sprite: bytes | None = None  # an inline svg that draws from the sprite file at url (extract_svg.with_sprite)
    features: frozenset[str] = frozenset()  # what the markup said (HTML elements only), for ranking and --explain
    penalty: float = 0.0

    def key(self) -> str:
        """Identity for de-duplication: the URL, or a hash of inline bytes."""
        if self.url is not None:
            return self.url
        return "data:" + hashlib.sha1(self.data or b"").hexdigest()


def find_candidates(html: str | bytes, page_url: str, domain: str, *, encoding: str | None = None) -> list[Candidate]:
    """Every logo candidate on the page, scored, best first, one per URL, ending with /favicon.ico."""
    page = parse_page(html, page_url, domain, encoding)
    site = SiteSignals.of(page)
    found: list[Candidate] = []
    found += _jsonld_candidates(page)
    found += scored_elements(html_elements(page, site))
    found += _link_candidates(page)
    found += _meta_candidates(page)
    found += scored_elements(style_rule_elements(page, site))
    found.append(Candidate(urljoin(page_url, "/favicon.ico"), "favicon", TIERS["favicon"], detail="/favicon.ico"))
    rank_brand(found)
    return _best_first(found)


def _best_first(found: list[Candidate]) -> list[Candidate]:
    best: dict[str, tuple[int, Candidate]] = {}
    for order, cand in enumerate(found):
        if cand.score < TIERS["favicon"] and cand.source != "og_image":
            continue
        key = cand.key()
        if key not in best or cand.score > best[key][1].score:
            best[key] = (min(order, best[key][0]) if key in best else order, cand)
    return [cand for _, cand in sorted(best.values(), key=lambda item: (-item[1].score, item[0]))]


def _inline_candidate(ref: str, source: str, score: float, detail: str) -> Candidate | None:
    """A URL candidate, or an inline one for a data: URI (None when the data is a placeholder)."""
    if not ref.startswith("data:"):
        return Candidate(ref, source, score, detail=detail)
    decoded = decode_data_uri(ref)
    if decoded is None or placeholder_data(decoded[1]):
        return None
    return Candidate(None, source, score, data=decoded[1], detail=detail + " (data: URI)")


def _jsonld_candidates(page: Page) -> list[Candidate]:
    out = []
    for logo in jsonld_logos(page.root):
        ref = resolve_url(logo.ref, page.base)
        if ref and (cand := _inline_candidate(ref, "jsonld", logo.score, logo.detail)):
            out.append(cand)
    return out


def _tier_of(features: set[str]) -> str | None:
    signals = features & SIGNAL_POINTS.keys()
    if "itemprop_logo" in features:
        return "itemprop"
    if signals and "header" in features:
        return "header_logo"
    if signals:
        # Outside the header, an image whose only sign is its URL or an alt naming the site is a content
        # picture (a photo captioned "Reuters", a thumbnail named after the site, a row of technology logos):
        # below the site's own icons.
        return "logo" if signals - WEAK_SIGNALS or "alt_is_name" in features else "weak_logo"
    return "header_plain" if "header" in features else None


def scored_elements(elements: list[Found]) -> list[Candidate]:
    out, seen_in_tier = [], dict.fromkeys(TIERS, 0)
    for item in elements:
        tier = _tier_of(item.features)
        if tier is None or item.features & DROPPED:
            continue
        penalty = _penalty(item.features)
        score = TIERS[tier] - penalty - SOURCE_DISCOUNT.get(item.source, 0.0)
        rank = seen_in_tier[tier]
        if tier in SIGNAL_TIERS and not penalty:  # a penalised element does not take the first place
            seen_in_tier[tier] += 1
            score += ORDER_BONUS[rank] if rank < len(ORDER_BONUS) else 0.0
        if tier in SIGNAL_TIERS and tier != "itemprop":
            score += _signal_points(item.features)
        detail = f"{item.note + ' ' if item.note else ''}{tier}{f' #{rank + 1}' if not penalty else ''}: "
        detail += ", ".join(sorted(item.features))
        out.append(Candidate(item.ref or None, item.source, score, data=item.data, detail=detail, sprite=item.sprite,
                             features=frozenset(item.features), penalty=penalty))
    return out


def _signal_points(features: set[str]) -> float:
    return min(SIGNAL_CAP, sum(SIGNAL_POINTS.get(f, 0.0) for f in features))


def _penalty(features: set[str]) -> float:
    applicable = set(features)
    if "header" in applicable:
        applicable.discard("hero")  # id="banner" is often the site header itself
    return sum(PENALTIES.get(f, 0.0) for f in applicable)


# ---- <link> and <meta> ------------------------------------------------------------------------------


def _link_candidates(page: Page) -> list[Candidate]:
    out = []
    for el in page.root.iter("link"):
        ref = resolve_url(el.get("href"), page.base)
        if ref is None:
            continue
        rel = set((el.get("rel") or "").lower().split())
        cand = _link_candidate(rel, el, ref)
        if cand is not None:
            out.append(cand)
    return out


def _link_candidate(rel: set[str], el: etree._Element, ref: str) -> Candidate | None:
    sizes, kind = el.get("sizes"), (el.get("type") or "").lower()
    if "logo" in (el.get("itemprop") or "").lower():
        return _inline_candidate(ref, "img", TIERS["itemprop"], "microdata <link itemprop=logo>")
    if "manifest" in rel:
        return Candidate(ref, "manifest_icon", TIERS["manifest_icon"], detail="web app manifest", is_manifest=True)
    if rel & {"apple-touch-icon", "apple-touch-icon-precomposed"}:
        size = icon_size(sizes, kind, ref, default=180)
        return _inline_candidate(ref, "apple_touch_icon", TIERS["apple_touch_icon"] + size_bonus(size),
                                 f"apple-touch-icon {size}px")
    if "mask-icon" in rel:
        return _inline_candidate(ref, "mask_icon", TIERS["mask_icon"], "mask-icon")
    if "logo" in rel:
        return _inline_candidate(ref, "link_icon", TIERS["link_logo"], "<link rel=logo>")
    if rel & {"icon", "fluid-icon"}:
        size = icon_size(sizes, kind, ref, default=512 if "fluid-icon" in rel else 32)
        return _inline_candidate(ref, "link_icon", TIERS["link_icon"] + size_bonus(size), f"link icon {size}px")
    return None


def icon_size(sizes: str | None, kind: str, ref: str, default: int) -> int:
    """Largest side declared in ``sizes`` ('16x16 32x32', 'any'); SVG counts as big; else the default."""
    values = [int(n) for n in re.findall(r"(\d+)\s*[x×]\s*\d+", (sizes or "").lower())]
    if values:
        return max(values)
    path = urlsplit(ref).path.lower() if not ref.startswith("data:") else ref[:40].lower()
    if "any" in (sizes or "").lower() or "svg" in kind or path.endswith(".svg") or "image/svg" in path:
        return 1024
    return default


def size_bonus(size: int) -> float:
    """0 for 16px up to SIZE_BONUS_MAX for 1024px, logarithmic: doubling the size adds the same."""
    clamped = min(max(size, 16), 1024)
    return round(SIZE_BONUS_MAX * math.log2(clamped / 16) / 6, 2)


def _meta_candidates(page: Page) -> list[Candidate]:
    out = []
    specs = (
        (("og:logo",), "og_image", TIERS["link_logo"], "og:logo"),
        (("logo",), "img", TIERS["itemprop"], "microdata <meta itemprop=logo>"),
        (("msapplication-tileimage",), "link_icon", TIERS["link_icon"] + size_bonus(144), "msapplication tile"),
        (("og:image", "og:image:url", "og:image:secure_url"), "og_image", TIERS["og_image"], "og:image"),
        (("twitter:image", "twitter:image:src"), "og_image", TIERS["og_image"] - TWITTER_DISCOUNT, "twitter:image"),
    )
    for keys, source, score, detail in specs:
        ref = resolve_url(meta_content(page.root, *keys), page.base)
        if ref and (cand := _inline_candidate(ref, source, score, detail)):
            out.append(cand)
    return out


# ---- manifests, redirects, names ----------------------------------------------------------------------


def icons_from_manifest(data: bytes, manifest_url: str) -> list[Candidate]:
    """Icons listed in a web app manifest, biggest first; [] for anything that is not a manifest."""
    docs = loads_lenient(data.decode("utf-8-sig", errors="replace"))
    doc = docs[0] if docs else None
    icons = doc.get("icons") if isinstance(doc, dict) else None
    if not isinstance(icons, list):
        return []
    sized = []
    for order, icon in enumerate(icons):
        if not isinstance(icon, dict) or not isinstance(icon.get("src"), str):
            continue
        ref = resolve_url(icon["src"], manifest_url)
        if ref is None:
            continue
        size = icon_size(str(icon.get("sizes") or ""), str(icon.get("type") or "").lower(), ref, default=192)
        purpose = str(icon.get("purpose") or "any").lower().split()
        # Maskable icons are padded for cropping; monochrome ones lose the colours.
        penalty = 4.0 if purpose == ["monochrome"] else 1.0 if "any" not in purpose else 0.0
        cand = _inline_candidate(ref, "manifest_icon", TIERS["manifest_icon"] + size_bonus(size) - penalty,
                                 f"manifest icon {size}px {'/'.join(purpose)}")
        if cand is not None:
            sized.append((-size, penalty, order, cand))
    return [cand for *_, cand in sorted(sized, key=lambda item: item[:3])]


def meta_refresh_url(html: str | bytes, page_url: str) -> str | None:
    """Target of ``<meta http-equiv=refresh content="0; url=...">`` (outside <noscript>), else None."""
    page = parse_page(html, page_url, "")
    for el in page.root.iter("meta"):
        if (el.get("http-equiv") or "").strip().lower() != "refresh":
            continue
        if any(anc.tag == "noscript" for anc in ancestors(el)):
            continue  # only for browsers without JavaScript; the real page is this one
        ref = resolve_url(_refresh_target(el.get("content") or ""), page.base)
        if ref and not ref.startswith("data:") and ref != resolve_url(page_url, page_url):
            return ref
    return None


def _refresh_target(content: str) -> str:
    """The HTML standard's refresh syntax: ``5``, ``0; url=/x``, ``0;URL='/x'``, ``0, /x``."""
    match = _REFRESH.match(content)
    if not match:
        return ""
    target = match.group(1).strip()
    if target[:1] in ("'", '"'):
        target = target[1:].split(target[0], 1)[0]
    return target


def site_name(html: str | bytes, domain: str) -> str:
    """og:site_name / application-name / the site part of <title> / the domain's label."""
    return page_site_name(parse_page(html, f"https://{domain}/", domain))
