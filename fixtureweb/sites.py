"""The fixture web's sites: a deterministic plan per domain (kind, brand, https), its pages, files and ground truth."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial

from fixtureweb.bombs import BOMB_EXPECTED, BOMB_IMG, BOMB_KINDS, FALLBACK, bomb_assets
from fixtureweb.hostile import HOSTILE_EXPECTED, HOSTILE_IMG, HOSTILE_LINKS, hostile_assets
from fixtureweb.images import (
    Mark,
    banner_jpeg,
    inline_svg,
    mark_bytes,
    pixel_gif,
    pixel_png,
    sprite_sheet,
)
from fixtureweb.pagekinds import (
    PAGE_EXPECTED,
    PAGE_KINDS,
    PAGE_WEIGHTS,
    page_assets,
    page_head_links,
    page_home,
    page_logo_block,
)
from fixtureweb.routes import Route, Routes
from fixtureweb.scripted import (
    SCRIPTED_EXPECTED,
    SCRIPTED_KINDS,
    SCRIPTED_WEIGHTS,
    challenge_page,
    scripted_assets,
    scripted_home,
)
from fixtureweb.site import Brand, Site
from fixtureweb.ssrf import (
    SSRF_EXPECTED,
    SSRF_KINDS,
    ssrf_head,
    ssrf_img,
    ssrf_outcome,
    ssrf_routes,
)

# Where the site's own logo is, and in which format (all "ok" kinds).
PLACEMENT_KINDS = (
    "jsonld_org", "jsonld_image", "jsonld_graph", "header_png", "header_svg", "header_gif", "header_webp",
    "header_jpeg", "header_lying", "header_lazy", "header_srcset", "header_picture", "inline_svg", "data_uri",
    "css_background", "link_icon", "apple_touch", "mask_icon", "manifest", "favicon_only", "og_only",
    "base_href", "cdn_protocol_relative", "svg_sprite",
)
# Behaviours of the site or of its logo (outcome in ``_OUTCOMES``; a logo found unless stated).
BEHAVIOUR_KINDS = (
    "http404", "always500", "retry500", "retry429", "redirect_www", "meta_refresh", "redirect_loop", "dead",
    "refused", "no_logo", "broken_logo", "html_logo", "tiny_logo", "huge_logo", "slow", "huge_homepage",
    "giant_homepage", "cp1252", "http_only", "not_html",
)
# Logos that attack the crawler (fixtureweb.hostile); weight 0: only ``--kinds`` serves them.
HOSTILE_KINDS = ("svg_file_ref", "svg_entity_bomb", "png_bomb", "svg_huge_dims", "huge_logo_50mb")
KINDS = PLACEMENT_KINDS + BEHAVIOUR_KINDS + HOSTILE_KINDS + SSRF_KINDS + BOMB_KINDS + PAGE_KINDS
# Sites only a browser reads (fixtureweb.scripted): outside KINDS, so a web of every kind starts no browser.
ALL_KINDS = KINDS + SCRIPTED_KINDS
_OUTCOMES: dict[str, tuple[str, str | None]] = {
    "http404": ("failed", "http_404"), "always500": ("failed", "http_5xx"),
    "redirect_loop": ("failed", "too_many_redirects"), "dead": ("failed", "dns_error"),
    "refused": ("failed", "connection_refused"), "slow": ("failed", "timeout"),
    "not_html": ("no_logo", "not_html"),
    "no_logo": ("no_logo", "all_candidates_failed:http_404"),
}
# A realistic broad-crawl mix for --sites N: mostly sites with a findable logo, some of every failure.
_WEIGHTS = {kind: 4 for kind in PLACEMENT_KINDS} | {kind: 1 for kind in BEHAVIOUR_KINDS} | {
    "header_png": 12, "header_svg": 10, "jsonld_org": 6, "inline_svg": 6, "slow": 0.3, "giant_homepage": 0.5,
    "huge_homepage": 0.5, "huge_logo": 0.5, "dead": 3, "no_logo": 2} | {kind: 0 for kind in HOSTILE_KINDS + SSRF_KINDS + BOMB_KINDS} | PAGE_WEIGHTS | SCRIPTED_WEIGHTS
DEMO_KINDS = ("header_png", "header_svg", "jsonld_org", "inline_svg", "apple_touch", "header_webp",
              "manifest", "favicon_only", "cdn_protocol_relative", "header_gif", "css_background", "data_uri")
_SYLLABLES = ("zor", "vex", "lum", "ari", "qua", "tel", "nov", "bri", "kas", "pel", "dor", "mi", "sol", "tra",
              "ven", "ox", "yl", "cor", "fin", "ga", "hex", "ju", "ko", "ly", "mar", "ne", "ora", "pix", "ru")
_SUFFIXES = ("", "-shop", "group", "-store", "online", "-hq", "labs", "-eu")
_FAMILY_SIZES = (1, 1, 2, 3, 4)
HUGE_LOGO_BYTES = 12 * 1024 * 1024
HUGE_PAGE_BYTES = 6 * 1024 * 1024
GIANT_PAGE_DECLARED = 64 * 1024 * 1024


@dataclass
class Truth:
    """What a correct crawl records for one domain; ``accept``: the URLs (or URL prefixes for data:) that are
    exactly the expected logo; ``brand_urls``: every URL on the site showing the site's own brand."""

    domain: str
    kind: str
    brand: str
    status: str
    reason: str | None
    source: str | None
    accept: list[str] = field(default_factory=list)
    https: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    def matches(self, logo_url: str | None) -> bool:
        if not logo_url:
            return False
        return any(logo_url == url or (url.startswith("data:") and logo_url.startswith(url)) for url in self.accept)


def truth_of(site: Site) -> Truth:
    """What a correct crawl records for ``site``."""
    status, reason = _OUTCOMES.get(site.kind) or ssrf_outcome(site.kind) or ("ok", None)
    source, accept = (None, []) if status != "ok" else _expected_logo(site)
    return Truth(site.domain, site.kind, site.brand.slug, status, reason, source, accept, site.https)


def _expected_logo(site: Site) -> tuple[str, list[str]]:
    base = site.base(www=site.kind == "redirect_www")
    table = {
        "jsonld_org": ("jsonld", ["/assets/brand-logo.png"]), "jsonld_image": ("jsonld", ["/assets/logo.svg"]),
        "jsonld_graph": ("jsonld", ["/assets/org-logo.png"]), "header_svg": ("img", ["/assets/logo.svg"]),
        "header_gif": ("img", ["/assets/logo.gif"]), "header_webp": ("img", ["/assets/logo.webp"]),
        "header_jpeg": ("img", ["/assets/logo.jpg"]), "header_lying": ("img", ["/assets/logo-main.svg"]),
        "header_lazy": ("img", ["/assets/logo-lazy.png"]), "header_srcset": ("img", ["/assets/logo@2x.png"]),
        "header_picture": ("img", ["/assets/logo.png", "/assets/logo-pic.webp"]),
        "inline_svg": ("svg_inline", ["inline:svg"]), "data_uri": ("img", ["data:image/png"]),
        "svg_sprite": ("svg_inline", ["/assets/sprite.svg#logo"]),
        "css_background": ("css_background", ["/assets/logo-bg.png"]),
        "link_icon": ("link_icon", ["/icons/icon-192.png"]), "apple_touch": ("apple_touch_icon", ["/apple-touch-icon.png"]),
        "mask_icon": ("mask_icon", ["/safari-pinned-tab.svg"]),
        "manifest": ("manifest_icon", ["/icons/android-512.png", "/icons/android-192.png"]),
        "favicon_only": ("favicon", ["/favicon.ico"]), "og_only": ("og_image", ["/assets/og-logo.png"]),
        "base_href": ("img", ["/static/v2/img/logo.png"]),
        "cdn_protocol_relative": ("img", [f"{base.split(':')[0]}://cdn.{site.brand.slug}.test/{site.brand.slug}/logo.svg"]),
        "cp1252": ("img", ["/assets/caf%C3%A9-logo.png", "/assets/caf\u00e9-logo.png"]),
        "broken_logo": ("link_icon", ["/icons/icon-192.png"]), "html_logo": ("link_icon", ["/icons/icon-192.png"]),
        "tiny_logo": ("link_icon", ["/icons/icon-192.png"]), "huge_logo": ("link_icon", ["/icons/icon-192.png"]),
    }
    source, paths = (table | HOSTILE_EXPECTED | SSRF_EXPECTED | BOMB_EXPECTED | PAGE_EXPECTED | SCRIPTED_EXPECTED).get(site.kind, ("img", ["/assets/logo.png"]))
    return source, [p if p.startswith(("http", "inline", "data")) else base + p for p in paths]


# -- planning ------------------------------------------------------------------------------------------------
def _brand(rng: random.Random, index: int) -> Brand:
    word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 2, 3))))
    slug = f"{word}{index}"
    return Brand(word.capitalize(), slug, Mark.from_seed(rng.randrange(1 << 30)))


def plan_sites(count: int, seed: int = 0, kinds: list[str] | None = None) -> list[Site]:
    """``count`` sites in brand families; ``kinds`` cycles through the given kinds instead of the weighted mix."""
    rng = random.Random(seed)
    names, weights = list(_WEIGHTS), list(_WEIGHTS.values())
    sites: list[Site] = []
    brand_index = 0
    while len(sites) < count:
        brand = _brand(rng, brand_index)
        brand_index += 1
        for member in range(min(rng.choice(_FAMILY_SIZES), count - len(sites))):
            kind = kinds[len(sites) % len(kinds)] if kinds else rng.choices(names, weights)[0]
            tld = "example" if member % 2 else "test"
            domain = f"{brand.slug}{_SUFFIXES[member % len(_SUFFIXES)]}.{tld}"
            https = kind != "http_only" and rng.random() > 0.1
            sites.append(Site(domain, kind, brand, https, rng.randrange(1 << 30)))
    return sites


def _distinct_shape(brand: Brand, shapes: set[tuple[str, str, int]]) -> Brand:
    """Another brand's geometry in other colours is, to the grouping's shape tier, that brand recoloured: the
    demo's brands differ in shape (the seed moves on without touching the plan's random stream)."""
    mark, seed = brand.mark, 0
    while (mark.outer, mark.inner, mark.bar) in shapes:
        seed += 1
        mark = Mark.from_seed(seed * 7919 + len(shapes))
    shapes.add((mark.outer, mark.inner, mark.bar))
    return Brand(brand.name, brand.slug, mark)


def demo_sites() -> list[Site]:
    """A few dozen sites in brand families (every family member shows the same mark in its own way)."""
    rng = random.Random(7)
    sites: list[Site] = []
    shapes: set[tuple[str, str, int]] = set()
    for index in range(12):
        brand = _brand(rng, index)
        brand = _distinct_shape(brand, shapes)
        for member in range(3 if index < 8 else 1):
            kind = DEMO_KINDS[(index + member * 5) % len(DEMO_KINDS)]
            domain = f"{brand.slug}{_SUFFIXES[member]}.{'example' if member % 2 else 'test'}"
            sites.append(Site(domain, kind, brand, member != 2, rng.randrange(1 << 30)))
    sites += [Site(f"gone{i}.test", kind, _brand(rng, 90 + i), True, i)
              for i, kind in enumerate(("dead", "no_logo", "http404"))]
    return sites


# -- pages -----------------------------------------------------------------------------------------------------
_NAV = ("Home", "Products", "Solutions", "Pricing", "Customers", "Resources", "Blog", "Careers", "About us", "Contact")
_LOREM = ("We build dependable tools for teams who care about craft. Our platform helps thousands of "
          "companies ship faster, with fewer surprises and happier customers. ")


def _png_data_uri(site: Site) -> str:
    return "data:image/png;base64," + base64.b64encode(mark_bytes(site.brand.mark, "png", 96)).decode()


def _logo_block(site: Site) -> str:
    """The header's logo markup for the site's kind (text only when the logo lives elsewhere)."""
    name, k = site.name, site.kind
    if (block := page_logo_block(site)) is not None:
        return block
    img = {
        "header_svg": "/assets/logo.svg", "header_gif": "/assets/logo.gif", "header_webp": "/assets/logo.webp",
        "header_jpeg": "/assets/logo.jpg", "header_lying": "/assets/logo-main.svg", "base_href": "img/logo.png",
        "cdn_protocol_relative": f"//cdn.{site.brand.slug}.test/{site.brand.slug}/logo.svg",
        "cp1252": "/assets/caf\u00e9-logo.png", "data_uri": _png_data_uri(site), **HOSTILE_IMG, **BOMB_IMG,
        **({k: ssrf_img(site) or "/assets/logo.png"} if k in SSRF_KINDS else {}),
    }
    if k in ("header_png", "retry500", "retry429", "redirect_www", "meta_refresh", "broken_logo", "html_logo",
             "tiny_logo", "huge_logo", "huge_homepage", "giant_homepage", "http_only") or k in img:
        return f'<a href="/" class="navbar-brand"><img src="{img.get(k, "/assets/logo.png")}" alt="{name} logo" class="logo" width="160" height="40"></a>'
    if k == "header_lazy":
        pixel = "data:image/gif;base64," + base64.b64encode(pixel_gif()).decode()
        return f'<a href="/" class="brand"><img src="{pixel}" data-src="/assets/logo-lazy.png" alt="{name}" class="logo lazyload"></a>'
    if k == "header_srcset":
        return (f'<a href="/" class="brand"><img src="/assets/logo.png" srcset="/assets/logo.png 1x, '
                f'/assets/logo@2x.png 2x" alt="{name} logo" class="logo"></a>')
    if k == "header_picture":
        return (f'<a href="/" class="brand"><picture><source type="image/webp" srcset="/assets/logo-pic.webp">'
                f'<img src="/assets/logo.png" alt="{name} logo" class="logo"></picture></a>')
    if k == "inline_svg":
        return f'<a href="/" class="brand" aria-label="{name}">{inline_svg(site.brand.mark)}</a>'
    if k == "svg_sprite":  # the header draws the logo from an icon sprite file; so do the UI glyphs beside it
        return (f'<a href="/" class="brand" aria-label="{name}"><svg class="site-logo" role="img" viewBox="0 0 100 100" '
                f'width="48" height="48"><use href="/assets/sprite.svg#logo"></use></svg></a>'
                f'<button class="search"><svg class="icon" width="24" height="24"><use xlink:href="/assets/sprite.svg'
                f'#icon-search"></use></svg></button>')
    if k == "css_background":
        return f'<a href="/" class="site-logo" style="background-image:url(\'/assets/logo-bg.png\')">{name}</a>'
    return f'<a href="/" class="brand-name">{name}</a>'


def _jsonld(site: Site) -> str:
    base, k = site.base(www=site.kind == "redirect_www"), site.kind
    if k == "jsonld_org":
        doc: object = {"@context": "https://schema.org", "@type": "Organization", "name": site.name,
                       "url": base + "/", "logo": base + "/assets/brand-logo.png"}
    elif k == "jsonld_image":
        doc = {"@context": "https://schema.org", "@type": "Corporation", "name": site.name,
               "logo": {"@type": "ImageObject", "url": "/assets/logo.svg", "width": 200, "height": 200}}
    elif k == "jsonld_graph":
        doc = {"@context": "https://schema.org", "@graph": [
            {"@type": "WebSite", "@id": base + "/#website", "publisher": {"@id": base + "/#org"}},
            {"@type": "Organization", "@id": base + "/#org", "name": site.name, "logo": {"@id": base + "/#logo"}},
            {"@type": "ImageObject", "@id": base + "/#logo", "url": base + "/assets/org-logo.png"}]}
    else:
        return ""
    return f'<script type="application/ld+json">{json.dumps(doc)}</script>'


def _head_links(site: Site) -> str:
    k = site.kind
    links = []
    if k in ("link_icon", "broken_logo", "html_logo", "tiny_logo", "huge_logo"):
        links.append('<link rel="icon" type="image/png" sizes="192x192" href="/icons/icon-192.png">')
    if k == "apple_touch":
        links.append('<link rel="apple-touch-icon" sizes="180x180" href="/apple-touch-icon.png">')
    if k == "mask_icon":
        links.append('<link rel="mask-icon" href="/safari-pinned-tab.svg" color="#5bbad5">')
    if k == "manifest":
        links.append('<link rel="manifest" href="/site.webmanifest">')
    if k == "base_href":
        links.append('<base href="/static/v2/">')
    links += [HOSTILE_LINKS[k]] if k in HOSTILE_LINKS else []
    links += [ssrf_head(site)] if k in SSRF_KINDS else []
    links += [FALLBACK] if k in BOMB_KINDS else []
    links.append(page_head_links(site))
    og = "/assets/og-logo.png" if k == "og_only" else f"/img/hero-{site.seed % 4}.jpg"
    if k not in ("no_logo", "ssrf_only"):
        links.append(f'<meta property="og:image" content="{og}">')
    return "".join(links)


def _filler(site: Site, rng: random.Random) -> tuple[str, str]:
    """Realistic surroundings: nav, cookie banner, hero, carousel, partner logos (in the footer), footer."""
    hero = site.seed % 4
    nav = "".join(f'<li><a href="/{item.lower().replace(" ", "-")}">{item}</a></li>' for item in _NAV)
    partners = "".join(f'<li><img src="https://partners.test/logos/partner-{p}.png" alt="Partner {p} logo" '
                       f'class="partner-logo"></li>' for p in rng.sample(range(12), 5))
    cookie = ('<div id="cookie-banner" class="cookie-consent"><img src="https://consent.test/cookie-logo.svg" '
              'alt="CookieCo logo"><p>We use cookies to improve your experience.</p><button>Accept</button></div>')
    top = f'{cookie}<header class="site-header">{_logo_block(site)}<nav class="main-nav"><ul>{nav}</ul></nav></header>'
    hero_img = "" if site.kind == "no_logo" else (
        f'<section class="hero"><img src="/img/hero-{hero}.jpg" alt="Our new platform" class="hero-image"></section>'
        f'<div class="carousel"><div class="slide"><img src="/img/hero-{(hero + 1) % 4}.jpg" alt="slide"></div></div>')
    text = "".join(f"<p>{_LOREM * rng.randint(1, 3)}</p>" for _ in range(rng.randint(4, 9)))
    footer = (f'<footer class="site-footer"><section class="partners"><h2>Trusted by</h2><ul>{partners}</ul>'
              f'</section><p>&copy; 2024 {site.name}. All rights reserved.</p></footer>')
    return top, f"<main>{hero_img}{text}</main>{footer}"


def home_html(site: Site) -> str:
    rng = random.Random(site.seed)
    top, rest = _filler(site, rng)
    charset = "windows-1252" if site.kind == "cp1252" else "utf-8"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="{charset}">'
            f"<title>{site.name} \u2014 tools for teams</title>"
            f'<meta name="viewport" content="width=device-width, initial-scale=1">{_head_links(site)}{_jsonld(site)}'
            f'<link rel="stylesheet" href="/css/site.css"></head><body>{top}{rest}</body></html>')


def page_body(site: Site) -> bytes:
    html = home_html(site)
    return html.encode("cp1252") if site.kind == "cp1252" else html.encode()


# -- files -------------------------------------------------------------------------------------------------------
def _image(ctype: str, body: bytes) -> Route:
    return Route(200, ctype, body, {"Cache-Control": "max-age=86400"})


_CTYPES = {"svg": "image/svg+xml", "png": "image/png", "gif": "image/gif", "webp": "image/webp",
           "jpeg": "image/jpeg", "ico": "image/x-icon"}


def _mark_route(site: Site, fmt: str, size: int = 200, ctype: str | None = None) -> Callable[[], Route]:
    # Lazy: a 2,000-site web must not encode 40,000 images it will never be asked for.
    return lambda: _image(ctype or _CTYPES[fmt], mark_bytes(site.brand.mark, fmt, size))




def _asset_routes(site: Site) -> Routes:
    k = site.kind
    routes = {
        "/assets/logo.png": _mark_route(site, "png"), "/assets/brand-logo.png": _mark_route(site, "png", 256),
        "/assets/org-logo.png": _mark_route(site, "png", 240), "/assets/logo.svg": _mark_route(site, "svg"),
        "/assets/logo.gif": _mark_route(site, "gif"), "/assets/logo.webp": _mark_route(site, "webp"),
        "/assets/logo-pic.webp": _mark_route(site, "webp"), "/assets/logo.jpg": _mark_route(site, "jpeg"),
        # A PNG behind an .svg name and an SVG Content-Type: the converter must sniff the bytes.
        "/assets/logo-main.svg": _mark_route(site, "png", ctype="image/svg+xml"),
        "/assets/logo-lazy.png": _mark_route(site, "png"), "/assets/logo@2x.png": _mark_route(site, "png", 320),
        "/assets/logo-bg.png": _mark_route(site, "png"), "/assets/og-logo.png": _mark_route(site, "png", 300),
        "/static/v2/img/logo.png": _mark_route(site, "png"), "/assets/caf%C3%A9-logo.png": _mark_route(site, "png"),
        "/icons/icon-192.png": _mark_route(site, "png", 192), "/apple-touch-icon.png": _mark_route(site, "png", 180),
        "/icons/android-192.png": _mark_route(site, "png", 192), "/icons/android-512.png": _mark_route(site, "png", 512),
        "/safari-pinned-tab.svg": lambda: _image("image/svg+xml", mark_svg_mono(site)),
        "/site.webmanifest": Route(200, "application/manifest+json", _webmanifest(site)),
        "/assets/sprite.svg": lambda: _image("image/svg+xml", sprite_sheet(site.brand.mark)),
        "/css/site.css": Route(200, "text/css", b"body{font-family:sans-serif}.hero{min-height:300px}"),
    }
    for n in range(4):
        routes[f"/img/hero-{n}.jpg"] = partial(_hero, n)
    if k in ("link_icon", "favicon_only", "broken_logo", "html_logo", "tiny_logo", "huge_logo", "svg_sprite") \
            or k in DEMO_KINDS:
        routes["/favicon.ico"] = _mark_route(site, "ico")
    _behaviour_assets(site, routes)
    hostile_assets(site.kind, site.brand.mark, routes)
    page_assets(site, routes)
    return routes


def mark_svg_mono(site: Site) -> bytes:
    from fixtureweb.images import mark_svg

    return mark_svg(site.brand.mark, mono="#000000")


def _webmanifest(site: Site) -> bytes:
    icons = [{"src": "/icons/android-192.png", "sizes": "192x192", "type": "image/png"},
             {"src": "/icons/android-512.png", "sizes": "512x512", "type": "image/png"}]
    return json.dumps({"name": site.name, "short_name": site.brand.name, "icons": icons}).encode()


def _behaviour_assets(site: Site, routes: Routes) -> None:
    k = site.kind
    if k == "broken_logo":
        routes["/assets/logo.png"] = _image("image/png", b"\x89PNG\r\n\x1a\n" + random.Random(site.seed).randbytes(600))
    elif k == "html_logo":
        routes["/assets/logo.png"] = Route(200, "image/png", b"<!DOCTYPE html><html><body>Not found</body></html>")
    elif k == "tiny_logo":
        routes["/assets/logo.png"] = _image("image/png", pixel_png())
    elif k == "huge_logo":
        routes["/assets/logo.png"] = Route(200, "image/png", b"", mode="huge")


def site_routes(site: Site) -> Routes:
    """Every path the site answers (others are 404); the homepage's behaviour follows the kind."""
    routes = _asset_routes(site)
    body = page_body(site)
    ctype = "text/html; charset=windows-1252" if site.kind == "cp1252" else "text/html; charset=utf-8"
    home = Route(200, ctype, body)
    k = site.kind
    if k == "http404":
        home = Route(404, ctype, b"<html><body><h1>Not Found</h1></body></html>")
    elif k == "always500":
        home = Route(500, ctype, b"<html><body>Internal Server Error</body></html>")
    elif k in ("retry500", "retry429"):
        home = Route(200, ctype, body, mode=f"flaky{k[-3:]}")
    elif k == "meta_refresh":
        home = Route(200, ctype, b'<html><head><meta http-equiv="refresh" content="0; url=/home/"></head>'
                                 b"<body>Redirecting&hellip;</body></html>")
        routes["/home/"] = Route(200, ctype, body)
    elif k == "redirect_loop":
        home = Route(302, ctype, b"", {"Location": "/a"})
        routes["/a"] = Route(302, ctype, b"", {"Location": "/b"})
        routes["/b"] = Route(302, ctype, b"", {"Location": "/a"})
    elif k == "slow":
        home = Route(200, ctype, body, mode="trickle")
    elif k == "huge_homepage":
        home = Route(200, ctype, body.replace(b"</main>", b"<!-- " + b"x" * HUGE_PAGE_BYTES + b" --></main>"))
    elif k == "giant_homepage":
        home = Route(200, ctype, body, mode="giant")
    elif k == "not_html":
        home = Route(200, "application/pdf", b"%PDF-1.4\n" + bytes(range(256)) * 40)
    routes["/"] = page_home(site, home)
    if k in SCRIPTED_KINDS:
        routes["/"] = scripted_home(site, inline_svg(site.brand.mark))
        scripted_assets(site, routes)
        if k == "cookie_challenge":  # every path: the challenge until the cookie is sent (fixtureweb.web)
            for path, route in list(routes.items()):
                routes[path] = _gated(route, challenge_page(site))
    if k in SSRF_KINDS:
        ssrf_routes(site, routes)
    if k in BOMB_KINDS:
        bomb_assets(site, routes, page_body(site))
    return routes


def _gated(route: Route | Callable[[], Route], gate: Route) -> Callable[[], Route]:
    def build() -> Route:
        answer = route() if callable(route) else route
        return Route(answer.status, answer.ctype, answer.body, answer.headers, answer.mode, gate=gate)

    return build


def cdn_routes(brand: Brand) -> Routes:
    return {f"/{brand.slug}/logo.svg": lambda: _image("image/svg+xml", mark_bytes(brand.mark, "svg", 200))}


def shared_routes(host: str) -> Routes:
    """partners.test and consent.test: other companies' logos, the distractors on every page."""
    if host == "consent.test":
        return {"/cookie-logo.svg": _image("image/svg+xml", mark_bytes(Mark.from_seed(999), "svg", 100))}
    return {f"/logos/partner-{p}.png": _image("image/png", mark_bytes(Mark.from_seed(5000 + p), "png", 120))
            for p in range(12)}


def _hero(n: int) -> Route:
    return _image("image/jpeg", banner_jpeg(n))
