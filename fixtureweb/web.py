"""A fake web on 127.0.0.1: a forward HTTP proxy (with TLS CONNECT) that serves generated sites by domain name.

``python -m fixtureweb.web serve --sites N --seed S --port 0`` prints ``PORT <n>`` first, then serves until
killed. Crawlers reach it through ``http_proxy``/``https_proxy``, so the spider's real code path (Scrapy's
HttpProxyMiddleware, CONNECT tunnels, TLS) is exercised. TLS is terminated inside the proxy thread with a
self-signed certificate made at start (Scrapy does not verify certificates), which costs one thread per
tunnel instead of two. Unknown hosts answer like a proxy whose DNS lookup failed (Squid's ``X-Squid-Error``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from fixtureweb.hostile import STREAMED_LOGO_BYTES, local_png
from fixtureweb.process import proxy_env, serve_until_stopped, start_server, stop_server
from fixtureweb.scripted import CHALLENGE_COOKIE
from fixtureweb.sites import (
    ALL_KINDS,
    GIANT_PAGE_DECLARED,
    HUGE_LOGO_BYTES,
    Route,
    Site,
    Truth,
    cdn_routes,
    demo_sites,
    plan_sites,
    shared_routes,
    site_routes,
    truth_of,
)
from fixtureweb.ssrf import is_canary_host

SOCKET_TIMEOUT = 20.0  # an idle keep-alive connection frees its thread after this
TRICKLE_SECONDS = 30.0  # the slow site gives up after this, so no thread is held forever
TRICKLE_INTERVAL = 0.5


class Web:
    """Host name -> routes, built lazily; ``truth`` per planned domain."""

    def __init__(self, sites: list[Site]) -> None:
        self.sites = {site.domain: site for site in sites}
        self._routes: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._hits: dict[tuple[str, str], int] = {}
        self._cdn = {f"cdn.{site.brand.slug}.test": site.brand for site in sites}

    def truth(self) -> dict[str, Truth]:
        return {domain: truth_of(site) for domain, site in self.sites.items()}

    def site_for(self, host: str) -> Site | None:
        host = host.lower().rstrip(".")
        site = self.sites.get(host[4:] if host.startswith("www.") else host)
        return None if site is None or site.kind == "dead" else site

    def knows(self, host: str) -> bool:
        return self.site_for(host) is not None or host in self._cdn or host in ("partners.test", "consent.test")

    def serves_tls(self, host: str) -> bool:
        site = self.site_for(host)
        return site.https if site else self.knows(host)

    def refuses(self, host: str) -> bool:
        site = self.site_for(host)
        return site is not None and site.kind == "refused"

    def routes(self, host: str) -> dict:
        with self._lock:
            if host not in self._routes:
                site = self.site_for(host)
                if site is not None:
                    self._routes[host] = site_routes(site)
                elif host in self._cdn:
                    self._routes[host] = cdn_routes(self._cdn[host])
                else:
                    self._routes[host] = shared_routes(host)
            return self._routes[host]

    def resolve(self, host: str, path: str, scheme: str) -> Route:
        site = self.site_for(host)
        if site is not None and (redirect := self._redirect(site, host, path, scheme)):
            return redirect
        route = self.routes(host).get(path)
        if route is None:
            return Route(404, "text/html", b"<html><body><h1>404 Not Found</h1></body></html>")
        route = route() if callable(route) else route
        if route.mode.startswith("flaky"):
            return self._flaky(host, path, route)
        return route

    def _redirect(self, site: Site, host: str, path: str, scheme: str) -> Route | None:
        if site.kind == "redirect_www" and not host.startswith("www.") and path == "/":
            return Route(301, "text/html", b"", {"Location": f"{scheme}://www.{site.domain}/"})
        return None

    def _flaky(self, host: str, path: str, route: Route) -> Route:
        """The first request fails (500, or 429 with Retry-After), every later one succeeds."""
        site = self.site_for(host)
        key = (site.domain if site else host, path)
        with self._lock:
            self._hits[key] = self._hits.get(key, 0) + 1
            first = self._hits[key] == 1
        if not first:
            return Route(200, route.ctype, route.body, route.headers)
        if route.mode == "flaky429":
            return Route(429, "text/html", b"Too Many Requests", {"Retry-After": "1"})
        return Route(500, "text/html", b"Internal Server Error")


class ProxyHandler(BaseHTTPRequestHandler):
    """Absolute-URI GETs for http, CONNECT + TLS for https, origin-form GETs inside a tunnel."""

    protocol_version = "HTTP/1.1"
    server: FixtureServer
    tunnel_host: str | None = None  # set inside a TLS tunnel: origin-form requests go to this host
    timeout = SOCKET_TIMEOUT

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet: the crawler logs
        pass

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if self.tunnel_host:
            host, path, scheme = self.tunnel_host, self.path, "https"
        else:
            parts = urlsplit(self.path)
            host, scheme = (parts.hostname or self.headers.get("Host", "")).lower(), parts.scheme or "http"
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
        web = self.server.web
        if is_canary_host(host):
            return self._send(self.server.canary_hit(f"GET {scheme}://{host}{path}"))
        if not web.knows(host):
            return self._proxy_error(502, "DNS lookup failed", "ERR_DNS_FAIL 0")
        if web.refuses(host):
            return self._proxy_error(503, "Connection refused", "ERR_CONNECT_FAIL 111")
        route = web.resolve(host, path, scheme)
        if route.gate is not None and CHALLENGE_COOKIE not in self.headers.get("Cookie", ""):
            route = route.gate  # fixtureweb.scripted's challenge: every path until the cookie is sent
        self._send(route)

    def do_CONNECT(self) -> None:
        host, _, port = self.path.rpartition(":") if self.path.count(":") != 1 else self.path.partition(":")
        web = self.server.web
        if is_canary_host(host):
            self.server.canary_hit(f"CONNECT {self.path}")
            return self._proxy_error(503, "Connection refused", "ERR_CONNECT_FAIL 111")
        if not web.knows(host):
            return self._proxy_error(502, "DNS lookup failed", "ERR_DNS_FAIL 0")
        if web.refuses(host) or not web.serves_tls(host) or port not in ("443", ""):
            return self._proxy_error(503, "Connection refused", "ERR_CONNECT_FAIL 111")
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        try:
            tls = self.server.tls.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            return
        tunnel = type("TunnelHandler", (ProxyHandler,), {"tunnel_host": host.lower()})
        try:
            tunnel(tls, self.client_address, self.server)
        except (OSError, ssl.SSLError):
            pass

    def _proxy_error(self, status: int, reason: str, squid: str) -> None:
        body = f"<html><body>proxy: {reason}</body></html>".encode()
        self.send_response(status, reason)
        self.send_header("X-Squid-Error", squid)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "CONNECT":
            self.wfile.write(body)
        else:
            self.close_connection = True

    def _send(self, route: Route) -> None:
        try:
            if route.mode == "trickle":
                return self._trickle(route)
            if route.mode in ("giant", "huge"):
                return self._oversized(route)
            if route.mode == "stream":
                return self._stream(route)
            self.send_response(route.status)
            for name, value in {"Content-Type": route.ctype, **route.headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(route.body)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    def _trickle(self, route: Route) -> None:
        """A slow server: one byte every half second, bounded so it never holds its thread forever."""
        self.send_response(200)
        self.send_header("Content-Type", route.ctype)
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        deadline = time.monotonic() + TRICKLE_SECONDS
        for index in range(len(route.body)):
            if time.monotonic() > deadline:
                break
            self.wfile.write(route.body[index:index + 1])
            self.wfile.flush()
            time.sleep(TRICKLE_INTERVAL)
        self.close_connection = True

    def _oversized(self, route: Route) -> None:
        """Declares (and starts streaming) a body far larger than any crawler should accept."""
        size = GIANT_PAGE_DECLARED if route.mode == "giant" else HUGE_LOGO_BYTES
        self.send_response(200)
        self.send_header("Content-Type", route.ctype)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        chunk = (route.body or b"\x89PNG\r\n\x1a\n").ljust(65536, b" ")
        for _ in range(size // len(chunk)):
            self.wfile.write(chunk)
        self.close_connection = True

    def _stream(self, route: Route) -> None:
        """A body with no Content-Length, generated 64 KiB at a time until STREAMED_LOGO_BYTES or the client
        hangs up: only a limit on bytes received can stop it, and the server never holds more than a chunk."""
        self.send_response(200)
        self.send_header("Content-Type", route.ctype)
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = route.body.ljust(65536, b"\0")
        for _ in range(STREAMED_LOGO_BYTES // len(chunk)):
            self.wfile.write(chunk)
        self.close_connection = True


class FixtureServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, port: int, web: Web, canary: Path | None = None) -> None:
        super().__init__(("127.0.0.1", port), ProxyHandler)
        self.web = web
        self.tls = _tls_context()
        self.canary = canary

    def canary_hit(self, line: str) -> Route:
        """A request for an internal address reached the proxy: log it (the tests fail on any line) and
        answer with a red logo, so that a crawler without a guard would also record a wrong logo."""
        from fixtureweb.ssrf import canary_png

        if self.canary is not None:
            with self.canary.open("a", encoding="utf-8") as log:
                log.write(line + "\n")
        return Route(200, "image/png", canary_png())


def _tls_context() -> ssl.SSLContext:
    """A throwaway self-signed certificate for every fixture host (crawlers do not verify it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "logosim fixture web")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("*.test"), x509.DNSName("*.example")]), False)
            .sign(key, hashes.SHA256()))
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
    return context


def build_sites(sites: int = 40, seed: int = 0, kinds: list[str] | None = None, demo: bool = False) -> list[Site]:
    return demo_sites() if demo else plan_sites(sites, seed, kinds)


def serve(sites: list[Site], port: int = 0, truth_path: Path | None = None, canary: Path | None = None) -> None:
    web = Web(sites)
    server = FixtureServer(port, web, canary)
    local_png()  # the local file hostile SVGs point at; removed at exit, which SIGTERM (Popen.terminate) reaches
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if truth_path:
        truth_path.write_text(json.dumps({d: t.to_dict() for d, t in web.truth().items()}), encoding="utf-8")
    serve_until_stopped(server)


class FixtureWeb:
    """The fixture web as a subprocess: ``with FixtureWeb(sites=40, seed=1) as web: web.port, web.truth``."""

    def __init__(self, sites: int = 40, seed: int = 0, kinds: list[str] | None = None, demo: bool = False,
                 canary: Path | None = None) -> None:
        self.args = ["--sites", str(sites), "--seed", str(seed)] + (["--kinds", ",".join(kinds)] if kinds else [])
        self.args += ["--demo"] if demo else []
        self.args += ["--canary", str(canary)] if canary else []
        self.sites = build_sites(sites, seed, kinds, demo)
        self.truth: dict[str, Truth] = {site.domain: truth_of(site) for site in self.sites}
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> FixtureWeb:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._proc, self.port = start_server("fixtureweb.web", list(self.args), "fixture web")

    def stop(self) -> None:
        stop_server(self._proc)
        self._proc = None

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """CPU time the server has used so far (Linux /proc): benchmarks report it beside the crawler's, as
        both share the machine's cores."""
        assert self._proc is not None
        fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def proxy_env(self) -> dict[str, str]:
        return proxy_env(self.port)

    def write_domains(self, path: Path, domains: list[str] | None = None) -> Path:
        path.write_text("domain\n" + "".join(f"{d}\n" for d in (domains or list(self.truth))), encoding="utf-8")
        return path


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fixtureweb.web", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("serve", help="serve the fixture web as a proxy on 127.0.0.1")
    cmd.add_argument("--sites", type=int, default=40)
    cmd.add_argument("--seed", type=int, default=0)
    cmd.add_argument("--kinds", default="", help=f"comma-separated site kinds to cycle through: {', '.join(ALL_KINDS)}")
    cmd.add_argument("--demo", action="store_true", help="a few dozen sites in brand families")
    cmd.add_argument("--port", type=int, default=0)
    cmd.add_argument("--truth", type=Path, help="write the expected outcome per domain (JSON) here")
    cmd.add_argument("--domains", type=Path, help="write the domain list (one per line) here")
    cmd.add_argument("--canary", type=Path, help="append a line here for every request to an internal address")
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k] or None
    unknown = set(kinds or ()) - set(ALL_KINDS)
    if unknown:
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    sites = build_sites(args.sites, args.seed, kinds, args.demo)
    if args.domains:
        args.domains.write_text("".join(f"{s.domain}\n" for s in sites), encoding="utf-8")
    serve(sites, args.port, args.truth, args.canary)


def mismatches(truth: dict[str, Truth], records: dict) -> list[str]:
    """One line per domain whose manifest record differs from the ground truth (status, reason, source, URL)."""
    problems = []
    for domain, expected in truth.items():
        record = records.get(domain)
        if record is None:
            problems.append(f"{domain} [{expected.kind}]: no record")
            continue
        got = (record.status, record.reason, record.source)
        want = (expected.status, expected.reason, expected.source)
        if got != want or (expected.status == "ok" and not expected.matches(record.logo_url)):
            problems.append(f"{domain} [{expected.kind}]: got {got} {record.logo_url!r}, want {want} {expected.accept}")
    return problems


if __name__ == "__main__":
    main()
