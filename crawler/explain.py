"""`logosim crawl --explain DOMAIN`: the scored candidate list of one site, fetched as the crawl fetches it.

The homepage goes through the logos spider's own request chain (https, then http; bare, then www.;
redirects, meta refresh, the same settings and middlewares); instead of fetching the best candidate, the
spider stops and hands the list over. Nothing is written to the data folder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from scrapy.http import Request, Response

from common.domains import normalise_domain
from common.errors import InputError
from common.text import printable
from crawler.items import LogoItem
from crawler.spiders.logos import LogosSpider, SiteJob, logo_url


@dataclass
class Explanation:
    domain: str
    page_url: str | None = None
    failure: str | None = None  # the reason when no page was read (dns_error, http_404, not_html...)
    candidates: list[dict[str, Any]] = field(default_factory=list)  # best first, as the crawl tries them
    rendered: bool = False  # read from the page as headless Chromium rendered it (crawler.browser)

    def to_dict(self) -> dict[str, Any]:
        return {"domain": self.domain, "page_url": self.page_url, "failure": self.failure,
                "rendered": self.rendered, "candidates": self.candidates}

    def lines(self) -> list[str]:
        """The human-readable table: one line per candidate, best first; what the page wrote (URLs, class names,
        alt text) with its control characters escaped, so that it cannot act on the terminal."""
        head = f"{self.domain}: {printable(self.page_url or 'no page')}"
        if self.rendered:
            head += "  (as rendered in headless Chromium: the served page looks built by a script)"
        if self.failure:
            return [head, f"  no candidates: {printable(self.failure)}"]
        lines = [head]
        for row in self.candidates:
            lines.append(f"  {row['rank']:>2}. {row['score']:6.1f}  {row['source']:<16} {printable(row['url'])}")
            lines.append(f"      {printable(row['detail'])}")
        return lines


def candidate_row(rank: int, cand: Any) -> dict[str, Any]:
    return {"rank": rank, "score": round(cand.score, 2), "source": cand.source, "url": logo_url(cand),
            "detail": cand.detail}


class ExplainSpider(LogosSpider):
    """The logos spider for one domain that stops once its candidates are scored."""

    name = "logos-explain"
    custom_settings = {"ITEM_PIPELINES": {}}  # nothing is written

    def __init__(self, domain: str = "", explanation: Explanation | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.domain = domain
        self.explanation = explanation or Explanation(domain)

    async def start(self) -> AsyncIterator[Request]:
        yield self.home_request(SiteJob.for_domain(self.domain), priority=0)

    def next_candidate(self, job: SiteJob) -> list[Any]:
        """Called once the homepage's candidates are scored: record them instead of fetching any."""
        rows = [candidate_row(rank, cand) for rank, cand in enumerate(job.candidates, start=1)]
        self.explanation.candidates = rows
        self.explanation.rendered = job.rendered
        return []

    async def parse_home(self, response: Response) -> Iterable[Any]:  # type: ignore[override]
        self.explanation.page_url = response.url
        return await super().parse_home(response)

    def finish(self, job: SiteJob, item: LogoItem) -> LogoItem:
        if not item.ok and not self.explanation.candidates:
            self.explanation.failure = item.record.reason
        return super().finish(job, item)


def explain(domain: str, settings: dict[str, Any] | None = None) -> Explanation:
    """Run ExplainSpider in this process (once per process: Scrapy's reactor cannot restart)."""
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.project import get_project_settings

    try:
        normalised = normalise_domain(domain)
    except ValueError as exc:
        raise InputError(f"not a domain: {domain!r} ({exc})") from None
    project = get_project_settings()
    project.setmodule("crawler.settings", priority="project")
    project.update(settings or {}, priority="cmdline")
    explanation = Explanation(normalised)
    process = CrawlerProcess(project)
    process.crawl(ExplainSpider, domain=normalised, explanation=explanation)
    process.start()
    return explanation
