"""The fixture web's request-forgery sites: pages whose logo, icon, JSON-LD and web-manifest URLs name internal
addresses in every spelling a browser or resolver accepts, logos and homepages that redirect there, and the
canary: the fixture proxy answers any request for such a host with a red logo and logs it, so a test sees
at once if the crawler ever asked for one.

Kinds (``SSRF_KINDS``):
    ssrf_<n>        header <img>, <link rel=icon>, JSON-LD logo and <link rel=manifest> each name an internal
                    address (spellings ``SPELLINGS[n...n+3]``, so the kinds together put every spelling in every
                    place); the apple-touch-icon is the site's own (ok, apple_touch_icon)
    ssrf_redirect   the header logo redirects to cloud metadata (169.254.169.254): the hop is refused and
                    the apple-touch-icon is used (ok, apple_touch_icon)
    ssrf_only       every candidate is internal, one of them via the site's own manifest's icons
                    (no_logo, all_candidates_failed:blocked_private_address)
    ssrf_home       the homepage redirects to a loopback address (failed, blocked_private_address)
"""

from __future__ import annotations

import io
import ipaddress
import json
import socket
from functools import lru_cache
from typing import TYPE_CHECKING

from fixtureweb.routes import Route, Routes

BLOCKED = "blocked_private_address"  # the reason a crawl must record for these sites

if TYPE_CHECKING:
    from fixtureweb.site import Site

# Every spelling of a non-global address that some URL parser or resolver reads as one.
SPELLINGS = ("127.0.0.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "127.1", "[::1]", "[::ffff:127.0.0.1]",
             "10.0.0.5", "169.254.169.254", "0xa9fea9fe", "100.64.0.1", "0", "[fd00::1]", "localhost",
             "metadata.google.internal", "192.168.0.1.")
PLACES = ("img", "icon", "jsonld", "manifest")
SSRF_KINDS = tuple(f"ssrf_{n}" for n in range(len(SPELLINGS))) + ("ssrf_redirect", "ssrf_only", "ssrf_home")
CANARY_RGB = (255, 0, 0)


def spelling(site: Site, place: str) -> str:
    index = int(site.kind.split("_")[1]) if site.kind[5:].isdigit() else 0
    return SPELLINGS[(index + PLACES.index(place)) % len(SPELLINGS)]


def internal_url(site: Site, place: str, path: str = "/logo.png") -> str:
    return f"http://{spelling(site, place)}{path}"


def ssrf_img(site: Site) -> str | None:
    """The header logo's src for an ssrf kind (None: the site's usual /assets/logo.png)."""
    return None if site.kind in ("ssrf_redirect", "ssrf_home") else internal_url(site, "img")


def ssrf_head(site: Site) -> str:
    """The <head> links and JSON-LD of an ssrf kind."""
    icon = f'<link rel="icon" type="image/png" sizes="192x192" href="{internal_url(site, "icon", "/icon.png")}">'
    org = {"@context": "https://schema.org", "@type": "Organization", "name": site.name,
           "logo": internal_url(site, "jsonld", "/org-logo.png")}
    jsonld = f'<script type="application/ld+json">{json.dumps(org)}</script>'
    if site.kind == "ssrf_only":
        return icon + jsonld + '<link rel="manifest" href="/site.webmanifest">'
    touch = '<link rel="apple-touch-icon" sizes="180x180" href="/apple-touch-icon.png">'
    if site.kind == "ssrf_redirect":
        return touch
    return icon + jsonld + f'<link rel="manifest" href="{internal_url(site, "manifest", "/site.webmanifest")}">' + touch


def ssrf_routes(site: Site, routes: Routes) -> None:

    if site.kind == "ssrf_redirect":
        routes["/assets/logo.png"] = Route(302, "text/html", b"",
                                           {"Location": "http://169.254.169.254/latest/meta-data/logo.png"})
    elif site.kind == "ssrf_home":
        routes["/"] = Route(301, "text/html", b"", {"Location": "http://127.1/"})
    elif site.kind == "ssrf_only":
        icons = [{"src": f"http://{host}/icon-512.png", "sizes": "512x512", "type": "image/png"}
                 for host in ("0x0a.0.0.1", "[::ffff:a9fe:a9fe]")]
        routes["/site.webmanifest"] = Route(200, "application/manifest+json", json.dumps({"icons": icons}).encode())
        routes["/favicon.ico"] = Route(302, "text/html", b"", {"Location": "http://[::1]/favicon.ico"})


def ssrf_outcome(kind: str) -> tuple[str, str | None] | None:
    """(status, reason) of a kind that has no logo."""
    return {"ssrf_only": ("no_logo", f"all_candidates_failed:{BLOCKED}"), "ssrf_home": ("failed", BLOCKED)}.get(kind)


SSRF_EXPECTED = {kind: ("apple_touch_icon", ["/apple-touch-icon.png"]) for kind in SSRF_KINDS}


def is_canary_host(host: str) -> bool:
    """A host no fixture site uses: an IP literal in any spelling, or a local name. Decided here with the C
    library's own parser, independently of the crawler's guard (common.netguard), so that a spelling the
    guard misreads still reaches the canary and fails the test."""
    host = host.strip("[]").rstrip(".").lower()
    if not host or "." not in host or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        ipaddress.ip_address(host.split("%")[0])
        return True
    except ValueError:
        pass
    try:
        socket.inet_aton(host)  # decimal, hex, octal and short forms, as resolvers accept them
        return True
    except OSError:
        return False


@lru_cache(maxsize=1)
def canary_png() -> bytes:
    """What an internal address "serves": a red ring on transparent (a logo a crawler would accept)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (192, 192), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((16, 16, 176, 176), outline=(*CANARY_RGB, 255), width=24)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
