"""The real crawl against hostile logos (local file references, entity and pixel bombs, huge SVG sizes, an
endless body): every site ends as one correct record, no local file is read, and the crawler's memory stays
bounded."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.datadir import DataDir
from common.manifest import read_manifest
from convert import to_png
from fixtureweb.hostile import LOCAL_FILE_RGB
from fixtureweb.images import mark_svg
from fixtureweb.sites import HOSTILE_KINDS
from fixtureweb.web import FixtureWeb, mismatches

ROOT = Path(__file__).resolve().parents[1]
NORMAL_KINDS = ("header_png", "header_svg", "apple_touch")
PEAK_RSS_LIMIT_KIB = 1024 * 1024  # ru_maxrss is in KiB on Linux
# Conversion in the crawler process itself (no worker): a bomb that got decoded would show in its peak RSS.
SETTINGS = ["-s", "LOG_LEVEL=INFO", "-s", "LOGOSIM_CONVERT_PROCESSES=0", "-s", "DOWNLOAD_TIMEOUT=10"]
# Runs the crawler as its only child and reports that child's peak RSS, so other tests' children do not count.
_MEASURED = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
             "print('PEAK_RSS_KIB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
             "sys.exit(rc)")


@pytest.fixture(scope="module")
def web():
    kinds = [*HOSTILE_KINDS, *NORMAL_KINDS]
    with FixtureWeb(sites=2 * len(kinds), seed=5, kinds=kinds) as fixture:
        yield fixture


@pytest.fixture(scope="module")
def crawled(web, tmp_path_factory):
    data = tmp_path_factory.mktemp("hostile")
    domains = web.write_domains(data.parent / "hostile-domains.csv")
    crawl = [sys.executable, "-m", "scrapy.cmdline", "crawl", "logos", "-a", f"domains={domains}", *SETTINGS]
    env = {**os.environ, **web.proxy_env(), "LOGOSIM_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", _MEASURED, *crawl], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return DataDir(data), result.stderr


def _domains(web: FixtureWeb, kind: str) -> list[str]:
    found = sorted(domain for domain, truth in web.truth.items() if truth.kind == kind)
    assert len(found) == 2, kind
    return found


def test_every_site_ends_as_its_true_record(web, crawled):
    data, _ = crawled
    lines = data.manifest.read_text().splitlines()
    assert len(lines) == len(web.truth)
    assert mismatches(web.truth, read_manifest(data.manifest).records) == []


def test_svg_never_draws_the_local_file_it_points_at(web, crawled):
    data, _ = crawled
    records = read_manifest(data.manifest).records
    marks = {site.domain: site.brand.mark for site in web.sites}
    for domain in _domains(web, "svg_file_ref"):
        with Image.open(data.root / records[domain].logo_path) as image:
            pixels = np.asarray(image.convert("RGBA")).astype(int)
        near = np.abs(pixels[..., :3] - LOCAL_FILE_RGB).max(axis=-1) <= 16
        assert not (near & (pixels[..., 3] > 0)).any(), domain
        # Exactly the brand mark: the references were dropped and nothing else changed.
        assert records[domain].sha256 == to_png(mark_svg(marks[domain], size=200)).sha256


def test_bombs_are_refused_before_they_expand(web, crawled):
    _, log = crawled
    assert "'logosim/convert/error/svg_entities': 2" in log
    assert "'logosim/convert/error/too_large': 2" in log  # the two PNG bombs, from their header


def test_huge_declared_svg_renders_at_the_usual_size(web, crawled):
    records = read_manifest(crawled[0].manifest).records
    for domain in _domains(web, "svg_huge_dims"):
        assert (records[domain].width, records[domain].height) == (512, 512)


def test_endless_logo_is_cut_at_download_maxsize(web, crawled):
    _, log = crawled
    cut = re.findall(r"Received \d+ bytes which is larger than download max size \(10485760\) in request "
                     r"<GET https?://([^/]+)/assets/logo\.png>", log)
    assert sorted(cut) == _domains(web, "huge_logo_50mb")


def test_crawler_peak_memory_stays_bounded(crawled):
    _, log = crawled
    peak = int(re.search(r"PEAK_RSS_KIB (\d+)", log).group(1))
    assert 0 < peak < PEAK_RSS_LIMIT_KIB, f"{peak / 1024:.0f} MiB"
