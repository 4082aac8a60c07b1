"""Fixture-web kinds whose logo depends on how the page itself is read (fixtureweb.sites wires them in).

Kinds (``PAGE_KINDS``):
    css_external     the header's home link is drawn by ``background-image`` in the page's own external
                     stylesheet (/css/site.css, beside rules for unrelated blocks and a cross-origin sheet
                     that must not be fetched); the page itself names no picture but the og:image banner
                     (ok, css_background /assets/logo-ext.png)
    twelve_mb_page   a 12 MB homepage (real bytes, Content-Length declared) whose header logo sits in its
                     first kilobytes: read up to LOGOSIM_HOMEPAGE_MAXSIZE and truncated, never refused
                     (ok, img /assets/logo.png)

Traps for the page reader (``TRAP_KINDS``, weight 0: only ``--kinds`` serves them), each costing a reader with a
backtracking regex, a non-web charset or an unbounded inflate minutes or megabytes, with the outcome a safe one
records:
    trap_css_inline    100 KB of brace-free text in an inline <style> (the rule regex it replaced was quadratic on it: 43 s);
                       the header logo is an ordinary <img> (ok, img /assets/logo.png)
    trap_css_sheet     css_external's page, whose same-origin sheet ends in 120 KB without a brace after its rules
                       (57 s for that regex) (ok, css_background /assets/logo-ext.png)
    trap_punycode_css  css_external's page, its sheet served as ``text/css; charset=punycode`` ending in a long run
                       of punycode digits (read as UTF-8: ok, css_background /assets/logo-ext.png)
    trap_punycode_text a 1 MB homepage served as ``text/plain; charset=punycode`` (80 s to decode); it names no
                       picture (ok, favicon /favicon.ico)
    trap_gzip_home     a gzip homepage that inflates to 8 MB (four times the page cap) with its header logo first:
                       inflated only up to the cap (ok, img /assets/logo.png)
    trap_terminal      a header logo whose class, alt text and title carry terminal escapes (ESC ]0; retitles a
                       terminal, ESC [2J clears it, BEL rings): `crawl --explain` must print none of them (ok, img)
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import TYPE_CHECKING

from fixtureweb.images import mark_bytes
from fixtureweb.routes import Route

if TYPE_CHECKING:
    from fixtureweb.site import Site

TRAP_KINDS = ("trap_css_inline", "trap_css_sheet", "trap_punycode_css", "trap_punycode_text", "trap_gzip_home",
              "trap_terminal")
PAGE_KINDS = ("css_external", "twelve_mb_page", *TRAP_KINDS)
PAGE_WEIGHTS = {"css_external": 3.0, "twelve_mb_page": 0.3} | {kind: 0.0 for kind in TRAP_KINDS}
_SHEET_KINDS = ("css_external", "trap_css_sheet", "trap_punycode_css")
PAGE_EXPECTED = {kind: ("css_background", ["/assets/logo-ext.png"]) for kind in _SHEET_KINDS} | {
    "twelve_mb_page": ("img", ["/assets/logo.png"]), "trap_css_inline": ("img", ["/assets/logo.png"]),
    "trap_gzip_home": ("img", ["/assets/logo.png"]), "trap_terminal": ("img", ["/assets/logo.png"]),
    "trap_punycode_text": ("favicon", ["/favicon.ico"])}
TWELVE_MB = 12 * 1024 * 1024
BRACE_FREE = 100_000  # characters of the inline trap (the sheet's: 120,000)
PUNYCODE_TEXT = 1024 * 1024
GZIP_INFLATED = 8 * 1024 * 1024
TERMINAL_ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[31m"
EXTERNAL_CSS = (
    "body{font-family:sans-serif}.hero{min-height:300px;background-image:url(/img/hero-0.jpg)}"
    "@media (min-width:700px){.site-header .brand-mark{display:block;width:180px;height:48px;"
    "background:url('../assets/logo-ext.png') no-repeat left center/contain}}"
    ".partner-logo{background-image:url(https://partners.test/logos/partner-1.png)}"
)


def page_logo_block(site: Site) -> str | None:
    """The header's logo markup for these kinds, else None (fixtureweb.sites decides)."""
    if site.kind in _SHEET_KINDS:
        return f'<a href="/" class="brand-mark" aria-label="{site.name}"></a>'
    if site.kind == "trap_terminal":
        return (f'<a href="/" class="navbar-brand"><img src="/assets/logo.png" alt="{site.name}{TERMINAL_ESCAPES} logo" '
                f'title="{TERMINAL_ESCAPES}" class="logo {TERMINAL_ESCAPES}" width="160" height="40"></a>')
    if site.kind in ("twelve_mb_page", "trap_css_inline", "trap_gzip_home"):
        return (f'<a href="/" class="navbar-brand"><img src="/assets/logo.png" alt="{site.name} logo" '
                f'class="logo" width="160" height="40"></a>')
    return None


def page_head_links(site: Site) -> str:
    if site.kind in _SHEET_KINDS:
        return '<link rel="stylesheet" href="https://fonts.partners.test/css/fonts.css">'
    if site.kind == "trap_css_inline":
        return "<style>" + "a" * BRACE_FREE + "</style>"
    return ""


def page_assets(site: Site, routes: dict[str, Route | Callable[[], Route]]) -> None:
    if site.kind in _SHEET_KINDS:
        routes["/css/site.css"] = Route(200, "text/css", EXTERNAL_CSS.encode())
        routes["/assets/logo-ext.png"] = Route(200, "image/png", mark_bytes(site.brand.mark, "png", 160))
    if site.kind == "trap_css_sheet":
        routes["/css/site.css"] = Route(200, "text/css", (EXTERNAL_CSS + "/" + " x" * 60_000).encode())
    if site.kind == "trap_punycode_css":
        routes["/css/site.css"] = Route(200, "text/css; charset=punycode",
                                        EXTERNAL_CSS.encode() + b"/*-" + b"a" * 200_000)
    if site.kind == "trap_punycode_text":
        routes["/favicon.ico"] = Route(200, "image/x-icon", mark_bytes(site.brand.mark, "ico"))


def page_home(site: Site, home: Route) -> Route:
    """The homepage route for these kinds (the others keep theirs)."""
    if site.kind == "trap_punycode_text":
        return Route(200, "text/plain; charset=punycode", b"news-" + b"a" * PUNYCODE_TEXT)
    if site.kind == "trap_gzip_home":
        padding = b"<!-- " + b"g" * (GZIP_INFLATED - len(home.body)) + b" -->"
        body = gzip.compress(home.body.replace(b"</main>", padding + b"</main>"), compresslevel=6)
        return Route(home.status, home.ctype, body, {**home.headers, "Content-Encoding": "gzip"})
    if site.kind != "twelve_mb_page":
        return home
    padding = b"<!-- " + b"p" * (TWELVE_MB - len(home.body)) + b" -->"
    return Route(home.status, home.ctype, home.body.replace(b"</main>", padding + b"</main>"), home.headers)
