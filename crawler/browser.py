"""The browser pass: a site whose header a script writes is read again in headless Chromium.

Only where it pays (``LOGOSIM_BROWSER``: ``auto``, the default): the static pass found no header-tier
candidate and the page looks built by a script or is a challenge (``looks_scripted``); ``always`` renders every
homepage, ``never`` none. Without a Chromium the pass is off and the crawl says so once.

Chromium is Debian's (``apt-get install chromium``), driven by Playwright through scrapy-playwright (its
download handler serves a request whose meta says ``playwright``; every other request goes through Scrapy's own
HTTP handler as before). The rules of the static crawl hold for the browser:

- every request the page makes passes ``abort_request``: the private-address guard (``common.netguard``, every
  IP spelling; without a proxy the name's DNS answers too), http(s) and data:/blob: only; Chromium's implicit
  loopback bypass of the proxy is turned off (``<-loopback>``);
- the user's proxy (``LOGOSIM_PROXY``, or the crawl's http(s)_proxy) is the browser's;
- no downloads, no service workers, no permission granted; a page has ``LOGOSIM_BROWSER_DEADLINE`` seconds
  from its navigation to its rendered DOM (a page that never finishes loading is read as it stands then);
- at most ``LOGOSIM_BROWSER_PAGES`` pages at once; one browser for the crawl, closed with it (Playwright's
  driver ends the browser when this process ends, a kill included).

The rendered DOM goes through the same extraction as a served page (``find_candidates``), and the logo is then
fetched, converted and written as any other; its record says ``rendered: true``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import socket
from typing import Any
from urllib.parse import urlsplit

from common.netguard import host_verdict, is_global_ip, parse_ip

logger = logging.getLogger(__name__)

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# What marks a page as built by a script or a challenge, read from the served markup (lower-cased). Every
# pattern is bounded ({0,n}, no nested repetition): linear over the page (issue 19's rule).
_APP_ID = re.compile(rb"""\bid\s?=\s?["']?(?:app|root|__next|__nuxt|svelte|main-app|react-root)["'\s>]""")
_EMPTY_CLOSE = re.compile(rb"\s{0,200}</(?:div|main|section)>")
_EMPTY_HEADER = re.compile(rb"\s{0,200}</header>")
# An id or class naming the page's header container (not "logo" or "brand": an empty link so named is often a
# stylesheet's picture, which crawler.stylesheets reads without a browser).
_HEADER_NAMED = re.compile(rb"""\b(?:id|class)\s?=\s?["']?[^"'<>]{0,120}?\b(?:site-header|page-header|masthead|navbar|"""
                           rb"""topbar|top-bar|header-root|header-container|app-header)\b[^"'<>]{0,120}["'\s>]""")
_EMPTY_ANY = re.compile(rb"\s{0,200}</(?:div|header|nav|section)>")
_CHALLENGE = re.compile(rb"checking your browser|just a moment\.\.\.|enable javascript and cookies|"
                        rb"please enable cookies|verifying you are human|ddos protection by")
# A body with a script and fewer visible characters than this is an empty shell its script fills.
SHELL_TEXT = 200
SCAN_BYTES = 512 * 1024  # the markup these checks read (a shell page is small; a bounded read of a big one)


def looks_scripted(body: bytes) -> str | None:
    """Why the served page looks like one a script builds, or None: ``challenge`` (a browser check),
    ``app_root`` (an empty mount point), ``empty_header`` (an empty ``<header>`` and a script), ``noscript`` (it asks for JavaScript), ``shell`` (a script and almost
    no text). Linear scans over at most SCAN_BYTES."""
    page = body[:SCAN_BYTES].lower()
    if _CHALLENGE.search(page):
        return "challenge"
    for match in _APP_ID.finditer(page):  # a mount point closed at once: <div id="app"></div>
        end = page.find(b">", match.end() - 1, match.end() + 2000)
        if end >= 0 and _EMPTY_CLOSE.match(page, end + 1):
            return "app_root"
    if b"<script" in page:  # an empty <header>, or an empty element named as one, that a script fills
        at = page.find(b"<header")
        while at >= 0:
            end = page.find(b">", at, at + 2000)
            if end >= 0 and _EMPTY_HEADER.match(page, end + 1):
                return "empty_header"
            at = page.find(b"<header", at + 7)
        for match in _HEADER_NAMED.finditer(page):
            end = page.find(b">", match.end() - 1, match.end() + 2000)
            if end >= 0 and _EMPTY_ANY.match(page, end + 1):
                return "empty_header"
    at = page.find(b"<noscript")
    while at >= 0:
        text = page[at:at + 900]
        if b"javascript" in text or b"enable js" in text:
            return "noscript"
        at = page.find(b"<noscript", at + 9)
    if b"<script" in page and visible_text(page) < SHELL_TEXT:
        return "shell"
    return None


def visible_text(page: bytes, enough: int = SHELL_TEXT) -> int:
    """Non-space characters outside tags, scripts and styles in the body, counted up to ``enough``; one pass
    of str.find (no regex)."""
    at, count = max(page.find(b"<body"), 0), 0
    while count < enough:
        lt = page.find(b"<", at)
        count += len(b"".join(page[at:lt if lt >= 0 else len(page)].split()))
        if lt < 0:
            break
        closing = b"</script" if page.startswith(b"<script", lt) else b"</style" if page.startswith(b"<style", lt) \
            else None
        end = page.find(closing, lt) if closing else lt
        gt = page.find(b">", end) if end >= 0 else -1
        if gt < 0:
            break
        at = gt + 1
    return count


def find_chromium(configured: str | None = None) -> str | None:
    """The Chromium to drive: the setting's path, else the first of CHROMIUM_NAMES on PATH."""
    if configured:
        return configured if shutil.which(configured) else None
    for name in CHROMIUM_NAMES:
        if (path := shutil.which(name)) is not None:
            return path
    return None


def browser_settings(mode: str, chromium: str | None, proxy: str | None, pages: int,
                     deadline: float) -> dict[str, Any]:
    """The Scrapy settings that install the browser pass (nothing when it is off)."""
    if mode == "never" or chromium is None:
        return {}
    args = ["--disable-background-networking", "--disable-component-update", "--disable-default-apps",
            "--disable-sync", "--no-first-run", "--mute-audio", "--disable-features=MediaRouter",
            "--deny-permission-prompts"]
    launch: dict[str, Any] = {"executable_path": chromium, "headless": True, "args": args}
    if proxy:
        # Chromium sends localhost and 127.0.0.1 around a proxy on its own: "<-loopback>" turns that off.
        launch["proxy"] = {"server": proxy, "bypass": "<-loopback>"}
    handler = "crawler.browser.LazyPlaywrightHandler"
    return {
        "DOWNLOAD_HANDLERS": {"http": handler, "https": handler},
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": launch,
        "PLAYWRIGHT_CONTEXTS": {"default": {
            "ignore_https_errors": True,  # as the static crawl: a logo is public, certificates are not checked
            "service_workers": "block", "accept_downloads": False, "java_script_enabled": True,
            "permissions": [], "viewport": {"width": 1280, "height": 900}}},
        "PLAYWRIGHT_MAX_CONTEXTS": 1,
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": pages,
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": int(deadline * 1000),
        "PLAYWRIGHT_ABORT_REQUEST": "crawler.browser.abort_request",
        "PLAYWRIGHT_PROCESS_REQUEST_HEADERS": None,  # the browser's own headers for the page's requests
        "LOGOSIM_BROWSER_ON": True,
    }


# Set once per crawl by the spider (crawler.spiders.logos) before the browser starts.
GUARD: dict[str, bool] = {"proxied": False, "allow_private": False}


async def abort_request(request: Any) -> bool:
    """True for a request the page must not make (Playwright's request): not http(s)/data/blob, or a host the
    private-address guard refuses. Without a proxy a name is resolved here and refused when any answer is not
    global (Chromium resolves it again for its connection: a DNS answer that changes between the two is the
    one gap left; with a proxy the proxy resolves)."""
    parts = urlsplit(request.url)
    if parts.scheme in ("data", "blob", "about"):
        return False
    if parts.scheme not in ("http", "https"):
        return True
    if GUARD["allow_private"]:
        return False
    host = parts.hostname or ""
    if host_verdict(host, proxied=GUARD["proxied"]) is not None:
        logger.info("browser: refused a request to %s", host[:100])
        return True
    if GUARD["proxied"] or parse_ip(host) is not None:
        return False
    try:
        answers = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return True
    return not all(is_global_ip(answer[4][0].split("%")[0]) for answer in answers)


def _lazy_handler() -> type:
    from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

    class LazyPlaywrightHandler(ScrapyPlaywrightDownloadHandler):
        """scrapy-playwright's handler, whose Playwright driver (and browser) starts with the first page to
        render instead of with every crawl: a crawl of ordinary sites starts neither."""

        def __init__(self, crawler: Any) -> None:
            super().__init__(crawler)
            self._lazy_lock = asyncio.Lock()

        async def _maybe_launch_in_thread(self) -> None:  # engine_started: nothing yet
            return None

        def _engine_started(self) -> None:  # the same, for Scrapy's older API
            return None

        async def _download_request(self, request: Any, spider: Any = None) -> Any:
            async with self._lazy_lock:
                if getattr(self, "browser_provider", None) is None:
                    await self._launch()
            return await super()._download_request(request, spider)

    return LazyPlaywrightHandler


def __getattr__(name: str) -> Any:
    """``crawler.browser.LazyPlaywrightHandler``, built on first use: scrapy-playwright is imported only by a
    crawl whose browser pass is on."""
    if name == "LazyPlaywrightHandler":
        handler = _lazy_handler()
        globals()[name] = handler
        return handler
    raise AttributeError(name)
