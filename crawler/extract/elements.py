"""HTML elements that may show the logo (<img>, <object>, inline <svg>, CSS backgrounds), with their features."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from lxml import etree

from crawler.extract.budget import checkpoint
from crawler.extract.cssscan import background_url, rules, without_comments
from crawler.extract.dom import (
    Page,
    decode_data_uri,
    largest_in_srcset,
    resolve_url,
    text_of,
    tiny_raster,
)
from crawler.extract.inline_svg import serialise_svg
from crawler.extract.signals import (
    BRAND_TOKENS,
    HEADER_WORD,
    LOGO_SIGNALS,
    LOGO_WORD,
    SiteSignals,
    ancestors,
    context_features,
    is_hidden,
    is_svg_icon,
    own_features,
    src_features,
)

LAZY_SRCSETS = ("data-srcset", "data-lazy-srcset")
LAZY_SRCS = ("data-src", "data-lazy-src", "data-original", "data-lazy", "data-url", "data-hi-res-src",
             "data-orig-src", "data-echo", "data-img-src", "data-original-src")
LAZY_BACKGROUNDS = ("data-bg", "data-background-image", "data-bg-src", "data-background")
# A file name made only of placeholder words and dimensions: blank.gif, lazy-placeholder-300x200.png.
_PLACEHOLDER_NAME = re.compile(
    r"^(?:(?:blank|spacer|placeholder|pixel|transparent|trans|lazy|loading|loader|empty|dummy|grey|gray|clear"
    r"|img|image|\d+x\d+)[-_.]?)+\.(?:gif|png|svg|jpe?g|webp)$"
)
_SVG_DRAWS = re.compile(rb"<(path|rect|circle|ellipse|line|polyline|polygon|image|text|use|g)\b", re.I)


@dataclass
class Found:
    """An HTML element that may show the logo: where its image is and what its markup says."""

    ref: str  # resolved URL, or "" when data is set
    source: str  # img, svg_inline or css_background
    features: set[str]
    data: bytes | None = None
    note: str = ""
    sprite: bytes | None = None  # an inline svg to complete with the sprite file at ``ref`` (extract_svg.with_sprite)


def html_elements(page: Page, site: SiteSignals) -> list[Found]:
    """Logo-ish elements in document order (the order bonus depends on it)."""
    out: list[Found] = []
    for el in page.root.iter(etree.Element):
        checkpoint()
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in ("img", "object", "embed"):
            item = _img_element(el, page, site)
        elif tag == "svg":
            item = _svg_element(el, page, site)
        elif el.get("style") or any(el.get(a) for a in LAZY_BACKGROUNDS):
            item = _background_element(el, page, site)
        else:
            item = None
        if item is not None:
            out.append(item)
    return out


def _img_element(el: etree._Element, page: Page, site: SiteSignals) -> Found | None:
    ref = _pick_img_ref(el, page)
    if ref is None:
        return None
    features = own_features(el, site, ref) | context_features(el, site)
    if is_hidden(el):
        features.add("hidden")
    if _wide(el) and "header" not in features:
        features.add("hero")
    return _found(ref, "img", features)


def _found(ref: str, source: str, features: set[str], note: str = "") -> Found | None:
    if not ref.startswith("data:"):
        return Found(ref, source, features, note=note)
    decoded = decode_data_uri(ref)
    if decoded is None or placeholder_data(decoded[1]):
        return None
    return Found("", source, features, data=decoded[1], note=note)


def _img_refs(el: etree._Element) -> list[str]:
    """Raw image references in preference order: lazy-load attributes first (src is often a placeholder)."""
    refs = [largest_in_srcset(el.get(a)) for a in LAZY_SRCSETS]
    refs += [el.get(a) for a in LAZY_SRCS]
    refs += [largest_in_srcset(el.get("srcset")), el.get("src"), el.get("data")]
    # libxml2 does not know <source> is void, so the <img> may sit inside it: look a few levels up.
    picture = next((anc for anc in ancestors(el)[:3] if anc.tag == "picture"), None)
    if el.tag == "img" and picture is not None:
        for source in picture.iter("source"):
            if "dark" not in (source.get("media") or ""):
                refs.append(largest_in_srcset(source.get("srcset") or source.get("data-srcset")))
    return [ref for ref in refs if ref and ref.strip()]


def _pick_img_ref(el: etree._Element, page: Page) -> str | None:
    for raw in _img_refs(el):
        ref = resolve_url(raw, page.base)
        if ref is not None and not _placeholder_ref(ref):
            return ref
    return None


def _placeholder_ref(ref: str) -> bool:
    if ref.startswith("data:"):
        decoded = decode_data_uri(ref)
        return decoded is None or placeholder_data(decoded[1])
    filename = urlsplit(ref).path.rsplit("/", 1)[-1].lower()
    return bool(_PLACEHOLDER_NAME.match(filename))


def placeholder_data(data: bytes) -> bool:
    """1x1 GIFs and empty aspect-ratio SVGs that lazy loaders put in src."""
    if data.lstrip()[:1] == b"<" or b"<svg" in data[:512]:
        return not _SVG_DRAWS.search(data)
    return len(data) < 32 or tiny_raster(data)


def _wide(el: etree._Element) -> bool:
    match = re.match(r"\s*(\d+)", el.get("width") or "")
    return bool(match) and int(match.group(1)) >= 1000


def _svg_element(el: etree._Element, page: Page, site: SiteSignals) -> Found | None:
    if any(anc.tag == "svg" for anc in ancestors(el)):
        return None  # nested svg: serialised with its outermost svg
    features = own_features(el, site, None) | context_features(el, site)
    title = next((text_of(t) for t in el.iter("title")), "")
    if title and LOGO_WORD.search(title.lower()):
        features.add("logo_text")
    if title and site.names_site(title):
        features.add("site_name")
    if not features & {"logo_own", "logo_near", "logo_text", "brand_class", "site_name"}:
        if is_svg_icon(el, site) or _tiny_svg(el):
            features.add("icon")
    if is_hidden(el):
        features.add("hidden")
    if not features & LOGO_SIGNALS:
        return None  # header UI glyphs (menu, search, cart) without any logo signal
    image_ref = _only_image(el, page)
    if image_ref is not None:
        return _found(image_ref, "img", features | src_features(image_ref, site))
    serialised = serialise_svg(el, page.root, page.base, page.url)
    if serialised is None:
        return None
    data, sprite = serialised
    if sprite is not None:  # <use href="/icons.svg#logo">: fetch the sprite, then draw
        return Found(sprite, "svg_inline", features, sprite=data)
    return Found("", "svg_inline", features, data=data)


def _only_image(svg: etree._Element, page: Page) -> str | None:
    """An <svg> that merely wraps one raster <image>: the image itself is the logo (and the standalone SVG
    could not load it)."""
    images = list(svg.iter("image"))
    shapes = list(svg.iter("path", "rect", "circle", "ellipse", "polygon", "polyline", "text"))
    if len(images) != 1 or shapes:
        return None
    href = images[0].get("href") or images[0].get("xlink:href")
    return resolve_url(href, page.base)


def _tiny_svg(el: etree._Element) -> bool:
    sizes = [re.match(r"\s*(\d+)", el.get(a) or "") for a in ("width", "height")]
    return any(m is not None and int(m.group(1)) <= 24 for m in sizes)


def _background_element(el: etree._Element, page: Page, site: SiteSignals) -> Found | None:
    raw = background_url(el.get("style") or "") or next((el.get(a) for a in LAZY_BACKGROUNDS if el.get(a)), None)
    ref = resolve_url(raw, page.base)
    if ref is None:
        return None
    features = own_features(el, site, ref) | context_features(el, site)
    if not features & LOGO_SIGNALS:
        return None  # a header background without logo signals is decoration
    return _found(ref, "css_background", features)


def style_rule_elements(page: Page, site: SiteSignals) -> list[Found]:
    """``<style>`` rules whose selector names a logo class/id and set a background image."""
    out = []
    for style in page.root.iter("style"):
        for selector, body in rules(without_comments(style.text or "")):
            checkpoint()
            url = background_url(body)
            if url is None:
                continue
            selector = " ".join(selector.split()).lower()
            if not _logo_selector(selector):
                continue
            ref = resolve_url(url, page.base)
            if ref is None:
                continue
            features = {"logo_near"} | src_features(ref, site)
            if HEADER_WORD.search(selector) or re.search(r"(^|[\s>+~])(header|nav)\b", selector):
                features.add("header")
            item = _found(ref, "css_background", features, note=f"style rule {selector[:60]}")
            if item is not None:
                out.append(item)
    return out


def _logo_selector(selector: str) -> bool:
    names = set(re.findall(r"[.#]([\w-]+)", selector))
    return bool(LOGO_WORD.search(selector)) or bool(names & BRAND_TOKENS)
