"""Run the logos spider in this process (what `logosim crawl` calls) and summarise the manifest afterwards."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.config import Config
from common.datadir import DataDir
from common.domains import DomainList, Rejected, read_domains
from common.errors import InputError, LogosimError
from common.manifest import (
    FAILED,
    NO_LOGO,
    OK,
    ManifestRead,
    ManifestRecord,
    read_manifest,
    rewrite_manifest,
)
from common.procs import die_with_parent
from crawler.frontier import INTAKE_REASON, LOST_REASON, UNREACHABLE_REASON
from crawler.pipelines import REFUSAL_STAT
from crawler.processes import processes_for, run_processes


def config_settings(config: Config) -> dict[str, Any]:
    """The configuration's part that the crawl reads, as Scrapy settings (over crawler/settings.py's defaults;
    the log level is the caller's: `scrapy crawl` keeps Scrapy's own)."""
    settings: dict[str, Any] = {"LOGOSIM_DATA_DIR": str(config.data_dir)}
    if config.user_agent:
        settings["USER_AGENT"] = config.user_agent
    if config.proxy:
        settings["LOGOSIM_PROXY"] = config.proxy
    if config.allow_private_addresses:
        settings["LOGOSIM_ALLOW_PRIVATE_ADDRESSES"] = True
    if config.frontier:
        settings["LOGOSIM_FRONTIER"] = config.frontier
    settings["LOGOSIM_BROWSER"] = config.browser
    return settings


@dataclass
class CrawlSummary:
    total: int
    skipped: int
    ok: int
    no_logo: int
    failed: int
    by_source: dict[str, int] = field(default_factory=dict)
    by_reason: dict[str, int] = field(default_factory=dict)
    rejected_lines: list[Rejected] = field(default_factory=list)  # the first common.domains.MAX_REJECTS
    rejected_total: int = 0
    processes: int = 1  # crawl processes this run used (crawler.processes)

    def to_dict(self) -> dict[str, Any]:
        found = self.ok / self.total if self.total else 0.0
        return {"total": self.total, "skipped": self.skipped, "ok": self.ok, "no_logo": self.no_logo,
                "failed": self.failed, "found_pct": round(100 * found, 1), "by_source": self.by_source,
                "by_reason": self.by_reason,
                "rejected_lines": [{"line": r.line, "text": r.text, "reason": r.reason} for r in self.rejected_lines],
                "rejected_total": self.rejected_total, "processes": self.processes}


def run_crawl(domains_file: Path | None, data_dir: DataDir, *, force: bool = False, settings: dict | None = None,
              on_record: Callable[[ManifestRecord], None] | None = None,
              on_start: Callable[[int], None] | None = None, processes: int = 1,
              shard: bool = False) -> CrawlSummary:
    """Crawl every domain of ``domains_file`` not yet in the manifest (all with ``force``); once per process
    (Scrapy's reactor cannot restart). The caller holds the data folder's lock. Raises InputError (and
    LogosimError for a frontier that is unreachable or lost) as one-line errors.

    With the setting LOGOSIM_FRONTIER this process is one worker of a shared crawl: ``domains_file`` (optional)
    is queued on the frontier and the worker takes its domains from there (crawler.frontier_worker).

    With ``processes`` > 1 the planned domains are crawled by that many processes of this machine
    (crawler.processes; fewer for a short list). ``shard``: this process is one of them, its list planned
    already and the manifest written by others too (not read, not compacted here)."""
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.project import get_project_settings

    shared = bool((settings or {}).get("LOGOSIM_FRONTIER"))
    if domains_file is None and not shared:
        raise InputError("no domain list: pass a file (.parquet, .csv or .txt), or a --frontier to work on")
    # Read early: an unusable file fails with one line before anything starts.
    listing = read_domains(domains_file) if domains_file is not None else None
    # The one read of this crawl: plan, summary, compaction (a shard's list is planned: it reads nothing).
    manifest = ManifestRead({}, [], 0) if shard else read_manifest(data_dir.manifest)
    done = set() if force else set(manifest.records)
    # Planned once and handed to the spider; on a frontier the frontier plans.
    todo = [domain for domain in listing.domains if domain not in done] if listing and not shared else []
    count = 1 if shared or shard else processes_for(len(todo), processes)
    if count > 1:
        assert listing is not None
        return _run_processes(listing, todo, data_dir, count, settings or {}, on_record, on_start)
    # The caller raises a refusal's line (REFUSAL_STAT) for the CLI to print: the crawl's log must not repeat it.
    logging.getLogger("crawler.frontier_worker").addFilter(_not_a_refusal)
    project = get_project_settings()
    project.setmodule("crawler.settings", priority="project")
    project.update({"LOGOSIM_DATA_DIR": str(data_dir.root), **(settings or {})}, priority="cmdline")
    process = CrawlerProcess(project)
    crawler = process.create_crawler("logos")
    records = dict(manifest.records)

    def item_scraped(item: Any) -> None:
        records[item.record.domain] = item.record
        if on_record:
            on_record(item.record)

    crawler.signals.connect(item_scraped, signal=signals.item_scraped, weak=False)
    process.crawl(crawler, domains=str(domains_file) if domains_file else None, force=force, on_start=on_start,
                  todo=todo, manifest=manifest)
    process.start()
    _raise_refusal(crawler)
    if shared:  # this worker's share of the crawl: what its folder holds
        return summarise(list(records), records)
    assert listing is not None
    summary = summarise(listing.domains, records)
    summary.skipped, summary.rejected_lines = len(listing.domains) - len(todo), listing.rejected
    summary.rejected_total = listing.rejected_total
    return summary


def _run_processes(listing: DomainList, todo: list[str], data_dir: DataDir, count: int, settings: dict,
                   on_record: Callable[[ManifestRecord], None] | None,
                   on_start: Callable[[int], None] | None) -> CrawlSummary:
    """The planned domains over ``count`` crawl processes, then the one compaction and the summary."""
    if on_start:
        on_start(len(todo))
    run_processes(todo, data_dir, count, settings, on_record)
    after = read_manifest(data_dir.manifest)
    if after.superseded or after.bad_lines:
        rewrite_manifest(data_dir.manifest, after.records.values())
    summary = summarise(listing.domains, after.records)
    summary.skipped, summary.rejected_lines = len(listing.domains) - len(todo), listing.rejected
    summary.rejected_total, summary.processes = listing.rejected_total, count
    return summary


def _not_a_refusal(record: logging.LogRecord) -> bool:
    return not getattr(record, "refusal", False)


# Finish reasons of a crawl that refused or stopped for a reason its user must act on (_raise_refusal maps
# each to its error; `scrapy crawl logos` exits 1 on them: crawler/commands/crawl.py).
REFUSAL_REASONS = frozenset({"input_error", UNREACHABLE_REASON, LOST_REASON, INTAKE_REASON})


def _raise_refusal(crawler: Any) -> None:
    """A crawl that refused to start says why in its stats (crawler.pipelines.REFUSAL_STAT)."""
    stats = crawler.stats
    reason = stats.get_value("finish_reason") if stats else None
    message = stats.get_value(REFUSAL_STAT) if stats else None
    if reason == "input_error":
        raise InputError(message or "unusable domain list")
    if reason in (UNREACHABLE_REASON, LOST_REASON, INTAKE_REASON):
        raise LogosimError(message or "the frontier is not reachable")


def summarise(domains: list[str], records: dict[str, ManifestRecord]) -> CrawlSummary:
    """Counts over the records of the input's domains (whether crawled now or earlier)."""
    mine = [records[domain] for domain in domains if domain in records]
    statuses = Counter(record.status for record in mine)
    by_source = Counter(record.source for record in mine if record.status == OK and record.source)
    by_reason = Counter(record.reason for record in mine if record.status != OK and record.reason)
    return CrawlSummary(total=len(domains), skipped=0, ok=statuses[OK], no_logo=statuses[NO_LOGO],
                        failed=statuses[FAILED], by_source=dict(by_source), by_reason=dict(by_reason))


def shard_main(argv: list[str]) -> int:
    """One shard's crawl: ``python -m crawler.runner LIST SETTINGS_JSON ERROR_FILE PARENT_PID``, started by
    crawler.processes.run_processes; a refusal's one line goes to ERROR_FILE for the parent to raise."""
    import json

    listing, settings, error = Path(argv[0]), json.loads(argv[1]), Path(argv[2])
    die_with_parent(int(argv[3]))
    try:
        run_crawl(listing, DataDir.at(settings["LOGOSIM_DATA_DIR"]), force=True, settings=settings, shard=True)
    except LogosimError as exc:
        error.write_text(str(exc), encoding="utf-8")
        return 1
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(shard_main(sys.argv[1:]))
