"""The address guard's Scrapy parts: a downloader middleware that refuses requests to non-global hosts (every
request passes it, redirect hops and meta refreshes included) and a DNS resolver that refuses non-global
answers (what Scrapy connects to, so a name that resolves to a public address for the check and to
127.0.0.1 a moment later still cannot reach loopback).

Without a proxy the middleware resolves the host once through the reactor's (caching) resolver, so the
connection that follows reuses that answer: a lookup per request, not an extra round trip. With a forward
proxy (``request.meta["proxy"]``, set by Scrapy's HttpProxyMiddleware, which runs before this middleware)
the crawler resolves nothing but the proxy's own name: IP literals and local names are refused, every other
name is the proxy's to resolve. ``LOGOSIM_ALLOW_PRIVATE_ADDRESSES`` (for intranet crawls) turns both off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.resolver import CachingThreadedResolver
from scrapy.statscollectors import StatsCollector
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.error import DNSLookupError

from common.netguard import BLOCKED, host_verdict, is_global_ip, parse_ip

ALLOW_SETTING = "LOGOSIM_ALLOW_PRIVATE_ADDRESSES"


class BlockedAddress(IgnoreRequest):
    """A request the guard refused; its reason is ``common.netguard.BLOCKED``."""


class BlockedAnswer(DNSLookupError):
    """A DNS answer outside the global address space (DNSLookupError, so Twisted treats it as a failed lookup)."""


class GlobalOnlyResolver(CachingThreadedResolver):
    """Scrapy's caching resolver, failing every answer that is not a global address, except for the names of
    the configured proxies (which AddressGuardMiddleware registers with ``trust``)."""

    def __init__(self, reactor: Any, cache_size: int, timeout: float, allow_private: bool = False) -> None:
        super().__init__(reactor, cache_size, timeout)
        self.allow_private = allow_private
        self.trusted: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: Any) -> GlobalOnlyResolver:
        settings = crawler.settings
        cache_size = settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0
        return cls(reactor, cache_size, settings.getfloat("DNS_TIMEOUT"), settings.getbool(ALLOW_SETTING))

    def trust(self, host: str) -> None:
        self.trusted.add(host)

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Any:  # noqa: N802 - Twisted's interface
        answer = super().getHostByName(name, timeout)
        if self.allow_private or name in self.trusted:
            return answer
        return answer.addCallback(_global_answer, name)


def _global_answer(address: str, name: str) -> str:
    if not is_global_ip(address):
        raise BlockedAnswer(f"{name} resolves to the non-global address {address}")
    return address


class AddressGuardMiddleware:
    """Refuse (BlockedAddress) a request whose host is not global; see the module docstring."""

    def __init__(self, stats: StatsCollector, allow_private: bool = False) -> None:
        self.stats = stats
        self.allow_private = allow_private

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuardMiddleware:
        assert crawler.stats is not None
        return cls(crawler.stats, crawler.settings.getbool(ALLOW_SETTING))

    def process_request(self, request: Request) -> Any:
        """None at once for most requests (no coroutine per request: this runs for every one); only a name
        to resolve without a proxy returns an awaitable."""
        if self.allow_private:
            return None
        parts = urlsplit(request.url)
        if parts.scheme not in ("http", "https"):
            return None  # data: needs no network; other schemes have no download handler (DOWNLOAD_HANDLERS)
        host = parts.hostname or ""
        proxy = request.meta.get("proxy")
        if host_verdict(host, proxied=bool(proxy)) is not None:
            self._refuse(request, host)
        if proxy:
            _resolver_trusts(urlsplit(proxy if "://" in proxy else f"http://{proxy}").hostname or "")
        elif parse_ip(host) is None:
            return self._check_answer(request, host)
        return None

    async def _check_answer(self, request: Request, host: str) -> None:
        from twisted.internet import reactor  # imported late: importing it installs a reactor

        try:
            address = await maybe_deferred_to_future(reactor.resolve(host))
        except BlockedAnswer:
            self._refuse(request, host)
        if not is_global_ip(address):  # a resolver other than GlobalOnlyResolver is installed
            self._refuse(request, host)

    def _refuse(self, request: Request, host: str) -> None:
        self.stats.inc_value(f"logosim/{BLOCKED}")
        raise BlockedAddress(f"{BLOCKED}: {host} ({request.url[:200]})")


def _resolver_trusts(host: str) -> None:
    from twisted.internet import reactor

    resolver = getattr(reactor, "resolver", None)
    if isinstance(resolver, GlobalOnlyResolver) and host not in resolver.trusted:
        resolver.trust(host)
