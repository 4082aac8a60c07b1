"""One bounded GET for `logosim similar URL`: http(s) only on every redirect hop, no hop to a non-global address
(common.netguard, the crawler's own rule), a deadline on the whole request (a server trickling bytes cannot
hold it past ``timeout``), and a size cap.

Without a proxy the host is resolved here and the connection goes to the checked address itself, so a DNS
answer cannot change between the check and the connection. With a proxy (the configuration's ``--proxy`` /
``LOGOSIM_PROXY``; the environment is never read here), IP literals and local names are refused and the proxy
resolves the rest.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from urllib.parse import urljoin, urlsplit

from common.netguard import host_verdict, is_global_ip

MAX_REDIRECTS = 5
CHUNK = 64 * 1024


class FetchError(Exception):
    """Why the URL could not be fetched, in one line."""


def fetch(url: str, *, timeout: float, max_bytes: int, headers: dict[str, str] | None = None,
          allow_private: bool = False, proxy: str | None = None) -> bytes:
    """``proxy``: a forward proxy for every hop (http:// URLs as absolute requests, https:// through CONNECT).
    ``timeout`` bounds the whole exchange, every hop's connect, headers and body together."""
    deadline = time.monotonic() + timeout
    with _Watchdog(deadline) as watchdog:
        for _ in range(MAX_REDIRECTS + 1):
            conn, target = _connect(url, deadline, allow_private, proxy)
            watchdog.conn = conn
            try:
                conn.request("GET", target, headers={"Connection": "close", **(headers or {})})
                response = conn.getresponse()
                location = response.getheader("Location")
                if response.status in (301, 302, 303, 307, 308) and location:
                    url = urljoin(url, location)
                    continue
                if response.status != 200:
                    raise FetchError(f"HTTP {response.status}")
                body = _read(conn, response, deadline, max_bytes)
                if watchdog.fired:  # the shut socket read as the end of the body
                    raise FetchError("no complete answer within the deadline")
                return body
            except (OSError, http.client.HTTPException) as exc:
                if watchdog.fired:
                    raise FetchError("no complete answer within the deadline") from None
                raise FetchError(str(exc) or type(exc).__name__) from None
            finally:
                conn.close()
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")


class _Watchdog:
    """Shuts the connection's socket down when the deadline passes. A socket timeout bounds each read, not the
    exchange: a server dripping its headers a byte every 2 s answers every read in time, and http.client reads
    headers with no hook between reads; the shut socket ends the blocked read at once."""

    def __init__(self, deadline: float) -> None:
        self.conn: http.client.HTTPConnection | None = None
        self.fired = False
        self.timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self.timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.cancel()

    def _fire(self) -> None:
        self.fired = True
        sock = getattr(self.conn, "kept", None) or getattr(self.conn, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed


def _connect(url: str, deadline: float, allow_private: bool, proxy: str | None) -> tuple[_KeptHTTP | _KeptHTTPS, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"not an http(s) URL: {url[:200]}")
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    if not allow_private and host_verdict(host, proxied=proxy is not None):
        raise FetchError(f"{host} is not a public address")
    remaining = _remaining(deadline)
    path = parts.path or "/"
    path += f"?{parts.query}" if parts.query else ""
    if proxy is not None:
        proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        proxy_host, proxy_port = proxy_parts.hostname or "", proxy_parts.port or 80
        if parts.scheme == "http":
            return _KeptHTTP(proxy_host, proxy_port, timeout=remaining), url
        conn = _KeptHTTPS(proxy_host, proxy_port, timeout=remaining, context=_tls())
        conn.set_tunnel(host, port)
        return conn, path
    address = host if allow_private else _public_address(host, port)
    if parts.scheme == "http":
        conn = _PinnedHTTP(host, port, timeout=remaining)
    else:
        conn = _PinnedHTTPS(host, port, timeout=remaining, context=_tls())
    conn.address = address
    return conn, path


def _public_address(host: str, port: int) -> str:
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve {host} ({exc.strerror})") from None
    addresses = [str(info[4][0]) for info in answers]
    if not addresses or not all(is_global_ip(address) for address in addresses):
        raise FetchError(f"{host} resolves to a non-public address")
    return addresses[0]


class _KeptHTTP(http.client.HTTPConnection):
    """Keeps its socket after http.client hands it to the response, so each read gets the time left."""

    kept: socket.socket | None = None

    def connect(self) -> None:
        super().connect()
        self.kept = self.sock


class _KeptHTTPS(http.client.HTTPSConnection):
    kept: socket.socket | None = None

    def connect(self) -> None:
        super().connect()
        self.kept = self.sock


class _PinnedHTTP(_KeptHTTP):
    """Connects to the address checked before, not to whatever the name resolves to now."""

    address: str

    def connect(self) -> None:
        self.sock = self.kept = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(_KeptHTTPS):
    address: str

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.kept = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


def _read(conn: _KeptHTTP | _KeptHTTPS, response: http.client.HTTPResponse, deadline: float,
          max_bytes: int) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"larger than {max_bytes // 2**20} MiB")
    chunks, size = [], 0
    while True:
        if conn.kept is not None:
            conn.kept.settimeout(_remaining(deadline))
        try:
            chunk = response.read1(CHUNK)
        except TimeoutError:
            raise FetchError("no complete answer within the deadline") from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"larger than {max_bytes // 2**20} MiB")
        chunks.append(chunk)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError("no complete answer within the deadline")
    return left
