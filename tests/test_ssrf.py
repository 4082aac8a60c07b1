"""The real crawl against pages that name internal addresses (every spelling, as logo, icon, JSON-LD and manifest
URL, and as a redirect target of a logo and of a homepage): nothing reaches the canary, every site ends as its
true record (the refused candidate skipped, the site's own fallback logo kept)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.datadir import DataDir
from common.manifest import read_manifest
from common.netguard import BLOCKED
from fixtureweb.ssrf import PLACES, SPELLINGS, SSRF_KINDS
from fixtureweb.web import FixtureWeb, mismatches

ROOT = Path(__file__).resolve().parents[1]
NORMAL_KINDS = ("header_png", "jsonld_org", "manifest", "redirect_www", "meta_refresh")


def _crawl(web: FixtureWeb, data: Path, *settings: str, env: dict | None = None) -> subprocess.CompletedProcess:
    domains = web.write_domains(data / "domains.csv")
    cmd = [sys.executable, "-m", "scrapy.cmdline", "crawl", "logos", "-a", f"domains={domains}",
           "-s", "LOG_LEVEL=INFO", "-s", "DOWNLOAD_TIMEOUT=10", *[a for s in settings for a in ("-s", s)]]
    env = {**os.environ, **(env if env is not None else web.proxy_env()), "LOGOSIM_DATA_DIR": str(data),
           "PYTHONPATH": str(ROOT)}
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ssrf")
    canary = tmp / "canary.log"
    kinds = [*SSRF_KINDS, *NORMAL_KINDS]
    with FixtureWeb(sites=len(kinds), seed=9, kinds=kinds, canary=canary) as web:
        result = _crawl(web, tmp)
    return web, DataDir(tmp), canary, result.stderr


def test_every_spelling_sits_in_every_place():
    kinds = [k for k in SSRF_KINDS if k[5:].isdigit()]
    assert len(kinds) == len(SPELLINGS) >= len(PLACES)  # kind n puts spelling n+i in place i: all pairs occur


def test_no_request_reaches_an_internal_address(crawled):
    _, _, canary, _ = crawled
    assert not canary.exists() or canary.read_text() == ""


def test_every_site_ends_as_its_true_record(crawled):
    web, data, _, log = crawled
    assert len(data.manifest.read_text().splitlines()) == len(web.truth)
    assert mismatches(web.truth, read_manifest(data.manifest).records) == []
    assert f"'logosim/{BLOCKED}'" in log


def test_without_the_guard_the_canary_is_reached(tmp_path):
    """The canary works: with the opt-out for intranet crawls, the same pages do reach internal addresses."""
    canary = tmp_path / "canary.log"
    kinds = ["ssrf_0", "ssrf_redirect", "ssrf_home"]
    with FixtureWeb(sites=len(kinds), seed=9, kinds=kinds, canary=canary) as web:
        _crawl(web, tmp_path, "LOGOSIM_ALLOW_PRIVATE_ADDRESSES=1")
    hits = canary.read_text()
    assert "169.254.169.254" in hits and "127.1" in hits


_SEEDED_CRAWL = """
import sys
from scrapy.resolver import dnscache
from scrapy.cmdline import execute
# What a DNS server controlled by the page's owner would answer (the name was public a moment ago).
dnscache["rebound.test"] = "127.0.0.1"
dnscache["www.rebound.test"] = "127.0.0.2"
execute(["scrapy", "crawl", "logos", "-a", "domains=" + sys.argv[1], *sys.argv[2:]])
"""


@pytest.mark.parametrize(("settings", "reason"), [((), BLOCKED), (("LOGOSIM_ALLOW_PRIVATE_ADDRESSES=1",), None)])
def test_without_a_proxy_a_name_resolving_inside_is_refused(tmp_path, settings, reason):
    domains = tmp_path / "domains.txt"
    domains.write_text("rebound.test\n")
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(LOGOSIM_DATA_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    args = [a for s in ("DOWNLOAD_TIMEOUT=5", "LOGOSIM_FALLBACK_TIMEOUT=2", *settings) for a in ("-s", s)]
    result = subprocess.run([sys.executable, "-c", _SEEDED_CRAWL, str(domains), *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    record = read_manifest(DataDir(tmp_path).manifest).records["rebound.test"]
    assert record.status == "failed"
    if reason:
        assert record.reason == reason
    else:  # allowed: it did connect (nothing listens on 127.0.0.1:443/80, or 127.0.0.2)
        assert record.reason != BLOCKED
