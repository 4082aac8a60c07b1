"""``scrapy crawl logos``: the configuration from the environment (common.config, as `logosim crawl` reads it),
the data folder's lock for the whole crawl, and an exit status that tells.

Scrapy's own command fails only when a crawler cannot be built; a spider that closes itself because the domain
list is unusable or the frontier is unreachable or lost would exit 0, and a script or scheduler running
``scrapy crawl logos`` could not tell. The one-line reason is already logged. A locked data folder is refused
here, before the crawl starts, with one line naming ``data_dir_locked``.
"""

from __future__ import annotations

import argparse
import logging

from scrapy.commands.crawl import Command as ScrapyCrawl

from common.config import Config
from common.datadir import DataDir
from common.errors import DataDirLocked, LogosimError
from crawler.runner import REFUSAL_REASONS, config_settings

logger = logging.getLogger(__name__)
LOCKED_REASON = "data_dir_locked"


class Command(ScrapyCrawl):
    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        """The environment's configuration over the project's defaults, under the command line's ``-s``."""
        super().process_options(args, opts)
        assert self.settings is not None
        try:
            config = Config.from_env()
        except LogosimError as exc:
            raise SystemExit(f"error: {exc}") from None
        for name, value in config_settings(config).items():
            self.settings.set(name, value, priority="project")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:  # Scrapy's own checks and messages
            super().run(args, opts)
            return
        assert self.crawler_process is not None and self.settings is not None
        data = DataDir.at(self.settings["LOGOSIM_DATA_DIR"])
        try:
            with data.locked("crawl"):
                self._crawl(args[0], opts)
        except DataDirLocked as exc:
            logger.error("%s (%s)", exc, LOCKED_REASON)
            self.exitcode = 1

    def _crawl(self, name: str, opts: argparse.Namespace) -> None:
        assert self.crawler_process is not None
        crawler = self._create_crawler(name)  # kept: the process forgets its crawlers once they finish
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        reason = crawler.stats.get_value("finish_reason") if crawler.stats else None
        if self.crawler_process.bootstrap_failed or reason in REFUSAL_REASONS:
            self.exitcode = 1
