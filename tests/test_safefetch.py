"""`similar URL`'s fetch: the address guard on every hop, http(s) only, a deadline on the whole request, a size
cap; `similar FILE`: regular files of bounded size only. Real servers on 127.0.0.1, one of them a forward
proxy (so public-looking names can be served from loopback)."""

from __future__ import annotations

import contextlib
import http.server
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.errors import LogosimError
from search.similar import _read_file, fetch_image

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100


class Proxy(list):
    """The requests a loopback forward proxy received (a list), and its URL."""

    url = ""


@pytest.fixture()
def proxy(monkeypatch) -> Iterator[Proxy]:
    """A forward proxy on loopback serving a few routes by absolute URL; yields the requests it received."""
    seen = Proxy()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.path)
            if self.path == "http://logo.test/logo.png":
                return self._answer(200, PNG)
            if self.path.startswith("http://redirect.test/"):
                target = {"/loopback": "http://127.1/secret.png", "/metadata": "http://169.254.169.254/latest/",
                          "/file": "file:///etc/passwd", "/fine": "http://logo.test/logo.png"}[self.path[20:]]
                return self._answer(302, b"", {"Location": target})
            if self.path == "http://slow.test/logo.png":
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                for _ in range(1000):  # one byte every 0.2 s: each read is quick, the whole is 200 s
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.2)
                return None
            if self.path == "http://endless.test/logo.png":
                self.send_response(200)
                self.end_headers()
                with contextlib.suppress(ConnectionError):  # the client hangs up at its cap: the point
                    for _ in range(1000):
                        self.wfile.write(b"\0" * 65536)
                return None
            return self._answer(404, b"")

        def _answer(self, status: int, body: bytes, headers: dict | None = None) -> None:
            self.send_response(status)
            for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    seen.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_public_name_through_the_proxy_is_fetched(proxy):
    assert fetch_image("http://logo.test/logo.png", proxy=proxy.url) == PNG
    assert fetch_image("http://redirect.test/fine", proxy=proxy.url) == PNG


def test_the_environments_proxy_variables_are_never_read(proxy, monkeypatch):
    """Only the configuration names a proxy (--proxy / LOGOSIM_PROXY): http_proxy in the environment is not it."""
    import socket

    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, proxy.url)
    asked: list[str] = []

    def no_dns(host, *args, **kwargs):  # no query leaves this machine
        asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(LogosimError, match="cannot resolve"):
        fetch_image("http://logo.test/logo.png", timeout=2.0)
    assert proxy == [] and asked == ["logo.test"]  # resolved here, not handed to the environment's proxy


@pytest.mark.parametrize("hop", ["loopback", "metadata", "file"])
def test_no_redirect_hop_leaves_the_public_web(proxy, hop):
    with pytest.raises(LogosimError, match="not a public address|not an http"):
        fetch_image(f"http://redirect.test/{hop}", proxy=proxy.url)
    assert proxy == [f"http://redirect.test/{hop}"]  # the hop itself was never requested


@pytest.mark.parametrize("url", ["http://127.0.0.1/x.png", "http://2130706433/x.png", "http://[::1]/x.png",
                                 "http://localhost/x.png", "ftp://logo.test/x.png"])
def test_internal_urls_are_refused_before_any_request(proxy, url):
    with pytest.raises(LogosimError):
        fetch_image(url, proxy=proxy.url)
    assert proxy == []


def test_without_a_proxy_a_name_resolving_inside_is_refused(monkeypatch):
    import socket

    real = socket.getaddrinfo
    connected: list[object] = []

    def answer(host, port, *args, **kwargs):  # what a DNS server controlled by the page's owner answers
        if host == "rebound.test":
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", answer)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connected.append(a) or real_fail())
    with pytest.raises(LogosimError, match="non-public address"):
        fetch_image("http://rebound.test:9/x.png")
    assert connected == []


def real_fail() -> None:
    raise OSError("no connection in this test")


def test_a_trickling_server_is_cut_at_the_deadline(proxy):
    start = time.monotonic()
    with pytest.raises(LogosimError, match="deadline"):
        fetch_image("http://slow.test/logo.png", timeout=1.0, proxy=proxy.url)
    assert time.monotonic() - start < 3.0


def test_an_endless_body_is_cut_at_the_size_cap(proxy):
    with pytest.raises(LogosimError, match="larger than"):
        fetch_image("http://endless.test/logo.png", max_bytes=2**20, proxy=proxy.url)


def test_only_regular_files_of_bounded_size_are_read(tmp_path: Path):
    with pytest.raises(LogosimError, match="not a regular file"):
        _read_file(Path("/dev/zero"))
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(LogosimError, match="not a regular file"):
        _read_file(fifo)  # and it does not block waiting for a writer
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * 2048)
    with pytest.raises(LogosimError, match="larger than"):
        _read_file(big, max_bytes=1024)
    assert _read_file(big, max_bytes=4096) == b"\0" * 2048
