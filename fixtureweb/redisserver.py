"""A throw-away Redis server on a free loopback port (tests, bench/frontier.py): Debian's ``redis-server``, its
files in a temporary folder, no persistence, stopped by its PID; optionally with a password (AUTH) and TLS only
(a self-signed certificate for 127.0.0.1 made with openssl)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """``with RedisServer() as server: server.url(db)``; raises FileNotFoundError without redis-server."""

    def __init__(self, password: str | None = None, tls: bool = False) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise FileNotFoundError("redis-server is not installed (Debian: apt-get install redis-server)")
        if tls and shutil.which("openssl") is None:
            raise FileNotFoundError("openssl is not installed: no certificate for a TLS Redis")
        self.port = free_port()
        self.password, self.tls = password, tls
        self.process: subprocess.Popen[bytes] | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="logosim-redis-")
        self.certificate = Path(self._tmp.name) / "cert.pem"

    def url(self, db: int = 0, password: str | None = None) -> str:
        """The URL with this server's password (or ``password`` instead), and for TLS its certificate."""
        secret = self.password if password is None else password
        auth = f":{secret}@" if secret else ""
        if self.tls:
            return f"rediss://{auth}127.0.0.1:{self.port}/{db}?ssl_ca_certs={self.certificate}"
        return f"redis://{auth}127.0.0.1:{self.port}/{db}"

    def _arguments(self, folder: Path) -> list[str]:
        port = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.certificate),
                "--tls-key-file", str(folder / "key.pem"), "--tls-ca-cert-file", str(self.certificate),
                "--tls-auth-clients", "no"] if self.tls else ["--port", str(self.port)]
        auth = ["--requirepass", self.password] if self.password else []
        return [str(self.binary), *port, *auth, "--bind", "127.0.0.1", "--dir", str(folder), "--save", "",
                "--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no"]

    def _certify(self, folder: Path) -> None:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(folder / "key.pem"),
                        "-out", str(self.certificate), "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)

    def _answers(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as raw:
            sock = ssl.create_default_context(cafile=str(self.certificate)).wrap_socket(
                raw, server_hostname="127.0.0.1") if self.tls else raw
            sock.sendall(b"PING\r\n")
            answer = sock.recv(64)
            return answer.startswith((b"+PONG", b"-NOAUTH"))

    def __enter__(self) -> RedisServer:
        folder = Path(self._tmp.name)
        if self.tls:
            self._certify(folder)
        self.process = subprocess.Popen(self._arguments(folder), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self._answers():
                    return self
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._tmp.cleanup()
