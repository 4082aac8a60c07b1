"""`logosim crawl --explain DOMAIN` through the real spider on the fixture web: the scored list, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtureweb.web import FixtureWeb

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def web():
    with FixtureWeb(sites=3, seed=5, kinds=["jsonld_org", "header_png", "dead"]) as fixture:
        yield fixture


def explain(web: FixtureWeb, domain: str, data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **web.proxy_env(), "LOGOSIM_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "cli.py", "crawl", "--explain", domain, *extra], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def _domain(web: FixtureWeb, kind: str) -> str:
    return next(domain for domain, truth in web.truth.items() if truth.kind == kind)


def test_explain_lists_the_scored_candidates_best_first(web: FixtureWeb, tmp_path: Path) -> None:
    domain = _domain(web, "header_png")
    result = explain(web, domain, tmp_path, "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    rows = report["candidates"]
    assert report["domain"] == domain and report["page_url"] in (f"https://{domain}/", f"http://{domain}/")
    assert web.truth[domain].matches(rows[0]["url"]) and rows[0]["source"] == "img"
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    assert rows == sorted(rows, key=lambda r: -r["score"])
    assert "header_logo" in rows[0]["detail"]
    assert not (tmp_path / "manifest.jsonl").exists() and not (tmp_path / "logos").exists()


def test_explain_prints_a_table_and_says_why_a_site_has_none(web: FixtureWeb, tmp_path: Path) -> None:
    shown = explain(web, _domain(web, "jsonld_org"), tmp_path)
    assert shown.returncode == 0, shown.stderr[-2000:]
    first = shown.stdout.splitlines()[1]
    assert first.split()[0] == "1." and "jsonld" in first and "brand-logo.png" in first
    dead = explain(web, _domain(web, "dead"), tmp_path, "--json")
    assert dead.returncode == 0 and json.loads(dead.stdout)["failure"] == "dns_error"


def test_explain_refuses_a_non_domain(web: FixtureWeb, tmp_path: Path) -> None:
    result = explain(web, "not a domain", tmp_path)
    assert result.returncode == 1 and "not a domain" in result.stderr
