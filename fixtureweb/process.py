"""A fixture server in its own process: started with ``python -m MODULE serve ... --port 0``, which prints
``PORT <n>`` first; stopped by terminate, then kill. Crawlers reach it as a forward proxy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = str(Path(__file__).resolve().parents[1])  # `python -m` puts its working folder first on sys.path


def start_server(module: str, args: list[str], what: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-m", module, "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        stop_server(proc)
        raise RuntimeError(f"{what} did not start (said {line!r})")
    return proc, int(line.split()[1])


def stop_server(proc: subprocess.Popen[str] | None) -> None:
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def proxy_env(port: int) -> dict[str, str]:
    """The environment that sends a crawler (Scrapy's HttpProxyMiddleware, urllib) through the server."""
    proxy = f"http://127.0.0.1:{port}"
    return {"http_proxy": proxy, "https_proxy": proxy, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy,
            "no_proxy": "", "NO_PROXY": ""}


def serve_until_stopped(server: Any) -> None:
    """The child's side: announce the port (the parent reads it first), serve until terminated."""
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
