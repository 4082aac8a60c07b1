"""Tests for crawler.extract.candidates: realistic homepage snippets, each with its expected logo and its distractors."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field
from urllib.parse import quote

import cairosvg
import pytest
from lxml import etree
from PIL import Image

from common.errors import ConvertError
from convert import to_png
from crawler.extract.candidates import (
    SIGNAL_POINTS,
    SOURCES,
    TIERS,
    Candidate,
    find_candidates,
    icons_from_manifest,
    meta_refresh_url,
    site_name,
)
from crawler.extract.dom import decode_data_uri, largest_in_srcset, parse_srcset
from crawler.extract.signals import LOGO_SIGNALS

PAGE_URL = "https://www.acme.com/"
DOMAIN = "acme.com"
A = "https://www.acme.com"
FAVICON = f"{A}/favicon.ico"
OG = "https://cdn.acme.com/og/summer-sale-1200x630.jpg"
GIF_1X1 = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
SVG_PLACEHOLDER = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 300 80'%3E%3C/svg%3E"


def _png_bytes(width: int = 40, height: int = 20, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()


LOGO_PNG = _png_bytes()
LOGO_PNG_URI = "data:image/png;base64," + base64.b64encode(LOGO_PNG).decode()
LOGO_SVG_TEXT = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 10 10'><rect width='10' height='10' fill='#c00'/></svg>"

HEAD = f"""
<link rel="icon" type="image/png" href="/favicon-16x16.png" sizes="16x16">
<meta property="og:image" content="{OG}">
<meta name="viewport" content="width=device-width">"""

COOKIE_BANNER = """
<div id="onetrust-banner-sdk" class="otFlat"><div class="ot-sdk-container">
  <img src="https://cdn.cookielaw.org/logos/static/powered_by_logo.svg" alt="Powered by OneTrust">
  <p>We use cookies to improve your experience.</p><button id="onetrust-accept-btn-handler">Accept</button>
</div></div>"""

PARTNERS = """
<section class="our-partners"><h2>Trusted by industry leaders</h2><ul class="logo-grid">
  <li><img src="/partners/ibm-logo.png" alt="IBM logo"></li>
  <li><img src="/partners/sap-logo.svg" alt="SAP logo"></li>
</ul></section>"""

FOOTER = """
<footer class="site-footer"><div class="footer-brand"><a href="/"><img src="/img/logo-white.svg" class="footer-logo" alt="Acme Corp"></a></div>
  <ul class="payment-methods"><li><img src="/img/payments/visa.svg" alt="Visa"></li></ul>
  <div class="app-badges"><img src="/img/badges/app-store-badge.svg" alt="Download on the App Store"></div>
  <p class="copyright">&copy; 2024 Acme Corp</p></footer>"""


def page(body: str = "", head: str = HEAD, title: str = "Acme Corp | Widgets since 1901") -> str:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>{head}</head>"
            f"<body class='home page-template wp-custom-logo'>{body}</body></html>")


@dataclass
class Case:
    id: str
    html: str
    best: str | None  # absolute URL of the best candidate, None for inline data
    source: str
    below: list[str] = field(default_factory=list)  # must rank below the best
    junk: list[str] = field(default_factory=list)  # must be absent, or rank below /favicon.ico
    data_has: bytes = b""  # for inline candidates: a fragment the data must contain


def jsonld(doc: object | str) -> str:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    return f'<script type="application/ld+json">{text}</script>'


HEADER_LOGO = '<header class="site-header"><a href="/" class="brand"><img src="/img/logo.png" alt="Acme Corp"></a></header>'
TEXT_HEADER = '<header class="site-header"><a href="/" class="brand">Acme Corp</a></header>'

CASES = [
    # ---- JSON-LD in every shape -------------------------------------------------------------------
    Case("jsonld-string", page(TEXT_HEADER, HEAD + jsonld(
        {"@context": "https://schema.org", "@type": "Organization", "name": "Acme", "logo": "/brand/acme-ld.png"})),
        f"{A}/brand/acme-ld.png", "jsonld", below=[FAVICON, OG]),
    # The logo a visitor sees in the header wins; JSON-LD (often a square icon or an AMP banner) falls back
    # below it, and confirms it when it names the same file (in any size, behind a resizer).
    Case("header-logo-outranks-a-different-jsonld-logo", page(HEADER_LOGO, HEAD + jsonld(
        {"@type": "Organization", "name": "Acme", "logo": "/brand/acme-square-512.png"})),
        f"{A}/img/logo.png", "img", below=[f"{A}/brand/acme-square-512.png"]),
    Case("jsonld-naming-the-header-file-confirms-it", page(
        HEADER_LOGO + '<header class="sticky-header"><a href="/" class="brand"><img src="/img/mark.svg" '
        'alt="Acme Corp"></a></header>', HEAD + jsonld({"@type": "Organization", "name": "Acme",
        "logo": "https://cdn.acme.com/image/fetch/w_400/https%3A%2F%2Fwww.acme.com%2Fimg%2Fmark-600x60.png"})),
        f"{A}/img/mark.svg", "img", below=[f"{A}/img/logo.png"]),
    Case("jsonld-imageobject-url", page(TEXT_HEADER, HEAD + jsonld(
        {"@type": "Corporation", "logo": {"@type": "ImageObject", "url": "https://cdn.acme.com/logo-ld.svg",
                                           "width": 600, "height": 60}})),
        "https://cdn.acme.com/logo-ld.svg", "jsonld", below=[FAVICON]),
    Case("jsonld-imageobject-contenturl", page(TEXT_HEADER, HEAD + jsonld(
        {"@type": "LocalBusiness", "logo": {"@type": "ImageObject", "contentUrl": "//cdn.acme.com/local.png"}})),
        "https://cdn.acme.com/local.png", "jsonld"),
    Case("jsonld-logo-list", page("", HEAD + jsonld(
        {"@type": "Brand", "logo": ["/brand/primary.svg", {"url": "/brand/secondary.png"}]})),
        f"{A}/brand/primary.svg", "jsonld", below=[f"{A}/brand/secondary.png"]),
    Case("jsonld-graph-id-reference", page(TEXT_HEADER, HEAD + jsonld({"@context": "https://schema.org", "@graph": [
        {"@type": "WebSite", "@id": f"{A}/#website", "publisher": {"@id": f"{A}/#organization"}},
        {"@type": "Organization", "@id": f"{A}/#organization", "name": "Acme",
         "logo": {"@id": f"{A}/#/schema/logo/image/"}},
        {"@type": "ImageObject", "@id": f"{A}/#/schema/logo/image/",
         "url": f"{A}/wp-content/uploads/acme-yoast.png", "contentUrl": f"{A}/wp-content/uploads/acme-yoast.png"},
    ]})), f"{A}/wp-content/uploads/acme-yoast.png", "jsonld", below=[FAVICON]),
    Case("jsonld-top-level-array", page("", HEAD + jsonld([
        {"@type": "WebSite", "name": "Acme", "url": PAGE_URL},
        {"@type": ["Organization", "NewsMediaOrganization"], "logo": "/news-logo.png",
         "sponsor": {"@type": "Organization", "logo": "/sponsor/bigbank.png"}},
    ])), f"{A}/news-logo.png", "jsonld", below=[FAVICON], junk=[f"{A}/sponsor/bigbank.png"]),
    Case("jsonld-publisher-logo", page("", HEAD + jsonld(
        {"@type": "WebPage", "name": "Home", "publisher": {"@type": "Organization",
                                                           "logo": {"@type": "ImageObject", "url": "/pub.png"}}})),
        f"{A}/pub.png", "jsonld"),
    Case("jsonld-brand-logo", page("", HEAD + jsonld(
        {"@type": "Organization", "name": "Acme", "brand": {"@type": "Brand", "logo": "/brand-only.png"}})),
        f"{A}/brand-only.png", "jsonld"),
    Case("jsonld-product-brand-is-not-ours", page(HEADER_LOGO, HEAD + jsonld(
        {"@type": "Product", "name": "Air Max", "brand": {"@type": "Brand", "logo": "/brands/nike.png"}})),
        f"{A}/img/logo.png", "img", below=[f"{A}/brands/nike.png"]),
    Case("jsonld-malformed-but-repairable", page("", HEAD + jsonld(
        '<!-- yoast -->\n{"@type": "Organization",\n // generated\n "name": "Acme\tCorp",\n'
        ' "logo": {"url": "/repaired.png",},\n}\n<!-- /yoast -->')),
        f"{A}/repaired.png", "jsonld"),
    Case("jsonld-unparsable-pattern-fallback", page("", HEAD + jsonld(
        '{"@type": "Organization", "logo": {"@type": "ImageObject", "url": "/pattern.png"}, "name": Acme}')),
        f"{A}/pattern.png", "jsonld", below=[f"{A}/favicon-16x16.png"]),
    # ---- <img> in header / nav / home link ----------------------------------------------------------
    Case("itemprop-logo", page(
        '<header><div class="container"><img src="/img/badge-2024.png" alt="Best shop 2024">'
        '<div itemscope itemtype="https://schema.org/Organization"><a itemprop="url" href="/">'
        '<img itemprop="logo" src="/img/micro.png" alt="Acme"></a></div></div></header>' + PARTNERS),
        f"{A}/img/micro.png", "img", junk=[f"{A}/img/badge-2024.png", f"{A}/partners/ibm-logo.png"]),
    Case("header-logo-with-footer-and-partners", page(
        COOKIE_BANNER + '<header id="masthead"><div class="header-inner"><a href="/" rel="home">'
        '<img class="header-logo" src="/assets/acme-logo.svg" alt="Acme Corp logo"></a></div></header>'
        + PARTNERS + FOOTER),
        f"{A}/assets/acme-logo.svg", "img", below=[f"{A}/img/logo-white.svg"],
        junk=[f"{A}/partners/ibm-logo.png", f"{A}/partners/sap-logo.svg",
              "https://cdn.cookielaw.org/logos/static/powered_by_logo.svg", f"{A}/img/payments/visa.svg",
              f"{A}/img/badges/app-store-badge.svg"]),
    Case("bootstrap-navbar-brand", page(
        '<nav class="navbar navbar-expand-lg navbar-light"><div class="container-fluid">'
        '<a class="navbar-brand" href="https://acme.com"><img src="/static/img/brand.png" height="30"></a>'
        '<ul class="navbar-nav"><li class="nav-item"><a class="nav-link" href="/pricing">Pricing</a></li></ul>'
        '</div></nav>' + FOOTER),
        f"{A}/static/img/brand.png", "img", below=[f"{A}/img/logo-white.svg"]),
    Case("wordpress-custom-logo", page(
        '<div class="site-branding"><a href="https://www.acme.com/" class="custom-logo-link" rel="home">'
        '<img width="250" height="80" src="https://www.acme.com/wp-content/uploads/2023/05/acme-250x80.png" '
        'class="custom-logo" alt="Acme" decoding="async"></a></div>'
        '<main><div class="entry-content"><img src="/wp-content/uploads/2023/05/team-photo.jpg" alt="Our team">'
        '</div></main>' + PARTNERS),
        f"{A}/wp-content/uploads/2023/05/acme-250x80.png", "img",
        junk=[f"{A}/wp-content/uploads/2023/05/team-photo.jpg", f"{A}/partners/ibm-logo.png"]),
    Case("div-id-logo", page(
        '<div id="top"><div id="logo"><img src="/images/top.gif"></div><div id="menu"><a href="/about">About</a>'
        '</div></div><div id="content"><img src="/images/photo1.jpg" alt="Factory"></div>'),
        f"{A}/images/top.gif", "img", junk=[f"{A}/images/photo1.jpg"]),
    Case("home-link-without-logo-words", page(
        '<header><a href="https://acme.com/"><img src="/img/mark.png" alt=""></a>'
        '<a href="/contact"><img src="/img/phone.png" alt="Call us"></a></header>', head=""),
        f"{A}/img/mark.png", "img", below=[f"{A}/img/phone.png"]),
    Case("alt-equals-site-name", page(
        '<div class="top"><img src="/i/2.png" alt="Free shipping over $50"><img src="/i/1.png" alt="Acme Corp">'
        '</div>'),
        f"{A}/i/1.png", "img", junk=[f"{A}/i/2.png"]),
    Case("first-header-logo-wins", page(
        '<header class="header"><a href="/" class="logo"><img src="/img/logo.svg" alt="Acme"></a>'
        '<div class="sticky-header"><a href="/" class="logo"><img src="/img/logo-sticky.svg" alt="Acme"></a>'
        '</div></header>'),
        f"{A}/img/logo.svg", "img", below=[f"{A}/img/logo-sticky.svg"]),
    Case("first-home-link-logo-beats-later-logo-words", page(
        '<header><a href="/"><img src="/img/a1.png"></a><div class="parent-company">'
        '<img class="group-logo" src="/img/holding-logo.png" alt="Holding logo"></div></header>'),
        f"{A}/img/a1.png", "img", below=[f"{A}/img/holding-logo.png"]),
    Case("mega-menu-brand-logos", page(
        '<header><nav class="main-nav"><ul><li class="has-dropdown"><a href="/brands">Brands</a>'
        '<div class="mega-menu"><ul class="brands-list">'
        '<li><a href="/brands/nike"><img src="/brands/nike-logo.png" alt="Nike logo"></a></li>'
        '<li><a href="/brands/puma"><img src="/brands/puma-logo.png" alt="Puma logo"></a></li>'
        '</ul></div></li></ul></nav><a class="site-logo" href="/"><img src="/logo.png" alt="Acme"></a></header>'),
        f"{A}/logo.png", "img", junk=[f"{A}/brands/nike-logo.png", f"{A}/brands/puma-logo.png"]),
    Case("shared-header-component-is-not-a-share-widget", page(
        '<div class="shared-header flagship-nav"><a href="/"><img src="/img/acme-mark.svg" alt="Acme"></a></div>'
        '<div class="share-buttons"><img src="/img/share-logo.png" alt="Share logo"></div>'),
        f"{A}/img/acme-mark.svg", "img", junk=[f"{A}/img/share-logo.png"]),
    Case("carousel-and-hero", page(
        HEADER_LOGO + '<section class="hero hero-banner"><img src="/img/hero-logo-wall.jpg" width="1920"></section>'
        '<div class="owl-carousel clients"><div class="item"><img src="/clients/logo1.png" alt="Client logo">'
        '</div><div class="item"><img src="/clients/logo2.png" alt="Client logo"></div></div>'),
        f"{A}/img/logo.png", "img",
        junk=[f"{A}/img/hero-logo-wall.jpg", f"{A}/clients/logo1.png", f"{A}/clients/logo2.png"]),
    Case("tracking-pixel-and-social-icons", page(
        '<img height="1" width="1" style="display:none" src="https://www.facebook.com/tr?id=123&ev=PageView">'
        '<header><img class="logo" src="/logo.png" alt="Acme"><ul class="social-links">'
        '<li><a href="https://facebook.com/acme"><img src="/img/facebook.svg" alt="Facebook"></a></li>'
        '<li><a href="https://twitter.com/acme"><img src="/img/icons/twitter-logo.svg" alt="Twitter logo"></a>'
        '</li></ul><a href="/account"><img class="avatar" src="https://secure.gravatar.com/avatar/abc?s=32"></a>'
        '<div class="lang-switcher"><img src="/flags/de.png" alt="Deutsch"></div></header>'),
        f"{A}/logo.png", "img",
        junk=["https://www.facebook.com/tr?id=123&ev=PageView", f"{A}/img/facebook.svg",
              f"{A}/img/icons/twitter-logo.svg", f"{A}/flags/de.png"]),
    # ---- lazy loading ---------------------------------------------------------------------------------
    Case("lazy-data-src-gif-placeholder", page(
        f'<header><a href="/" class="logo"><img src="{GIF_1X1}" data-src="/img/lazy-logo.png" class="lazyload" '
        'alt="Acme"></a></header>'),
        f"{A}/img/lazy-logo.png", "img"),
    Case("lazy-data-lazy-src-blank-file", page(
        '<header><div class="logo"><img src="/wp-content/plugins/lazy/blank.gif" '
        'data-lazy-src="/uploads/acme-logo.png" alt="Acme"></div></header>'),
        f"{A}/uploads/acme-logo.png", "img", junk=[f"{A}/wp-content/plugins/lazy/blank.gif"]),
    Case("lazy-data-original", page(
        '<div id="header"><a href="/"><img class="lazy" data-original="/img/orig-logo.jpg" alt="Acme"></a></div>'),
        f"{A}/img/orig-logo.jpg", "img"),
    Case("srcset-largest-width", page(
        '<header><a href="/" class="logo"><img src="/img/logo-200.png" '
        'srcset="/img/logo-200.png 200w, /img/logo-800.png 800w, /img/logo-400.png 400w" sizes="200px" '
        'alt="Acme"></a></header>'),
        f"{A}/img/logo-800.png", "img"),
    Case("data-srcset-density", page(
        f'<header><a href="/" class="logo"><img src="{SVG_PLACEHOLDER}" '
        'data-srcset="https://cdn.acme.com/img/w_100,h_40/logo.png 1x, https://cdn.acme.com/img/w_200,h_80/logo.png 2x"'
        ' alt="Acme"></a></header>'),
        "https://cdn.acme.com/img/w_200,h_80/logo.png", "img"),
    Case("picture-source-with-placeholder-img", page(
        '<header><a href="/" class="header__logo"><picture>'
        '<source type="image/webp" srcset="/img/logo.webp 1x, /img/logo@2x.webp 2x">'
        f'<img src="{GIF_1X1}" alt="Acme"></picture></a></header>'),
        f"{A}/img/logo@2x.webp", "img"),
    # ---- inline svg, data: URIs, CSS backgrounds ------------------------------------------------------
    Case("inline-svg-logo-with-use", page(
        '<svg xmlns="http://www.w3.org/2000/svg" style="display:none"><symbol id="icon-logo" viewBox="0 0 120 40">'
        '<path d="M0 0h120v40H0z" fill="#e30"/></symbol><symbol id="icon-menu" viewBox="0 0 24 24">'
        '<path d="M3 6h18"/></symbol></svg>'
        '<header><a href="/" class="header-home" aria-label="Acme home"><svg class="site-logo" viewBox="0 0 120 40">'
        '<use xlink:href="#icon-logo"></use></svg></a><button class="menu-toggle"><svg class="icon">'
        '<use href="#icon-menu"/></svg></button></header>'),
        None, "svg_inline", data_has=b'id="icon-logo"'),
    Case("inline-svg-aria-label-site-name", page(
        '<nav><a href="/about">About</a><svg role="img" aria-label="Acme Corp" viewBox="0 0 50 20">'
        '<title>Acme Corp</title><circle cx="10" cy="10" r="8" fill="red"/></svg></nav>', head=""),
        None, "svg_inline", data_has=b"<circle"),
    Case("data-uri-base64-png", page(
        f'<header><a href="/"><img src="{LOGO_PNG_URI}" alt="Acme logo"></a></header>', head=""),
        None, "img", data_has=LOGO_PNG[:16]),
    Case("data-uri-percent-encoded-svg", page(
        '<header><a href="/" class="logo"><img src="data:image/svg+xml;charset=utf8,'
        f'{quote(LOGO_SVG_TEXT)}" alt="Acme"></a></header>', head=""),
        None, "img", data_has=b"fill='#c00'"),
    Case("css-background-inline-style", page(
        '<header><a href="/" class="logo" style="background-image: url(\'/img/logo-bg.png\'); width: 200px">'
        'Acme</a><div class="hero" style="background: url(/img/hero.jpg) center/cover"></div></header>'),
        f"{A}/img/logo-bg.png", "css_background", junk=[f"{A}/img/hero.jpg"]),
    Case("css-style-block-rule", page(
        '<header><h1 class="site-logo"><a href="/">Acme</a></h1></header>',
        HEAD + '<style>/* theme */ .site-logo a { display:block; background: transparent url("/img/css-logo.svg") '
               'no-repeat; text-indent:-9999px } .hero { background-image: url(/img/hero.jpg) }</style>'),
        f"{A}/img/css-logo.svg", "css_background", junk=[f"{A}/img/hero.jpg"]),
    Case("svg-wrapping-a-raster-image", page(
        '<header><a href="/" class="logo"><svg viewBox="0 0 200 50"><image href="/img/raster-logo.png" '
        'width="200" height="50"/></svg></a></header>'),
        f"{A}/img/raster-logo.png", "img"),
    Case("white-logo-variant-loses", page(
        '<header class="header"><a href="/" class="logo"><img src="/img/logo-white.svg" class="logo-light" alt="Acme">'
        '<img src="/img/logo-colour.svg" class="logo-dark" alt="Acme"></a></header>'),
        f"{A}/img/logo-colour.svg", "img", below=[f"{A}/img/logo-white.svg"]),
    Case("object-svg-logo", page(
        '<div id="logo"><a href="/"><object data="/img/logo-object.svg" type="image/svg+xml"></object></a></div>'),
        f"{A}/img/logo-object.svg", "img"),
    # ---- icons, manifest, favicon, og:image ----------------------------------------------------------
    Case("apple-touch-icon-beats-small-icons", page("", HEAD + (
        '<link rel="apple-touch-icon-precomposed" href="/apple-touch-icon.png">'
        '<link rel="shortcut icon" href="/favicon.ico"><link rel="mask-icon" href="/safari-pinned-tab.svg" '
        'color="#5bbad5">')),
        f"{A}/apple-touch-icon.png", "apple_touch_icon",
        below=[f"{A}/safari-pinned-tab.svg", f"{A}/favicon-16x16.png", FAVICON, OG]),
    Case("bigger-icon-wins", page("", (
        '<link rel="icon" href="/icons/icon-16.png" sizes="16x16"><link rel="icon" href="/icons/icon-192.png" '
        'sizes="192x192"><link rel="icon" href="/icons/icon-32.png" sizes="32x32">')),
        f"{A}/icons/icon-192.png", "link_icon", below=[f"{A}/icons/icon-32.png", f"{A}/icons/icon-16.png"]),
    Case("svg-icon-beats-png-icon", page("", (
        '<link rel="icon" href="/favicon.svg" type="image/svg+xml"><link rel="alternate icon" href="/fav-32.png">')),
        f"{A}/favicon.svg", "link_icon", below=[f"{A}/fav-32.png"]),
    Case("manifest-only", page("", '<link rel="manifest" href="/site.webmanifest" crossorigin="use-credentials">'),
        f"{A}/site.webmanifest", "manifest_icon", below=[FAVICON]),
    Case("favicon-then-og-image", page("<main><p>Hello</p></main>",
                                       f'<meta property="og:image" content="{OG}">'),
        FAVICON, "favicon", below=[OG]),
    Case("og-logo-meta", page("", HEAD + '<meta property="og:logo" content="/og-logo.png">'),
        f"{A}/og-logo.png", "og_image", below=[f"{A}/favicon-16x16.png", OG]),
    Case("link-rel-logo", page("", HEAD + '<link rel="logo" type="image/svg+xml" href="/logo-rel.svg">'),
        f"{A}/logo-rel.svg", "link_icon"),
    Case("footer-logo-beats-favicon-only", page('<main><p>Welcome</p></main>' + FOOTER, head=""),
        f"{A}/img/logo-white.svg", "img", below=[FAVICON],
        junk=[f"{A}/img/payments/visa.svg", f"{A}/img/badges/app-store-badge.svg"]),
    Case("plain-header-image-below-apple-icon", page(
        '<header><img src="/img/header-strip.jpg"></header>',
        '<link rel="apple-touch-icon" href="/apple.png" sizes="180x180">'),
        f"{A}/apple.png", "apple_touch_icon", below=[f"{A}/img/header-strip.jpg", FAVICON]),
    # ---- URLs ---------------------------------------------------------------------------------------
    Case("base-href", page(
        '<header><a href="/" class="logo"><img src="images/logo.png" alt="Acme"></a></header>',
        '<base href="https://static.acme-cdn.net/site/v3/"><link rel="icon" href="favicon.png">'),
        "https://static.acme-cdn.net/site/v3/images/logo.png", "img",
        below=["https://static.acme-cdn.net/site/v3/favicon.png", FAVICON]),
    Case("entities-whitespace-protocol-relative", page(
        '<header><a href="/" class="logo"><img src="\n   //cdn.acme.com/img/logo.png?v=2&amp;w=300\n  " '
        'alt="Acme"></a></header>'),
        "https://cdn.acme.com/img/logo.png?v=2&w=300", "img"),
    Case("ignored-url-schemes", page(
        '<header><a href="/" class="logo"><img src="javascript:void(0)" data-src="#" alt="Acme"></a>'
        '<a href="/" class="brand"><img src="about:blank" alt="Acme"></a></header>',
        '<link rel="icon" href="#"><link rel="apple-touch-icon" href="  javascript:alert(1)">'),
        FAVICON, "favicon"),
]


def _keys(cands: list[Candidate]) -> list[str]:
    return [c.key() for c in cands]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_page_cases(case: Case) -> None:
    cands = find_candidates(case.html, PAGE_URL, DOMAIN)
    best = cands[0]
    assert (best.url, best.source) == (case.best, case.source), [(c.url, c.source, c.detail) for c in cands[:4]]
    if case.best is None:
        assert best.data and case.data_has in best.data
    keys = _keys(cands)
    for url in case.below:
        assert url in keys, f"{url} should be a candidate"
        assert keys.index(url) > 0
    favicon_at = keys.index(FAVICON) if FAVICON in keys else len(keys)
    for url in case.junk:
        assert url not in keys or keys.index(url) > favicon_at, f"{url} ranks above the favicon"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_candidate_list_invariants(case: Case) -> None:
    cands = find_candidates(case.html.encode("utf-8"), PAGE_URL, DOMAIN)
    scores = [c.score for c in cands]
    assert scores == sorted(scores, reverse=True)
    assert len(set(_keys(cands))) == len(cands)
    assert all(c.source in SOURCES and c.score > 0 and (c.url or c.data) for c in cands)
    assert all(c.url is None or c.url.startswith(("http://", "https://")) for c in cands)
    assert sum(c.url == FAVICON for c in cands) == 1
    assert all(c.source == "og_image" for c in cands if c.score < TIERS["favicon"])


def test_every_logo_signal_has_points() -> None:
    assert set(SIGNAL_POINTS) == LOGO_SIGNALS


def test_case_count_and_distinct_ids() -> None:
    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)


# ---- malformed JSON-LD -------------------------------------------------------------------------------


def test_malformed_jsonld_does_not_hide_the_header_img() -> None:
    broken = '{"@context": "https://schema.org", "@type": "Organization", "name": "Acme" "url": }'
    html = page(HEADER_LOGO, HEAD + jsonld(broken) + jsonld({"@type": "WebSite", "name": "Acme"}))
    cands = find_candidates(html, PAGE_URL, DOMAIN)
    assert (cands[0].url, cands[0].source) == (f"{A}/img/logo.png", "img")
    assert not any(c.source == "jsonld" for c in cands)


def test_malformed_block_skipped_but_next_block_used() -> None:
    html = page(TEXT_HEADER, HEAD + jsonld("{{{ not json at all") + jsonld(
        '{"@type":"Organization","logo":"/ok.png"\x01}'))
    cands = find_candidates(html, PAGE_URL, DOMAIN)
    assert cands[0].url == f"{A}/ok.png"
    assert cands[0].detail.startswith("JSON-LD organization")  # repaired and parsed, not pattern-matched


def test_repairable_jsonld_is_parsed_not_pattern_matched() -> None:
    text = ('<!--\n{"@type": "Organization",\n // CMS output\n "description": "line one\nline two",\n'
            ' /* legacy */ "logo": {"@type": "ImageObject", "url": "/repaired.png",},\n}\n-->')
    cands = find_candidates(page("", jsonld(text)), PAGE_URL, DOMAIN)
    assert cands[0].url == f"{A}/repaired.png"
    assert "pattern" not in cands[0].detail and cands[0].score == 100


def test_third_party_jsonld_logos_are_dropped() -> None:
    doc = {"@type": "Organization", "name": "Acme", "logo": "/acme.png",
           "member": [{"@type": "Organization", "logo": "/member.png"}],
           "parentOrganization": {"@type": "Corporation", "logo": "/parent.png"}}
    keys = _keys(find_candidates(page("", jsonld(doc)), PAGE_URL, DOMAIN))
    assert keys[0] == f"{A}/acme.png"
    assert f"{A}/member.png" not in keys and f"{A}/parent.png" not in keys


# ---- encodings -----------------------------------------------------------------------------------------

CP1252_PAGE = (
    '<html><head>{meta}<title>Café Müller – Kaffee &amp; Kuchen</title></head><body>'
    '<div class="header"><img src="/img/torte.jpg" alt="Torte des Tages">'
    '<a href="/"><img src="/img/schild.png" alt="Café Müller"></a></div></body></html>'
)
SJIS_PAGE = (
    '<html><head>{meta}<title>トップページ | アクメ株式会社</title></head><body>'
    '<header><img src="/img/campaign.png" alt="新商品のお知らせ"><img src="/画像/mark.png" alt="アクメ株式会社">'
    '</header></body></html>'
)


@pytest.mark.parametrize("meta, given", [
    ('<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">', None),
    ('<meta charset="iso-8859-1">', None),
    ("", "cp1252"),
    ("", None),  # detected
])
def test_windows_1252_page(meta: str, given: str | None) -> None:
    raw = CP1252_PAGE.format(meta=meta).encode("cp1252")
    assert site_name(raw, "cafe-mueller.de") == "Café Müller" or given is not None
    cands = find_candidates(raw, "https://cafe-mueller.de/", "cafe-mueller.de", encoding=given)
    assert cands[0].url == "https://cafe-mueller.de/img/schild.png"
    assert "site_name" in cands[0].detail  # alt text decoded correctly and matched the <title> name


@pytest.mark.parametrize("meta, given", [
    ('<meta charset="Shift_JIS">', None),
    ('<meta http-equiv="content-type" content="text/html;charset=x-sjis">', None),
    ("", "shift_jis"),
    ("", None),  # detected
])
def test_shift_jis_page(meta: str, given: str | None) -> None:
    raw = SJIS_PAGE.format(meta=meta).encode("shift_jis")
    cands = find_candidates(raw, "https://www.acme.co.jp/", "acme.co.jp", encoding=given)
    assert cands[0].url == "https://www.acme.co.jp/" + quote("画像") + "/mark.png"
    assert "site_name" in cands[0].detail
    if given is None:
        assert site_name(raw, "acme.co.jp") == "アクメ株式会社"


def test_given_encoding_beats_a_wrong_meta_charset() -> None:
    raw = CP1252_PAGE.format(meta='<meta charset="utf-8">').encode("cp1252")
    cands = find_candidates(raw, "https://cafe-mueller.de/", "cafe-mueller.de", encoding="windows-1252")
    assert "site_name" in cands[0].detail


# ---- inline svg and data: URIs -------------------------------------------------------------------------


def _render(svg: bytes) -> Image.Image:
    return Image.open(io.BytesIO(cairosvg.svg2png(bytestring=svg, output_width=120))).convert("RGBA")


def test_inline_svg_is_a_standalone_document_with_its_symbols() -> None:
    html = page(
        '<header><a href="/" class="logo"><svg viewBox="0 0 120 40" width="100%" height="auto" '
        'xmlns:xlink="http://www.w3.org/1999/xlink"><title>Acme</title>'
        '<use xlink:href="#brand-mark"/></svg></a></header>'
        '<div hidden><svg><defs><lineargradient id="grad" gradientunits="userSpaceOnUse">'
        '<stop offset="0" stop-color="#0000ff"/><stop offset="1" stop-color="#0000ff"/></lineargradient>'
        '<symbol id="brand-mark" viewBox="0 0 120 40"><rect width="120" height="40" fill="url(#grad)"/>'
        '</symbol></defs></svg></div>')
    best = find_candidates(html, PAGE_URL, DOMAIN)[0]
    assert best.source == "svg_inline" and best.url is None and best.data
    doc = etree.fromstring(best.data)  # well-formed XML on its own
    assert doc.tag == "{http://www.w3.org/2000/svg}svg"
    assert doc.get("viewBox") == "0 0 120 40" and doc.get("width") is None
    ids = {el.get("id") for el in doc.iter() if el.get("id")}
    assert {"brand-mark", "grad"} <= ids  # the symbol, and the gradient the symbol itself refers to
    assert doc.find(".//{http://www.w3.org/2000/svg}linearGradient") is not None  # case restored
    assert _render(best.data).getpixel((60, 20)) == (0, 0, 255, 255)


def test_svg_icons_are_not_logos() -> None:
    html = page('<header><button class="search-toggle"><svg width="20" height="20"><path d="M1 1h5"/></svg>'
                '</button><svg class="icon icon-cart" viewBox="0 0 24 24"><path d="M0 0h2"/></svg></header>',
                head="")
    assert [c.source for c in find_candidates(html, PAGE_URL, DOMAIN)] == ["favicon"]


def test_svg_sprite_sheet_paints_nothing_so_is_no_candidate() -> None:
    html = page('<header><a href="/"><svg class="logo-sprite" style="display:none"><symbol id="logo">'
                '<path d="M0 0h9v9z"/></symbol></svg>Acme</a></header>', head="")
    assert [c.source for c in find_candidates(html, PAGE_URL, DOMAIN)] == ["favicon"]


def test_short_site_names_match_alt_text_only_exactly() -> None:
    html = page('<div><img src="/lab.png" alt="Lab tests"><img src="/ab.png" alt="AB"></div>', head="",
                title="AB")
    cands = find_candidates(html, "https://ab.com/", "ab.com")
    assert [c.url for c in cands] == ["https://ab.com/ab.png", "https://ab.com/favicon.ico"]


def test_data_uri_decoding() -> None:
    assert decode_data_uri(LOGO_PNG_URI) == ("image/png", LOGO_PNG)
    wrapped = "data:image/png;base64," + "\n ".join(base64.b64encode(LOGO_PNG).decode()[i:i + 20]
                                                    for i in range(0, 200, 20))
    assert decode_data_uri(wrapped)[1][:8] == LOGO_PNG[:8]
    raw_svg = "data:image/svg+xml;utf8," + LOGO_SVG_TEXT
    assert decode_data_uri(raw_svg) == ("image/svg+xml", LOGO_SVG_TEXT.encode())
    assert decode_data_uri("data:image/svg+xml," + quote("<svg>é</svg>")) == ("image/svg+xml", "<svg>é</svg>".encode())
    assert decode_data_uri("data:image/png;base64") is None


def test_placeholder_data_uri_without_lazy_url_is_skipped() -> None:
    html = page(f'<header><a href="/" class="logo"><img src="{GIF_1X1}" alt="Acme"></a>'
                f'<a href="/" class="brand"><img src="{SVG_PLACEHOLDER}" alt="Acme"></a></header>', head="")
    assert [c.source for c in find_candidates(html, PAGE_URL, DOMAIN)] == ["favicon"]


# ---- srcset, manifest, refresh, names, de-duplication ------------------------------------------------


def test_srcset_parsing() -> None:
    assert parse_srcset(" a.png  1x,b.png 2x ,\n c.png 3x") == [("a.png", 0, 1), ("b.png", 0, 2), ("c.png", 0, 3)]
    assert largest_in_srcset("/f_auto,w_100/x.png 100w, /f_auto,w_400/x.png 400w") == "/f_auto,w_400/x.png"
    assert largest_in_srcset(f"{GIF_1X1} 1w, /real.png 300w") == "/real.png"
    assert largest_in_srcset("/only.png") == "/only.png"
    assert largest_in_srcset("") is None and largest_in_srcset(None) is None


def test_icons_from_manifest_biggest_first() -> None:
    manifest = json.dumps({"name": "Acme", "icons": [
        {"src": "icons/192.png", "sizes": "192x192", "type": "image/png"},
        {"src": "/icons/512-maskable.png", "sizes": "512x512", "purpose": "maskable"},
        {"src": "https://cdn.acme.com/icons/1024.png", "sizes": "1024x1024"},
        {"src": "javascript:alert(1)", "sizes": "2048x2048"},
        {"sizes": "64x64"},
    ]}).encode()
    icons = icons_from_manifest(manifest, f"{A}/static/manifest.json")
    assert [c.url for c in icons] == ["https://cdn.acme.com/icons/1024.png", f"{A}/icons/512-maskable.png",
                                      f"{A}/static/icons/192.png"]
    assert all(c.source == "manifest_icon" and not c.is_manifest for c in icons)
    assert icons[0].score > icons[2].score > TIERS["link_icon"]


@pytest.mark.parametrize("data", [b"", b"not json", b"[1, 2]", b'{"icons": "x"}', b"\xff\xfe\x00garbage"])
def test_icons_from_manifest_tolerates_junk(data: bytes) -> None:
    assert icons_from_manifest(data, f"{A}/m.json") == []


def test_icons_from_manifest_with_bom_and_trailing_comma() -> None:
    data = '\ufeff{"icons": [{"src": "a.png", "sizes": "96x96"},],}'.encode()
    assert [c.url for c in icons_from_manifest(data, f"{A}/m.json")] == [f"{A}/a.png"]


@pytest.mark.parametrize("html, expected", [
    ('<meta http-equiv="refresh" content="0; url=/en/">', f"{A}/en/"),
    ("<META HTTP-EQUIV='Refresh' CONTENT='5;URL=\"https://acme.de/start\"'>", "https://acme.de/start"),
    ('<meta http-equiv="refresh" content="0;https://other.example/">', "https://other.example/"),
    ('<head><base href="https://cdn.acme.com/x/"><meta http-equiv="refresh" content="0; url=home.html"></head>',
     "https://cdn.acme.com/x/home.html"),
    ('<meta http-equiv="refresh" content="300">', None),
    ('<noscript><meta http-equiv="refresh" content="0; url=/nojs"></noscript>', None),
    ('<meta http-equiv="refresh" content="0; url=javascript:void(0)">', None),
    ('<meta http-equiv="refresh" content="0; url=https://www.acme.com/">', None),  # refreshes itself
    ("<p>no refresh here</p>", None),
])
def test_meta_refresh_url(html: str, expected: str | None) -> None:
    assert meta_refresh_url(html, PAGE_URL) == expected
    assert meta_refresh_url(html.encode("utf-8"), PAGE_URL) == expected


@pytest.mark.parametrize("head, domain, expected", [
    ('<meta property="og:site_name" content=" Acme  Corp "><title>Home | Whatever</title>', DOMAIN, "Acme Corp"),
    ('<meta name="application-name" content="AcmeApp"><title>Home | Acme</title>', DOMAIN, "AcmeApp"),
    ("<title>Home | Acme Corp</title>", DOMAIN, "Acme Corp"),
    ("<title>Welcome - Widgets Unlimited</title>", "widgets.com", "Widgets Unlimited"),
    ("<title>Acme Corp – Industrial widgets since 1901</title>", DOMAIN, "Acme Corp"),
    ("<title>Buy widgets online · ACME</title>", DOMAIN, "ACME"),
    ("<title>Coca-Cola Deutschland</title>", "coca-cola.de", "Coca-Cola Deutschland"),
    ("", "shop.acme.co.uk", "acme"),
    ("<title>   </title>", "xn--bcher-kva.de", "bücher"),
])
def test_site_name(head: str, domain: str, expected: str) -> None:
    assert site_name(f"<html><head>{head}</head><body></body></html>", domain) == expected


def test_same_url_is_one_candidate_with_its_best_score() -> None:
    html = page(
        '<header><a href="/" class="logo"><img src="/logo.png" alt="Acme"></a></header>'
        '<footer><img src="https://www.acme.com/logo.png#footer" class="footer-logo"></footer>',
        jsonld({"@type": "Organization", "logo": "https://www.acme.com/logo.png"})
        + '<link rel="icon" href="/favicon.ico"><link rel="shortcut icon" href="favicon.ico">')
    cands = find_candidates(html, PAGE_URL, DOMAIN)
    assert [(c.url, c.source) for c in cands] == [(f"{A}/logo.png", "img"), (FAVICON, "link_icon")]


@pytest.mark.parametrize("html", [
    "", b"", "   ", b"\x00\x01\x02\xff\xfe", "<html", "<<<>>>", "<svg><use href='#loop'/><symbol id='loop'>"
    "<use href='#loop'/></symbol></svg>", "<div>" * 3000 + "<img class=logo src=/deep.png>",
    jsonld("[" * 5000), "<img src='data:image/png;base64,!!!!' class=logo>",
])
def test_junk_pages_never_raise(html: str | bytes) -> None:
    cands = find_candidates(html, PAGE_URL, DOMAIN)
    assert cands and FAVICON in _keys(cands)
    assert isinstance(site_name(html, DOMAIN), str)
    assert meta_refresh_url(html, PAGE_URL) is None


# -- an inline svg drawn from a sprite file ---------------------------------------------------------------
SPRITE_PAGE = ('<html><head>{base}<title>Acme</title></head><body><header><a href="/" class="brand" '
               'aria-label="Acme"><svg class="site-logo" viewBox="0 0 100 100" width="40" height="40">'
               '<use xlink:href="{href}"></use></svg></a></header></body></html>')
SPRITE = (b'<svg xmlns="http://www.w3.org/2000/svg" style="display:none"><defs><linearGradient id="g">'
          b'<stop offset="0" stop-color="#d01e1e"/><stop offset="1" stop-color="#1e3cdc"/></linearGradient></defs>'
          b'<symbol id="icon-cart" viewBox="0 0 24 24"><path d="M0 0h24v24H0z"/></symbol>'
          b'<symbol id="logo" viewBox="0 0 100 100"><rect x="10" y="10" width="80" height="80" fill="url(#g)"/>'
          b'<image href="https://tracker.test/pixel.png" width="10" height="10"/></symbol></svg>')


@pytest.mark.parametrize(("base", "href", "expected"), [
    ("", "/assets/icons.svg#logo", "https://acme.com/assets/icons.svg#logo"),
    ('<base href="/static/v3/">', "img/icons.svg#logo", "https://acme.com/static/v3/img/icons.svg#logo"),
    ("", "https://acme.com:443/icons.svg#logo", "https://acme.com/icons.svg#logo"),
])
def test_inline_svg_using_a_same_origin_sprite_fetches_it(base: str, href: str, expected: str) -> None:
    from crawler.extract.inline_svg import with_sprite

    top = find_candidates(SPRITE_PAGE.format(base=base, href=href), "https://acme.com/", "acme.com")[0]
    assert top.source == "svg_inline" and top.data is None and top.sprite is not None
    assert top.url.replace("https://acme.com:443/", "https://acme.com/") == expected
    image = Image.open(io.BytesIO(to_png(with_sprite(top.sprite, SPRITE)).png)).convert("RGBA")
    assert image.size == (512, 512)
    left, right = image.getpixel((70, 256)), image.getpixel((440, 256))
    assert left[0] > 150 > left[2] and right[2] > 150 > right[0]  # the symbol and the gradient it uses


@pytest.mark.parametrize("href", ["https://cdn.other.test/icons.svg#logo", "http://acme.com/icons.svg#logo",
                                  "/icons.svg"])
def test_a_sprite_elsewhere_or_without_an_id_is_not_fetched(href: str) -> None:
    """Browsers draw <use> of same-origin files only; and without an id there is nothing to use."""
    candidates = find_candidates(SPRITE_PAGE.format(base="", href=href), "https://acme.com/", "acme.com")
    assert all(c.sprite is None for c in candidates)
    assert not any("icons.svg" in (c.url or "") for c in candidates)


def test_a_hostile_sprite_is_parsed_like_any_svg_logo() -> None:
    from crawler.extract.inline_svg import with_sprite

    top = find_candidates(SPRITE_PAGE.format(base="", href="/i.svg#logo"), "https://acme.com/", "acme.com")[0]
    with pytest.raises(ConvertError) as caught:
        with_sprite(top.sprite, b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                                b'<svg xmlns="http://www.w3.org/2000/svg"><symbol id="logo"><text>&x;</text>'
                                b'</symbol></svg>')
    assert caught.value.reason == "svg_entities"
    assert b"tracker.test" not in with_sprite(top.sprite, SPRITE)  # external references dropped on the way in
