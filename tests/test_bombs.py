"""The real crawl against conversion bombs (fixtureweb.bombs): every bomb is stopped by its deadline, its
address-space limit or a header check; every site ends as one true record (the fallback logo where the bomb
was the header logo), and the whole crawl finishes within a bound that any one bomb without a deadline
would blow (each costs tens of seconds to hours unbounded)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from common.datadir import DataDir
from common.manifest import read_manifest
from convert.prechecks import check_raster, ico_frame_sizes
from fixtureweb.bombs import BOMB_KINDS
from fixtureweb.web import FixtureWeb, mismatches

ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 1.5
# Start-up (~5 s), three deadline bombs in one worker (3 x 1.5 s plus a worker restart each), the rest fast;
# a slow shared machine doubles it. One pattern_use or ico_use bomb alone takes > 25 s without a deadline.
CRAWL_BOUND_S = 45.0


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    data = tmp_path_factory.mktemp("bombs")
    kinds = [*BOMB_KINDS, "header_png", "header_svg"]
    with FixtureWeb(sites=len(kinds), seed=13, kinds=kinds) as web:
        domains = web.write_domains(data.parent / "bomb-domains.csv")
        cmd = [sys.executable, "-m", "scrapy.cmdline", "crawl", "logos", "-a", f"domains={domains}",
               "-s", "LOG_LEVEL=INFO", "-s", "LOGOSIM_CONVERT_PROCESSES=1",
               "-s", f"LOGOSIM_CONVERT_DEADLINE={DEADLINE_S}"]
        env = {**os.environ, **web.proxy_env(), "LOGOSIM_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
        start = time.monotonic()
        result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
        seconds = time.monotonic() - start
    assert result.returncode == 0, result.stderr[-3000:]
    return web, DataDir(data), result.stderr, seconds


def test_every_bomb_site_ends_as_its_true_record_once(crawled):
    web, data, _, _ = crawled
    assert len(data.manifest.read_text().splitlines()) == len(web.truth)
    assert mismatches(web.truth, read_manifest(data.manifest).records) == []


def test_the_crawl_finishes_within_the_bound(crawled):
    assert crawled[3] < CRAWL_BOUND_S


def test_each_bomb_is_stopped_by_its_own_guard(crawled):
    log = crawled[2]
    assert "'logosim/convert/error/convert_timeout': 3" in log  # markers, pattern_use, ico_use
    assert "'logosim/convert/error/too_many_scans': 1" in log
    assert "'logosim/convert/error/too_large': 1" in log  # the ICO's hidden PNG
    assert "'logosim/convert/error/svg_render_failed': 1" in log  # the pattern tile, out of address space


def test_ico_frames_are_measured_from_their_own_headers():
    from fixtureweb.bombs import ico_with_big_png

    data = ico_with_big_png()
    assert ico_frame_sizes(data) == [(13000, 13000)]
    with pytest.raises(Exception, match="13000x13000"):
        check_raster(data, "ico", 40_000_000)
