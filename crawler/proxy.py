"""Downloader middleware: send every request through the proxy named by the setting LOGOSIM_PROXY, when set.

Scrapy's HttpProxyMiddleware reads ``http_proxy``/``https_proxy`` from the environment; this lets a caller
(the demo, the tests) name a proxy as a plain setting instead of writing the process's environment. It runs
just before HttpProxyMiddleware (750), which then opens CONNECT tunnels for https as usual; a request that
already names a proxy keeps it.
"""

from __future__ import annotations

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured


class ConfiguredProxyMiddleware:
    def __init__(self, proxy: str) -> None:
        self.proxy = proxy

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConfiguredProxyMiddleware:
        proxy = crawler.settings.get("LOGOSIM_PROXY")
        if not proxy:
            raise NotConfigured  # no proxy configured (no message: Scrapy would warn on every crawl)
        return cls(proxy)

    def process_request(self, request: Request, spider: object = None) -> None:
        request.meta.setdefault("proxy", self.proxy)
