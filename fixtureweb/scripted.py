"""Fixture-web kinds that only a browser sees (fixtureweb.sites wires them in; weight 0: only ``--kinds`` serves
them, so the ordinary webs and benches never start a browser).

Kinds (``SCRIPTED_KINDS``), each ok with its logo found only in the rendered page (``rendered: true``):
    spa_bundle        an empty ``<div id="app">`` that a bundle (/static/app.js) fills with the header and its
                      ``<img>`` logo (img /assets/logo.png)
    script_header     an empty ``<header>`` that an inline script fills (img /assets/logo.png)
    script_svg        the header's inline ``<svg>`` logo inserted by a script; the page asks for JavaScript in
                      ``<noscript>`` (svg_inline)
    cookie_challenge  without its cookie every page is a "Just a moment..." challenge that sets the cookie and
                      reloads; with it, an ordinary header page (img /assets/logo.png)
    script_private    a shell whose script also points pictures and fetches at private addresses (loopback,
                      10/8, the cloud metadata address, localhost): the browser must never reach them (the
                      server's canary logs any that arrive) (img /assets/logo.png)
    never_loads       a script-written header, and a picture that trickles for longer than the browser's
                      deadline, so the page's load event never comes in time: it is read as it stands
                      (img /assets/logo.png)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from fixtureweb.routes import Route

if TYPE_CHECKING:
    from fixtureweb.site import Site

SCRIPTED_KINDS = ("spa_bundle", "script_header", "script_svg", "cookie_challenge", "script_private", "never_loads")
SCRIPTED_WEIGHTS = {kind: 0.0 for kind in SCRIPTED_KINDS}
SCRIPTED_EXPECTED = {kind: ("img", ["/assets/logo.png"]) for kind in SCRIPTED_KINDS} | {
    "script_svg": ("svg_inline", ["inline:svg"])}
CHALLENGE_COOKIE = "fx_challenge=passed"
PRIVATE_TARGETS = ("http://127.0.0.1:9/steal", "http://10.0.0.5/x.png", "http://169.254.169.254/latest/meta-data/",
                   "http://localhost/admin", "http://[::1]/y")


def _img(site: Site) -> str:
    return (f'<a href="/" class="navbar-brand"><img src="/assets/logo.png" alt="{site.name} logo" class="logo" '
            f'width="160" height="40"></a>')


def _page(site: Site, head: str, body: str) -> bytes:
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{site.name}</title>{head}</head>"
            f"<body>{body}</body></html>").encode()


_TEXT = ("<main><h1>Welcome</h1><p>" + "We make dependable things for people who care about craft. " * 8 +
         "</p></main>")


def scripted_home(site: Site, svg: str) -> Route:
    """The homepage of a scripted kind (``svg``: the brand's mark as inline svg markup)."""
    k, header = site.kind, json.dumps(f"<header class=\"site-header\">{_img(site)}</header>")
    if k == "spa_bundle":
        return Route(200, "text/html; charset=utf-8",
                     _page(site, '<script defer src="/static/app.js"></script>', '<div id="app"></div>'))
    if k == "script_header":
        script = f"<script>document.getElementById('top').innerHTML = {json.dumps(_img(site))};</script>"
        return Route(200, "text/html; charset=utf-8",
                     _page(site, "", f'<header id="top" class="site-header"></header>{_TEXT}{script}'))
    if k == "script_svg":
        link = json.dumps(f'<a href="/" class="brand" aria-label="{site.name}">{svg}</a>')
        script = f"<script>document.querySelector('.site-header').insertAdjacentHTML('afterbegin', {link});</script>"
        return Route(200, "text/html; charset=utf-8", _page(
            site, "", f'<noscript>This site needs JavaScript enabled.</noscript><header class="site-header">'
                      f'<nav><a href="/products">Products</a></nav></header>{_TEXT}{script}'))
    if k == "cookie_challenge":
        return Route(200, "text/html; charset=utf-8",
                     _page(site, "", f'<header class="site-header">{_img(site)}</header>{_TEXT}'))
    if k == "script_private":
        steal = "".join(f"fetch({json.dumps(url)}).catch(() => 0); new Image().src = {json.dumps(url)};"
                        for url in PRIVATE_TARGETS)
        script = (f"<script>{steal} document.getElementById('app').innerHTML = {header} + "
                  f"'<img src=\"http://127.0.0.1:9/pixel.png\" width=1 height=1>';</script>")
        return Route(200, "text/html; charset=utf-8", _page(site, "", f'<div id="app"></div>{script}'))
    # never_loads
    script = (f"<script>document.getElementById('app').innerHTML = {header} + "
              "'<img src=\"/assets/forever.png\" width=\"600\" height=\"300\" class=\"hero\">';</script>")
    return Route(200, "text/html; charset=utf-8", _page(site, "", f'<div id="app"></div>{script}'))


def challenge_page(site: Site) -> Route:
    """What every path answers without the cookie: a script that sets it and reloads."""
    script = f"<script>document.cookie = {json.dumps(CHALLENGE_COOKIE + '; path=/')}; location.reload();</script>"
    return Route(503, "text/html; charset=utf-8",
                 _page(site, "", f"<h1>Just a moment...</h1><p>Checking your browser.</p>{script}"))


def scripted_assets(site: Site, routes: dict) -> None:
    if site.kind == "spa_bundle":
        header = json.dumps(f"<header class=\"site-header\">{_img(site)}</header>{_TEXT}")
        routes["/static/app.js"] = Route(200, "text/javascript",
                                         f"document.getElementById('app').innerHTML = {header};".encode())
    if site.kind == "never_loads":
        routes["/assets/forever.png"] = Route(200, "image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * 4000, mode="trickle")
