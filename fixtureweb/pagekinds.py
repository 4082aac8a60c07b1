"""Fixture-web kinds whose logo depends on how the page itself is read (fixtureweb.sites wires them in).

Kinds (``PAGE_KINDS``):
    css_external     the header's home link is drawn by ``background-image`` in the page's own external
                     stylesheet (/css/site.css, beside rules for unrelated blocks and a cross-origin sheet
                     that must not be fetched); the page itself names no picture but the og:image banner
                     (ok, css_background /assets/logo-ext.png)
    twelve_mb_page   a 12 MB homepage (real bytes, Content-Length declared) whose header logo sits in its
                     first kilobytes: read up to LOGOSIM_HOMEPAGE_MAXSIZE and truncated, never refused
                     (ok, img /assets/logo.png)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fixtureweb.images import mark_bytes
from fixtureweb.routes import Route

if TYPE_CHECKING:
    from fixtureweb.site import Site

PAGE_KINDS = ("css_external", "twelve_mb_page")
PAGE_WEIGHTS = {"css_external": 3.0, "twelve_mb_page": 0.3}
PAGE_EXPECTED = {"css_external": ("css_background", ["/assets/logo-ext.png"]),
                 "twelve_mb_page": ("img", ["/assets/logo.png"])}
TWELVE_MB = 12 * 1024 * 1024
EXTERNAL_CSS = (
    "body{font-family:sans-serif}.hero{min-height:300px;background-image:url(/img/hero-0.jpg)}"
    "@media (min-width:700px){.site-header .brand-mark{display:block;width:180px;height:48px;"
    "background:url('../assets/logo-ext.png') no-repeat left center/contain}}"
    ".partner-logo{background-image:url(https://partners.test/logos/partner-1.png)}"
)


def page_logo_block(site: Site) -> str | None:
    """The header's logo markup for these kinds, else None (fixtureweb.sites decides)."""
    if site.kind == "css_external":
        return f'<a href="/" class="brand-mark" aria-label="{site.name}"></a>'
    if site.kind == "twelve_mb_page":
        return (f'<a href="/" class="navbar-brand"><img src="/assets/logo.png" alt="{site.name} logo" '
                f'class="logo" width="160" height="40"></a>')
    return None


def page_head_links(site: Site) -> str:
    if site.kind == "css_external":
        return '<link rel="stylesheet" href="https://fonts.partners.test/css/fonts.css">'
    return ""


def page_assets(site: Site, routes: dict[str, Route | Callable[[], Route]]) -> None:

    if site.kind == "css_external":
        routes["/css/site.css"] = Route(200, "text/css", EXTERNAL_CSS.encode())
        routes["/assets/logo-ext.png"] = Route(200, "image/png", mark_bytes(site.brand.mark, "png", 160))


def page_home(site: Site, home: Route) -> Route:
    """The homepage route for these kinds (the others keep theirs)."""

    if site.kind != "twelve_mb_page":
        return home
    padding = b"<!-- " + b"p" * (TWELVE_MB - len(home.body)) + b" -->"
    return Route(home.status, home.ctype, home.body.replace(b"</main>", padding + b"</main>"), home.headers)
