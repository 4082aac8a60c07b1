"""The logos spider's stylesheet stage: when a homepage shows no header logo in its markup, read its own
external stylesheets for a rule that draws one (crawler.extract.css), then go on with the candidates.

Bounded: only pages whose best candidate is below the header-logo tier and that have an element a sheet
could paint as a better logo (a logo- or brand-named element, or a home link showing nothing, with no picture
of its own: crawler.extract.css.sheets_to_read), at most LOGOSIM_MAX_STYLESHEETS same-origin sheets, each
refused above LOGOSIM_STYLESHEET_MAXSIZE bytes (declared or received) and given the short
LOGOSIM_FALLBACK_TIMEOUT; a failed sheet is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scrapy.http import Request, Response, TextResponse
from scrapy.settings import Settings
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

PRIORITY_STYLESHEET = 2
_STAGE = "stylesheet_stage"


class StylesheetStage:
    """Mixed into LogosSpider: ``stylesheet_request`` after parse_home, ``next_candidate`` after the sheets."""

    def init_stylesheets(self, settings: Settings) -> None:
        from crawler.extract import TIERS

        self.max_stylesheets = settings.getint("LOGOSIM_MAX_STYLESHEETS")
        self.stylesheet_maxsize = settings.getint("LOGOSIM_STYLESHEET_MAXSIZE")
        self.stylesheet_timeout = settings.getfloat("LOGOSIM_FALLBACK_TIMEOUT")
        self.stylesheet_below = TIERS["header_logo"]

    async def stylesheet_request(self, job: Any, response: TextResponse, candidates: list[Any]) -> Request | None:
        """The first sheet's request when the page's markup shows no header logo and a sheet could paint one,
        else None."""
        best = candidates[0].score if candidates else 0.0
        if not self.max_stylesheets or best >= self.stylesheet_below:
            return None
        from crawler.extract import ExtractTimeout, run_within, sheets_to_read

        try:
            sheets = await maybe_deferred_to_future(deferToThread(
                run_within, self.extract_deadline, sheets_to_read, response.body, response.url, job.domain, best,  # type: ignore[attr-defined]
                encoding=response.encoding))
        except ExtractTimeout:
            self.crawler.stats.inc_value("logosim/extract_timeout")  # type: ignore[attr-defined]
            return None
        if not sheets:
            return None
        stage = {"sheets": sheets[: self.max_stylesheets], "page": (response.body, response.url, response.encoding)}
        return self._sheet_request(job, stage)

    def _sheet_request(self, job: Any, stage: dict[str, Any]) -> Request:
        url = stage["sheets"].pop(0)
        meta = {"job": job, _STAGE: stage, "download_maxsize": self.stylesheet_maxsize,
                "download_warnsize": 0, "download_timeout": self.stylesheet_timeout}
        return Request(url, callback=self.parse_stylesheet, errback=self.stylesheet_failed, meta=meta,
                       dont_filter=True, priority=PRIORITY_STYLESHEET)

    async def parse_stylesheet(self, response: Response) -> Iterable[Any]:
        from crawler.extract import ExtractTimeout, css_candidates, run_within

        job, stage = response.meta["job"], response.meta[_STAGE]
        self.crawler.stats.inc_value("logosim/stylesheets_read")  # type: ignore[attr-defined]
        if isinstance(response, TextResponse) and response.status == 200:
            try:
                body, page_url, encoding = stage["page"]
                # decoded in the thread (WHATWG labels only: common.encodings), never in the reactor's
                found = await maybe_deferred_to_future(deferToThread(
                    run_within, self.extract_deadline, css_candidates, response.body, response.url, body, page_url,  # type: ignore[attr-defined]
                    job.domain, encoding, css_encoding=response.encoding))
                if found:
                    job.candidates = sorted(job.candidates + found, key=lambda c: -c.score)
            except ExtractTimeout:
                self.crawler.stats.inc_value("logosim/extract_timeout")  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - a bad sheet costs only its own candidates
                self.logger.exception("stylesheet %s", response.url)  # type: ignore[attr-defined]
        return self._after_sheet(job, stage)

    def stylesheet_failed(self, failure: Failure) -> list[Any]:
        request = failure.request  # type: ignore[attr-defined]
        return self._after_sheet(request.meta["job"], request.meta[_STAGE])

    def _after_sheet(self, job: Any, stage: dict[str, Any]) -> list[Any]:
        if stage["sheets"]:
            return [self._sheet_request(job, stage)]
        stage.clear()  # the page's bytes are no longer needed
        return self.next_candidate(job)  # type: ignore[attr-defined]
