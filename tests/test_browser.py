"""The browser pass (crawler.browser, crawler.rendering): script-built sites read in Debian's Chromium through
scrapy-playwright, with the crawl's rules: the private-address guard on every request the page makes, a
deadline per page, only where the served page needs it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from common.manifest import read_manifest
from crawler.browser import GUARD, abort_request, find_chromium, looks_scripted
from fixtureweb.scripted import PRIVATE_TARGETS, SCRIPTED_KINDS
from fixtureweb.web import FixtureWeb

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt-get install chromium)")
ORDINARY = ["header_png", "inline_svg", "jsonld_org", "favicon_only"]


@pytest.mark.parametrize(("page", "why"), [
    (b'<html><body><div id="app"></div><script src="/app.js"></script></body></html>', "app_root"),
    (b"<html><body><div class=x id='root'>\n</div><p>" + b"word " * 80 + b"</p></body></html>", "app_root"),
    (b'<html><body><header class="top"></header><p>' + b"word " * 80 + b"</p><script>f()</script>", "empty_header"),
    (b"<html><body><div id='site-header'></div><p>" + b"word " * 80 + b"</p><script>f()</script>", "empty_header"),
    (b"<html><body><a class='brand-mark' href='/'></a><p>" + b"word " * 80 + b"</p><script>f()</script>", None),
    (b"<html><body><noscript>Please enable JavaScript.</noscript><p>" + b"word " * 80 + b"</p>", "noscript"),
    (b"<html><head><title>Just a moment...</title></head><body><script>c()</script></body></html>", "challenge"),
    (b"<html><body><script>render()</script><p>Loading</p></body></html>", "shell"),
    (b"<html><body><header><a href='/'><img src='/logo.png'></a></header><script>x()</script><p>" + b"word " * 80,
     None),
    (b"<html><body><header></header><p>no script, an empty header</p></body></html>", None),
])
def test_what_looks_built_by_a_script(page: bytes, why: str | None) -> None:
    assert looks_scripted(page) == why


def test_the_checks_stay_linear_on_hostile_markup() -> None:
    """Each would be quadratic with an unbounded pattern (issue 19's rule): these return at once."""
    for page in (b"<noscript" * 60_000, b"<div id=app " * 60_000, b"<script" * 70_000, b"<header" * 70_000,
                 b"<" * 500_000, b"id=app>" * 70_000, (b"<div class=" + b"a" * 120 + b" ") * 4000 + b"<script>"):
        looks_scripted(page)


def _aborted(url: str, proxied: bool) -> bool:
    GUARD.update(proxied=proxied, allow_private=False)
    return asyncio.run(abort_request(SimpleNamespace(url=url)))


@pytest.mark.parametrize("url", [*PRIVATE_TARGETS, "http://0x7f.1/", "http://2130706433/", "http://[::ffff:10.0.0.1]/",
                                 "http://printer.local/", "file:///etc/passwd", "ftp://example.com/", "http://intranet/"])
def test_the_browser_never_asks_a_private_address(url: str) -> None:
    assert _aborted(url, proxied=True) and _aborted(url, proxied=False)


def test_the_browser_may_ask_the_web() -> None:
    assert not _aborted("https://example.com/logo.png", proxied=True)
    assert not _aborted("data:image/png;base64,AAAA", proxied=False)


def _crawl(web: FixtureWeb, tmp: Path, domains: list[str], *settings: str) -> subprocess.CompletedProcess[str]:
    listing = web.write_domains(tmp / "domains.csv", domains)
    env = {**os.environ, **web.proxy_env(), "LOGOSIM_DATA_DIR": str(tmp / "data")}
    cmd = [sys.executable, "-m", "scrapy.cmdline", "crawl", "logos", "-a", f"domains={listing}",
           "-s", "LOG_LEVEL=INFO", "-s", "LOGOSIM_BROWSER_DEADLINE=10", "-s", "LOGOSIM_BROWSER_SETTLE=2", *settings]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


@needs_chromium
def test_script_built_sites_are_read_in_the_browser_and_ordinary_ones_are_not(tmp_path: Path) -> None:
    canary = tmp_path / "canary.log"
    kinds = [*SCRIPTED_KINDS, *ORDINARY]
    with FixtureWeb(sites=len(kinds), seed=4, kinds=kinds, canary=canary) as web:
        result = _crawl(web, tmp_path, list(web.truth))
        assert result.returncode == 0, result.stderr[-3000:]
        records = read_manifest(tmp_path / "data" / "manifest.jsonl").records
        for domain, truth in web.truth.items():
            record = records[domain]
            assert record.status == truth.status == "ok", (truth.kind, record)
            assert truth.matches(record.logo_url), (truth.kind, record.logo_url)
            assert record.rendered is (True if truth.kind in SCRIPTED_KINDS else None), truth.kind
    assert not canary.exists() or not canary.read_text(), f"the browser reached: {canary.read_text()}"
    stats = {name: int(value) for name, value in re.findall(r"'([a-z_/]+)': (\d+)", result.stderr)}
    assert stats["logosim/browser/rendered"] == len(SCRIPTED_KINDS)  # one page a scripted site, none for the others
    assert stats["playwright/request_count/aborted"] >= len(PRIVATE_TARGETS)


@needs_chromium
def test_never_starts_no_browser(tmp_path: Path) -> None:
    with FixtureWeb(sites=2, seed=4, kinds=["spa_bundle", "header_png"]) as web:
        result = _crawl(web, tmp_path, list(web.truth), "-s", "LOGOSIM_BROWSER=never")
        assert result.returncode == 0, result.stderr[-3000:]
        records = read_manifest(tmp_path / "data" / "manifest.jsonl").records
    assert "playwright/" not in result.stderr and "scrapy-playwright" not in result.stderr
    assert not any(record.rendered for record in records.values())
    spa = next(domain for domain, truth in web.truth.items() if truth.kind == "spa_bundle")
    assert not web.truth[spa].matches(records[spa].logo_url)  # what the served page alone gives


def test_without_a_chromium_the_pass_is_off_and_says_so(tmp_path: Path) -> None:
    with FixtureWeb(sites=1, seed=4, kinds=["header_png"]) as web:
        result = _crawl(web, tmp_path, list(web.truth), "-s", "LOGOSIM_CHROMIUM=/nonexistent/chromium")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("browser pass off: no Chromium found") == 1
    assert "playwright/" not in result.stderr


@needs_chromium
def test_explain_says_the_page_was_rendered(tmp_path: Path) -> None:
    with FixtureWeb(sites=1, seed=4, kinds=["spa_bundle"]) as web:
        domain = next(iter(web.truth))
        env = {**os.environ, **web.proxy_env(), "LOGOSIM_DATA_DIR": str(tmp_path)}
        result = subprocess.run([sys.executable, "cli.py", "crawl", "--explain", domain, "--json"], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=120)
        text = subprocess.run([sys.executable, "cli.py", "crawl", "--explain", domain, "--browser", "never"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["rendered"] is True and report["candidates"][0]["url"].endswith("/assets/logo.png")
    assert text.returncode == 0 and "rendered" not in text.stdout


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc)."""
    from test_reliability import children

    found, todo = [], [pid]
    while todo:
        below = children(todo.pop())
        found += below
        todo += below
    return found


@needs_chromium
def test_a_killed_crawl_leaves_no_browser_behind(tmp_path: Path) -> None:
    """kill -9 of the crawl while pages are open: Playwright's driver, Chromium and its renderers all end."""
    import signal

    from test_reliability import alive, wait_for

    with FixtureWeb(sites=4, seed=4, kinds=["never_loads"]) as web:
        listing = web.write_domains(tmp_path / "domains.csv")
        env = {**os.environ, **web.proxy_env(), "LOGOSIM_DATA_DIR": str(tmp_path / "data")}
        proc = subprocess.Popen([sys.executable, "-m", "scrapy.cmdline", "crawl", "logos", "-a", f"domains={listing}",
                                 "-s", "LOGOSIM_BROWSER_SETTLE=30"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)

        def chromium() -> list[int]:
            found = []
            for pid in _descendants(proc.pid):
                try:
                    if b"chrom" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        found.append(pid)
                except OSError:
                    continue
            return found

        try:
            assert wait_for(lambda: len(chromium()) > 0, 60), "no browser started"
            below = _descendants(proc.pid)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    assert wait_for(lambda: not any(alive(pid) for pid in below), 15), "a browser process outlived the crawl"
