"""crawler.homepage_cap: a homepage declaring any length is read up to its cap, yet a compressed one still cannot
inflate past DOWNLOAD_MAXSIZE (the real spider, through the fixture proxy served from a thread here)."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers_images import logo, png

from common.manifest import read_manifest
from fixtureweb.sites import Route
from fixtureweb.web import FixtureServer

ROOT = Path(__file__).resolve().parents[1]
PAGE = (b'<!DOCTYPE html><html><head><title>Bomb</title></head><body><header><a href="/" class="brand">'
        b'<img src="/logo.png" alt="Bomb logo"></a></header><main><!-- ' + b"z" * (3 * 1024 * 1024) + b" --></main>")


class GzipWeb:
    """bomb.test answers its homepage gzip-compressed (3 MB of HTML in a few kB) and its logo."""

    def knows(self, host: str) -> bool:
        return host.endswith("bomb.test")

    def serves_tls(self, host: str) -> bool:
        return True

    def refuses(self, host: str) -> bool:
        return False

    def resolve(self, host: str, path: str, scheme: str) -> Route:
        if path == "/":
            return Route(200, "text/html", gzip.compress(PAGE), {"Content-Encoding": "gzip"})
        if path == "/logo.png":
            return Route(200, "image/png", png(logo((120, 40))))
        return Route(404, "text/html", b"")


@pytest.fixture(scope="module")
def proxy():
    server = FixtureServer(0, GzipWeb())  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def crawl(proxy: str, tmp_path: Path, maxsize: int) -> dict:
    domains = tmp_path / "domains.txt"
    domains.write_text("bomb.test\n", encoding="utf-8")
    env = {**os.environ, "http_proxy": proxy, "https_proxy": proxy, "no_proxy": "", "NO_PROXY": "",
           "LOGOSIM_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "scrapy.cmdline", "crawl", "logos", "-a", f"domains={domains}",
           "-s", f"DOWNLOAD_MAXSIZE={maxsize}", "-s", "LOG_LEVEL=WARNING"]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return read_manifest(tmp_path / "data" / "manifest.jsonl").records


def test_a_compressed_homepage_still_cannot_inflate_past_download_maxsize(proxy: str, tmp_path: Path) -> None:
    record = crawl(proxy, tmp_path, maxsize=1024 * 1024)["bomb.test"]
    assert (record.status, record.reason) == ("failed", "homepage_too_large")


def test_the_same_page_within_the_limit_is_read(proxy: str, tmp_path: Path) -> None:
    record = crawl(proxy, tmp_path, maxsize=10 * 1024 * 1024)["bomb.test"]
    assert (record.status, record.logo_url) == ("ok", "https://bomb.test/logo.png")
