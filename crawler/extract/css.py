"""Logo candidates from a page's own external stylesheets: rules that give the logo element a background-image.

Pure functions (the spider fetches the sheets: crawler.stylesheets). A rule counts when its selector
matches an element of the page, which is then scored like any element (its own attributes, its header /
home link / distractor context), or, when it matches none, when the selector itself names a logo (as
crawler.extract.elements.style_rule_elements does for <style>). URLs resolve against the stylesheet's URL.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from cssselect import SelectorError
from lxml import etree

from common.encodings import whatwg_codec
from crawler.extract.budget import checkpoint
from crawler.extract.candidates import Candidate, scored_elements
from crawler.extract.cssscan import background_url, rules, without_comments
from crawler.extract.dom import Page, parse_page, resolve_url
from crawler.extract.elements import Found, _found, _logo_selector
from crawler.extract.signals import (
    LOGO_SIGNALS,
    SiteSignals,
    context_features,
    is_hidden,
    own_features,
    src_features,
)

_PSEUDO = re.compile(r"::?[\w-]+(?:\([^()]*\))?")
MAX_HEAD = 512 * 1024  # a <head> longer than this (inline scripts and styles) is read this far
MAX_RULES = 500  # background-image rules matched per sheet (each is one selector query over the page)
PICTURES = ("img", "svg", "picture", "object", "embed")  # an element holding one shows a picture of its own
# Text that only screen readers get (Bootstrap, WordPress, HTML5 Boilerplate, Drupal utilities): the image-
# replacement markup of a CSS logo, <a href="/"><span class="sr-only">Acme</span></a>, shows nothing itself.
_SCREEN_READER = re.compile(r"sr-only|screen-reader|visually-?hidden|element-invisible|offscreen|hide-?text|text-hide")
# The best a sheet can add to an element's features: a selector naming a logo, an image URL naming one.
_BEST_SHEET_FEATURES = frozenset({"logo_near", "logo_src"})


def sheets_to_read(html: str | bytes, page_url: str, domain: str, best_score: float,
                   encoding: str | None = None) -> list[str]:
    """The page's own stylesheets (``stylesheet_urls``) when one of them could paint the logo, else [].

    A sheet draws a logo only on an element of the page, so the sheets are worth their requests only when
    the page has an element that a rule could make the best candidate: one ``paintable_elements`` finds
    whose candidate, scored as ``css_candidates`` would score it with the best a rule can add, beats the
    page's best candidate so far."""
    page = parse_page(html, page_url, domain, encoding)
    site = SiteSignals.of(page)
    for el in paintable_elements(page, site):
        features = own_features(el, site, None) | context_features(el, site)
        if not features & LOGO_SIGNALS:
            continue  # css_candidates drops it (_rule_element: decoration)
        scored = scored_elements([Found("", "css_background", features | _BEST_SHEET_FEATURES)])
        if scored and scored[0].score > best_score:
            return stylesheet_urls(html, page_url, domain, encoding)
    return []


def paintable_elements(page: Page, site: SiteSignals) -> list[etree._Element]:
    """Elements a stylesheet could paint as the logo, because they show no picture of their own: those whose
    class/id names a logo or a brand (as a rule's selector must, _logo_selector), and home links that show
    nothing at all (no picture, no visible text: only CSS makes them visible). A home link showing text is a
    text wordmark unless its own name says logo or brand."""
    out = []
    for el in page.root.iter(etree.Element):
        checkpoint()
        if el.tag in PICTURES:
            continue
        named = _logo_selector(_selector_of(el)) or "logo" in (el.get("itemprop") or "").lower()
        if not named and not (el.tag == "a" and site.is_home(el.get("href")) and not _visible_text(el)):
            continue
        if not is_hidden(el) and next(el.iter(*PICTURES), None) is None:
            out.append(el)
    return out


def _selector_of(el: etree._Element) -> str:
    """The element's class and id as a selector ('.site-logo#top'), what _logo_selector reads."""
    classes = "".join(f".{name}" for name in (el.get("class") or "").lower().split())
    ident = (el.get("id") or "").strip().lower()
    return classes + (f"#{ident}" if ident else "")


def _visible_text(el: etree._Element) -> str:
    """The element's text, less what is hidden or only for screen readers."""
    if is_hidden(el) or _SCREEN_READER.search(f"{el.get('class') or ''} {el.get('id') or ''}".lower()):
        return ""
    parts = [el.text or ""]
    for child in el:
        if isinstance(child.tag, str):
            parts.append(_visible_text(child))
        parts.append(child.tail or "")
    return "".join(parts).strip()


def stylesheet_urls(html: str | bytes, page_url: str, domain: str, encoding: str | None = None) -> list[str]:
    """Same-origin ``<link rel=stylesheet>`` URLs of the page's <head>, in document order (print-only last).

    Only the head is parsed (sheets are linked there; the whole page was parsed once already)."""
    head = _head_of(html)
    page = parse_page(head, page_url, domain, encoding)
    origin = _origin(page_url)
    screen, printed = [], []
    for el in page.root.iter("link"):
        rel = set((el.get("rel") or "").lower().split())
        ref = resolve_url(el.get("href"), page.base)
        if "stylesheet" not in rel or "alternate" in rel or not ref or ref.startswith("data:"):
            continue
        if _origin(ref) != origin or ref in screen or ref in printed:
            continue
        (printed if (el.get("media") or "").strip().lower() == "print" else screen).append(ref)
    return screen + printed


def _head_of(html: str | bytes) -> str | bytes:
    end = html.find(b"</head>" if isinstance(html, bytes) else "</head>")
    if end < 0:
        end = html.find(b"</HEAD>" if isinstance(html, bytes) else "</HEAD>")
    return html[: end if 0 <= end <= MAX_HEAD else MAX_HEAD]


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return parts.scheme, host[4:] if host.startswith("www.") else host


def css_candidates(css: str | bytes, css_url: str, html: str | bytes, page_url: str, domain: str,
                   encoding: str | None = None, css_encoding: str | None = None) -> list[Candidate]:
    """Scored candidates for the background images the sheet gives to the page's logo elements. A sheet's bytes
    are decoded with ``css_encoding`` when it is a web encoding (common.encodings), else as UTF-8."""
    if isinstance(css, bytes):
        css = css.decode(whatwg_codec(css_encoding) or "utf-8", errors="replace")
    painted = [(selector, url) for selector, body in rules(without_comments(css))
               if (url := background_url(body)) is not None][:MAX_RULES]
    if not painted:
        return []
    page = parse_page(html, page_url, domain, encoding)
    site = SiteSignals.of(page)
    found: list[Found] = []
    for selector_text, url in painted:
        checkpoint()
        ref = resolve_url(url, css_url)
        if ref is None:
            continue
        for selector in selector_text.split(","):
            item = _rule_element(" ".join(selector.split()), ref, page.root, site)
            if item is not None:
                found.append(item)
                break
    return scored_elements(found)


def _rule_element(selector: str, ref: str, root: etree._Element, site: SiteSignals) -> Found | None:
    note = f"stylesheet rule {selector[:60]}"
    try:
        elements = root.cssselect(_PSEUDO.sub("", selector) or "*")
    except (SelectorError, ValueError):
        elements = []
    if elements:
        el = elements[0]
        features = own_features(el, site, ref) | context_features(el, site)
        if _logo_selector(selector.lower()):
            features.add("logo_near")
        if not features & LOGO_SIGNALS:
            return None  # a background without logo signals is decoration (as for inline styles)
        return _found(ref, "css_background", features, note=note)
    if _logo_selector(selector.lower()):
        return _found(ref, "css_background", {"logo_near"} | src_features(ref, site), note=note)
    return None
