"""Real saved pages served offline at their own URLs, through the fixture web's proxy (tests and benchmarks only).

``python -m fixtureweb.real serve --pages ../shared/data/real-pages --round 0 --port 0`` prints ``PORT <n>``
and serves: each page at its URL (and its site's ``/`` redirecting there, so the spider's homepage request
lands on it), and a generated picture for every other URL on any host, in the format its extension names
(PNG where it names none: resizers, ``.cms``), so whichever candidate the spider picks really converts.
Two pages of one site (x.com, segment.com) cannot both be its homepage: ``rounds`` splits them.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image, ImageDraw

from fixtureweb.process import proxy_env, serve_until_stopped, start_server, stop_server
from fixtureweb.routes import Route

IMAGE_FORMATS = {".png": ("PNG", "image/png"), ".jpg": ("JPEG", "image/jpeg"), ".jpeg": ("JPEG", "image/jpeg"),
                 ".gif": ("GIF", "image/gif"), ".webp": ("WEBP", "image/webp"), ".ico": ("ICO", "image/x-icon")}
NOT_IMAGES = {".css": "text/css", ".js": "application/javascript", ".json": "application/json",
              ".webmanifest": "application/manifest+json", ".woff": "font/woff", ".woff2": "font/woff2"}


@dataclass(frozen=True)
class RealPage:
    name: str
    url: str
    path: Path

    @property
    def domain(self) -> str:
        return home_host(urlsplit(self.url).hostname or "")


def home_host(host: str) -> str:
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def load_pages(folder: Path) -> list[RealPage]:
    """index.csv (name,url) and pages/<name>.html."""
    with (folder / "index.csv").open(encoding="utf-8") as handle:
        return [RealPage(row["name"], row["url"], folder / "pages" / f"{row['name']}.html")
                for row in csv.DictReader(handle)]


def rounds(pages: list[RealPage]) -> list[list[RealPage]]:
    """Pages split so that no round holds two pages of one domain (each is that domain's homepage)."""
    out: list[list[RealPage]] = []
    for page in pages:
        target = next((r for r in out if all(p.domain != page.domain for p in r)), None)
        if target is None:
            out.append(target := [])
        target.append(page)
    return out


def picture(url: str, suffix: str) -> tuple[bytes, str]:
    """A two-colour picture that is different for every URL, in the format of the suffix."""
    digest = hashlib.sha256(url.encode()).digest()
    back, fore = tuple(digest[:3]), tuple(255 - b for b in digest[:3])
    if suffix == ".svg":
        svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="160" height="48" viewBox="0 0 160 48">'
               f'<rect width="160" height="48" fill="#{bytes(back).hex()}"/>'
               f'<circle cx="{24 + digest[3] % 100}" cy="24" r="18" fill="#{bytes(fore).hex()}"/></svg>')
        return svg.encode(), "image/svg+xml"
    fmt, ctype = IMAGE_FORMATS.get(suffix, IMAGE_FORMATS[".png"])
    width = 48 if fmt == "ICO" else 160  # an icon is square
    image = Image.new("RGB", (width, 48), back)
    left = 6 + digest[3] % (width - 44)
    ImageDraw.Draw(image).ellipse((left, 6, left + 36, 42), fill=fore)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"sizes": [(48, 48)]} if fmt == "ICO" else {}))
    return buffer.getvalue(), ctype


class RealWeb:
    """What fixtureweb.web.FixtureServer asks of a web: every host exists and speaks TLS."""

    def __init__(self, pages: list[RealPage]) -> None:
        self.pages = {(home_host(urlsplit(p.url).hostname or ""), _path(p.url)): p for p in pages}
        self.homes = {p.domain: p for p in pages}

    def knows(self, host: str) -> bool:
        return True

    def serves_tls(self, host: str) -> bool:
        return True

    def refuses(self, host: str) -> bool:
        return False

    def resolve(self, host: str, path: str, scheme: str) -> Route:
        page = self.pages.get((home_host(host), path))
        if page is not None:
            return Route(200, "text/html", page.path.read_bytes())
        home = self.homes.get(home_host(host))
        if home is not None and path == "/":
            return Route(301, "text/html", b"", {"Location": home.url})
        suffix = os.path.splitext(urlsplit(path).path.lower())[1]
        if suffix in NOT_IMAGES:
            return Route(404, "text/html", b"<html><body>404</body></html>")
        body, ctype = picture(f"{scheme}://{host}{path}", suffix)
        return Route(200, ctype, body)


def _path(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class RealWebProcess:
    """``with RealWebProcess(folder, round_index) as web: web.port, web.pages`` (a subprocess, like FixtureWeb)."""

    def __init__(self, folder: Path, round_index: int) -> None:
        self.folder, self.round_index = folder, round_index
        self.pages = rounds(load_pages(folder))[round_index]
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> RealWebProcess:
        self._proc, self.port = start_server(
            "fixtureweb.real", ["--pages", str(self.folder), "--round", str(self.round_index)], "real-page web")
        return self

    def __exit__(self, *exc: object) -> None:
        stop_server(self._proc)
        self._proc = None

    def proxy_env(self) -> dict[str, str]:
        return proxy_env(self.port)


def main(argv: list[str] | None = None) -> None:
    from fixtureweb.web import FixtureServer

    parser = argparse.ArgumentParser(prog="python -m fixtureweb.real", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("serve", help="serve one round of real pages as a proxy on 127.0.0.1")
    cmd.add_argument("--pages", type=Path, required=True, help="folder with index.csv and pages/")
    cmd.add_argument("--round", type=int, default=0)
    cmd.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = FixtureServer(args.port, RealWeb(rounds(load_pages(args.pages))[args.round]))  # type: ignore[arg-type]
    serve_until_stopped(server)


if __name__ == "__main__":
    main()
