"""The real spider against the fixture web on 127.0.0.1: one site of every kind, checked domain by domain."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from twisted.internet import error as twisted_error

from common.datadir import DataDir
from common.manifest import read_manifest
from crawler.middlewares import parse_retry_after
from crawler.reasons import best_reason, failure_reason
from crawler.spiders.logos import LogosSpider, SiteJob
from fixtureweb.sites import KINDS
from fixtureweb.web import FixtureWeb, mismatches

ROOT = Path(__file__).resolve().parents[1]
# Short timeouts for the slow site: the crawl waits DOWNLOAD_TIMEOUT twice (https, then http).
FAST = ["-s", "DOWNLOAD_TIMEOUT=3", "-s", "LOGOSIM_RETRY_AFTER_MAX=2", "-s", "LOG_LEVEL=INFO"]


@pytest.fixture(scope="module")
def web():
    with FixtureWeb(sites=len(KINDS), seed=3, kinds=list(KINDS)) as fixture:
        yield fixture


def _env(web: FixtureWeb, data: Path) -> dict[str, str]:
    return {**os.environ, **web.proxy_env(), "LOGOSIM_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}


def scrapy_crawl(web: FixtureWeb, data: Path, domains: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "scrapy.cmdline", "crawl", "logos", "-a", f"domains={domains}", *FAST, *extra]
    return subprocess.run(cmd, cwd=ROOT, env=_env(web, data), capture_output=True, text=True, timeout=120)


_RUN_CRAWL = """
import json, sys
from pathlib import Path
from common.datadir import DataDir
from common.errors import LogosimError
from crawler.runner import run_crawl
seen, started = [], []
try:
    with DataDir.at(sys.argv[2]).locked("crawl") as data:  # as logosim's stage holds it (pipeline.stages)
        s = run_crawl(Path(sys.argv[1]), data, force=sys.argv[3] == "1",
                      settings={"DOWNLOAD_TIMEOUT": 3, "LOGOSIM_RETRY_AFTER_MAX": 2},
                      on_record=lambda r: seen.append(r.domain), on_start=started.append)
except LogosimError as exc:
    print("ERROR", exc)
    sys.exit(1)
print(json.dumps({"total": s.total, "skipped": s.skipped, "ok": s.ok, "no_logo": s.no_logo, "failed": s.failed,
                  "by_reason": s.by_reason, "records": seen, "started": started}))
"""


def run_crawl_subprocess(web: FixtureWeb, data: Path, domains: Path, force: bool = False):
    cmd = [sys.executable, "-c", _RUN_CRAWL, str(domains), str(data), "1" if force else "0"]
    return subprocess.run(cmd, cwd=ROOT, env=_env(web, data), capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def crawled(web, tmp_path_factory):
    data = tmp_path_factory.mktemp("crawl")
    domains = web.write_domains(data.parent / "domains.csv")
    result = scrapy_crawl(web, data, domains)
    assert result.returncode == 0, result.stderr[-3000:]
    return data, domains, result


def test_one_record_per_domain(web, crawled):
    data, _, _ = crawled
    lines = [json.loads(line) for line in (data / "manifest.jsonl").read_text().splitlines()]
    assert sorted(line["domain"] for line in lines) == sorted(web.truth)


@pytest.mark.parametrize("kind", KINDS)
def test_outcome_of_every_kind(web, crawled, kind):
    records = read_manifest(crawled[0] / "manifest.jsonl").records
    truth = {domain: t for domain, t in web.truth.items() if t.kind == kind}
    assert truth, kind
    assert mismatches(truth, records) == []


def test_logo_files_decode_and_match_the_manifest(crawled):
    data = DataDir(crawled[0])
    records = read_manifest(data.manifest).records
    ok = [record for record in records.values() if record.status == "ok"]
    assert len(ok) >= len(KINDS) // 2
    for record in ok:
        path = data.root / record.logo_path
        assert record.logo_path == f"logos/{record.domain}.png"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == record.sha256
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == (record.width, record.height)
    assert sorted(p.name for p in data.logos.iterdir()) == sorted(f"{r.domain}.png" for r in ok)


def test_every_outcome_is_counted(crawled):
    log = crawled[2].stderr
    assert "'logosim/status/ok':" in log and "'logosim/reason/dns_error': 1" in log
    assert "'logosim/source/jsonld': 3" in log


def test_only_a_page_with_an_element_to_paint_reads_its_stylesheets(web, crawled):
    """Every fixture page links /css/site.css; below the header tier, the text-wordmark pages (apple_touch,
    manifest, og_only, ...) have nothing a sheet could paint, and only the empty home links of css_external and
    of the two sheet traps (fixtureweb.pagekinds) do."""
    painted = [d for d, t in web.truth.items() if t.kind in ("css_external", "trap_css_sheet", "trap_punycode_css")]
    assert len(painted) == 3
    assert "'logosim/stylesheets_read': 3," in crawled[2].stderr


def test_resume_skips_done_domains_and_force_redoes(web, crawled, tmp_path):
    data, domains, _ = crawled
    before = (data / "manifest.jsonl").read_text()
    again = run_crawl_subprocess(web, data, domains)
    assert again.returncode == 0, again.stderr[-3000:]
    summary = json.loads(again.stdout.splitlines()[-1])
    assert summary["skipped"] == summary["total"] == len(web.truth)
    assert summary["started"] == [0] and summary["records"] == []
    assert (data / "manifest.jsonl").read_text() == before

    some = sorted(d for d, t in web.truth.items() if t.kind in ("header_png", "dead", "inline_svg"))
    forced = scrapy_crawl(web, data, web.write_domains(tmp_path / "some.txt", some), "-a", "force=1")
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert f"{len(some)} to crawl" in forced.stderr
    lines = (data / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == len(web.truth)  # compacted: the redone domains replaced their old lines
    assert mismatches(web.truth, read_manifest(data / "manifest.jsonl").records) == []


def test_run_crawl_reports_progress_and_summary(web, tmp_path):
    kinds = ("header_svg", "jsonld_graph", "dead", "no_logo", "manifest")
    some = [d for d, t in web.truth.items() if t.kind in kinds]
    result = run_crawl_subprocess(web, tmp_path / "data", web.write_domains(tmp_path / "d.txt", some))
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["started"] == [len(some)] and sorted(summary["records"]) == sorted(some)
    assert (summary["ok"], summary["no_logo"], summary["failed"]) == (3, 1, 1)
    assert summary["by_reason"] == {"dns_error": 1, "all_candidates_failed:http_404": 1}


def test_second_crawler_on_the_same_folder_refuses(web, tmp_path):
    data = DataDir(tmp_path / "data")
    domains = web.write_domains(tmp_path / "d.txt", sorted(web.truth)[:2])
    with data.locked():  # another logosim process holds the folder
        command = [sys.executable, "-c", "from cli import app; app()", "crawl", str(domains), "-d", str(data.root)]
        logosim = subprocess.run(command, cwd=ROOT, env=_env(web, data.root), capture_output=True, text=True,
                                 timeout=120)
        plain = scrapy_crawl(web, data.root, domains)
    assert logosim.returncode == 1
    assert "in use by another logosim process" in logosim.stderr and len(logosim.stderr.strip().splitlines()) == 1
    assert "in use by another logosim process" in plain.stderr and "data_dir_locked" in plain.stderr
    assert plain.returncode == 1  # scrapy crawl tells a script it refused (crawler/commands/crawl.py)
    assert not data.manifest.exists()


def test_unusable_lines_are_logged_with_line_numbers(web, tmp_path):
    good = sorted(d for d, t in web.truth.items() if t.kind == "header_png")
    path = tmp_path / "mixed.txt"
    path.write_text(f"{good[0]}\nnot a domain\n10.0.0.1\n", encoding="utf-8")
    result = scrapy_crawl(web, tmp_path / "data", path)
    assert result.returncode == 0
    assert "line 2: 'not a domain' skipped" in result.stderr and "line 3: '10.0.0.1'" in result.stderr
    assert list(read_manifest(tmp_path / "data" / "manifest.jsonl").records) == [good[0]]


# -- the pure parts ------------------------------------------------------------------------------------------
def test_failure_reasons():
    assert failure_reason(twisted_error.DNSLookupError("x")) == "dns_error"
    assert failure_reason(twisted_error.ConnectionRefusedError()) == "connection_refused"
    assert failure_reason(twisted_error.TimeoutError()) == "timeout"
    assert best_reason(["dns_error", "timeout", "connection_refused"]) == "timeout"
    assert best_reason(["dns_error", "http_404"]) == "http_404"


def test_homepage_fallback_order():
    job = SiteJob.for_domain("acme.test")
    first = job.homepages.pop(0)
    assert first == "https://acme.test/"
    assert LogosSpider.next_homepage(job, "connection_refused", first) == "http://acme.test/"
    assert LogosSpider.next_homepage(job, "dns_error", "http://acme.test/") == "https://www.acme.test/"
    job = SiteJob.for_domain("acme.test")
    job.homepages.pop(0)
    assert LogosSpider.next_homepage(job, "dns_error", "https://acme.test/") == "https://www.acme.test/"
    assert LogosSpider.next_homepage(job, "http_404", "https://www.acme.test/") is None


def test_timeout_tries_the_other_scheme_only_when_nothing_answered():
    job = SiteJob.for_domain("acme.test")
    job.homepages.pop(0)
    assert LogosSpider.next_homepage(job, "timeout", "https://acme.test/") == "http://acme.test/"
    assert job.homepages == []  # not www.: the same server, the same wait
    job = SiteJob.for_domain("acme.test")
    job.homepages.pop(0)
    assert LogosSpider.next_homepage(job, "timeout", "https://acme.test/", answered=True) is None


def test_retry_after_parsing():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None


def test_a_trickling_site_is_stopped_by_the_low_speed_rule(web, tmp_path):
    """The slow site sends its page at 2 bytes/s: stopped as a timeout LOGOSIM_LOW_SPEED_TIME after its first
    bytes, long before DOWNLOAD_TIMEOUT, and its other scheme is not tried (the server answered)."""
    slow = [domain for domain, truth in web.truth.items() if truth.kind == "slow"]
    domains = web.write_domains(tmp_path / "slow.csv", slow)
    cmd = [sys.executable, "-m", "scrapy.cmdline", "crawl", "logos", "-a", f"domains={domains}",
           "-s", "DOWNLOAD_TIMEOUT=60", "-s", "LOGOSIM_LOW_SPEED_TIME=2", "-s", "LOG_LEVEL=INFO"]
    started = time.monotonic()
    result = subprocess.run(cmd, cwd=ROOT, env=_env(web, tmp_path / "data"), capture_output=True, text=True,
                            timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    record = read_manifest(tmp_path / "data" / "manifest.jsonl").records[slow[0]]
    assert (record.status, record.reason) == ("failed", "timeout")
    assert "'logosim/too_slow': 1," in result.stderr
    assert elapsed < 30, f"{elapsed:.0f} s: the trickle held the request towards DOWNLOAD_TIMEOUT"


def test_ordinary_sites_never_open_a_browser_page(crawled):
    """Every kind of the ordinary web shows its logo (or its failure) in the served markup: the browser pass,
    on by default where a Chromium is installed, renders none of them."""
    log = crawled[2].stderr
    assert "playwright/page_count" not in log and "logosim/browser/" not in log
