"""The fixture web's hostile sites: logos built to attack the crawler (local files, entity and pixel bombs, endless
bodies), each with what the site shows instead and the outcome a safe crawler records.

Kinds (``fixtureweb.sites.HOSTILE_KINDS``):
    svg_file_ref     header SVG with <image> pointing at a real local PNG (file://) and at http://127.0.0.1:1/:
                     the converter drops external references and the rest of the mark draws (ok, img)
    svg_entity_bomb  header SVG is a billion-laughs document (refused unexpanded: svg_entities); the
                     apple-touch-icon is used instead
    png_bomb         header PNG declares 30000x30000 pixels in ~110 KB (refused from its header: too_large);
                     /favicon.ico is used instead
    svg_huge_dims    header SVG declares 200000x200000 px with a viewBox: rendered at the usual 512 px (ok, img)
    huge_logo_50mb   header PNG is 50 MB streamed with no Content-Length (cut at DOWNLOAD_MAXSIZE); the
                     <link rel=icon> is used instead
"""

from __future__ import annotations

import struct
import tempfile
import zlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from PIL import Image

from fixtureweb.images import Mark, mark_bytes, mark_svg
from fixtureweb.routes import Route

LOCAL_FILE_RGB = (255, 0, 0)  # no brand mark uses pure red: one such pixel in a saved logo means a file was read
PNG_BOMB_SIDE = 30_000
STREAMED_LOGO_BYTES = 50 * 1024 * 1024
HUGE_SVG_SIDE = 200_000
BOMB_LEVELS = 10  # &lol9; would expand to 10**9 "lol"s

# The header <img> of each kind, its <head> links (the fallback), and the expected (source, paths).
HOSTILE_IMG = {"svg_file_ref": "/assets/logo.svg", "svg_entity_bomb": "/assets/logo.svg",
               "png_bomb": "/assets/logo.png", "svg_huge_dims": "/assets/logo.svg",
               "huge_logo_50mb": "/assets/logo.png"}
HOSTILE_LINKS = {
    "svg_entity_bomb": '<link rel="apple-touch-icon" sizes="180x180" href="/apple-touch-icon.png">',
    "huge_logo_50mb": '<link rel="icon" type="image/png" sizes="192x192" href="/icons/icon-192.png">',
}
HOSTILE_EXPECTED = {
    "svg_file_ref": ("img", ["/assets/logo.svg"]), "svg_huge_dims": ("img", ["/assets/logo.svg"]),
    "svg_entity_bomb": ("apple_touch_icon", ["/apple-touch-icon.png"]),
    "png_bomb": ("favicon", ["/favicon.ico"]), "huge_logo_50mb": ("link_icon", ["/icons/icon-192.png"]),
}


def hostile_assets(k: str, mark: Mark, routes: dict[str, Route | Callable[[], Route]]) -> None:
    """Replace the header logo's route of a site of kind ``k`` with the attack (lazily: bombs are built only
    when asked for)."""
    if k == "svg_file_ref":
        routes["/assets/logo.svg"] = lambda: _svg(file_ref_svg(mark_svg(mark, size=200)))
    elif k == "svg_entity_bomb":
        routes["/assets/logo.svg"] = lambda: _svg(entity_bomb_svg())
    elif k == "svg_huge_dims":
        routes["/assets/logo.svg"] = lambda: _svg(mark_svg(mark, size=HUGE_SVG_SIDE))
    elif k == "png_bomb":
        routes["/assets/logo.png"] = lambda: _route("image/png", png_bomb())
        routes["/favicon.ico"] = lambda: _route("image/x-icon", mark_bytes(mark, "ico"))
    elif k == "huge_logo_50mb":
        routes["/assets/logo.png"] = lambda: _route("image/png", b"\x89PNG\r\n\x1a\n", mode="stream")


def _route(ctype: str, body: bytes, mode: str = "normal") -> Route:
    return Route(200, ctype, body, {"Cache-Control": "max-age=86400"}, mode=mode)


def _svg(body: bytes) -> Route:
    return _route("image/svg+xml", body)


# -- the attacks ---------------------------------------------------------------------------------------------
_LOCAL_DIR: list[tempfile.TemporaryDirectory[str]] = []  # kept alive (and removed at exit) by the server


@lru_cache(maxsize=1)
def local_png() -> Path:
    """A real PNG on this machine (64x64, pure red) that svg_file_ref logos point at with file://. The fixture
    server makes it at start; it is removed when the server exits."""
    _LOCAL_DIR.append(tempfile.TemporaryDirectory(prefix="logosim-fixture-"))
    path = Path(_LOCAL_DIR[-1].name, "local-secret.png")
    Image.new("RGBA", (64, 64), (*LOCAL_FILE_RGB, 255)).save(path, "PNG")
    return path


def file_ref_svg(mark: bytes) -> bytes:
    """The brand mark, covered by images a browser would fetch from this disk and from a closed local port:
    if either were drawn it would hide the mark."""
    refs = (f'<image href="{local_png().as_uri()}" x="0" y="0" width="100" height="100"/>'
            '<image xlink:href="http://127.0.0.1:1/x.png" x="0" y="0" width="100" height="100"/>')
    svg = mark.replace(b"<svg ", b'<svg xmlns:xlink="http://www.w3.org/1999/xlink" ', 1)
    return svg.replace(b"</svg>", refs.encode() + b"</svg>")


def entity_bomb_svg() -> bytes:
    """Billion laughs: ten nested entities, each ten of the previous; 1 KB that a naive parser expands to GBs."""
    decls = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, BOMB_LEVELS)]
    return (f'<?xml version="1.0"?>\n<!DOCTYPE svg [\n{chr(10).join(decls)}\n]>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200" viewBox="0 0 100 100">'
            f'<rect width="100" height="100" fill="#3a86ff"/><text x="10" y="50">&lol{BOMB_LEVELS - 1};</text>'
            f"</svg>").encode()


@lru_cache(maxsize=1)
def png_bomb(side: int = PNG_BOMB_SIDE) -> bytes:
    """A valid 1-bit palette PNG of side x side pixels, all zero: ~110 KB that decodes to 900 M pixels."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    rows_per_chunk = 100
    idat = b"".join(packer.compress(row * min(rows_per_chunk, side - start))
                    for start in range(0, side, rows_per_chunk)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 3, 0, 0, 0)
    chunks = ((b"IHDR", header), (b"PLTE", b"\x00\x00\x00\xff\xff\xff"), (b"IDAT", idat), (b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data)) for kind, data in chunks)
