"""``scrapy crawl logos``, exiting 1 when the crawl refused or stopped for a reason the user must act on.

Scrapy's own command fails only when a crawler cannot be built; a spider that closes itself because the data
folder is locked, the domain list is unusable or the frontier is unreachable or lost would exit 0, and a
script or scheduler running ``scrapy crawl logos`` could not tell. The one-line reason is already logged.
"""

from __future__ import annotations

import argparse

from scrapy.commands.crawl import Command as ScrapyCrawl

from crawler.runner import REFUSAL_REASONS


class Command(ScrapyCrawl):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:  # Scrapy's own checks and messages
            super().run(args, opts)
            return
        assert self.crawler_process is not None
        crawler = self._create_crawler(args[0])  # kept: the process forgets its crawlers once they finish
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        reason = crawler.stats.get_value("finish_reason") if crawler.stats else None
        if self.crawler_process.bootstrap_failed or reason in REFUSAL_REASONS:
            self.exitcode = 1
