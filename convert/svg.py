"""Repair real-world SVG markup with lxml and render it safely with cairosvg (no file or network access)."""

from __future__ import annotations

import io
import math
import re
import sys
from dataclasses import dataclass
from typing import Any

from lxml import etree
from PIL import Image

from common.encodings import whatwg_codec
from common.errors import ConvertError
from convert.formats import decode_data_uri, raster_pixels
from convert.svgfix import (
    SVG_NS,
    fix_prefixes,
    normalise_tree,
    promote_symbol,
    substitute_entities,
)

_SVG_START = re.compile(r"<(?:[\w.-]+:)?svg[\s>/]", re.I)
_HTML_HINT = re.compile(r"<!doctype\s+html|<html[\s>]|<body[\s>]|<head[\s>]", re.I)
_TAGS_AND_SCRIPTS = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.I | re.S)
_LENGTH = re.compile(r"^\s*([+]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*([a-z%]*)\s*$", re.I)
_UNIT_PX = {"": 1.0, "px": 1.0, "pt": 4 / 3, "pc": 16.0, "mm": 96 / 25.4, "cm": 96 / 2.54,
            "in": 96.0, "em": 16.0, "rem": 16.0, "ex": 8.0, "ch": 8.0, "q": 96 / 101.6}
_STYLE_SIZE = re.compile(r"(?:^|;)\s*(width|height)\s*:\s*([^;]+)", re.I)
_EMPTY_SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"></svg>'
# An HTML page around an SVG is accepted as a wrapper only when it carries little text of its own;
# beyond that it is a page (an error page with an icon), not a logo.
_MAX_WRAPPER_TEXT = 200
# Bounding-box search for SVGs with neither viewBox nor size: the window in user units and the
# resolution of each pass.
_BBOX_WINDOW = 4096.0
_BBOX_PIXELS = 1024
# Raster images embedded in an SVG (data: URIs) are decoded by cairosvg/Pillow/cairo: refuse big ones.
MAX_EMBEDDED_PIXELS = 4096 * 4096


@dataclass
class ViewBox:
    x: float
    y: float
    w: float
    h: float

    def __str__(self) -> str:
        return " ".join(_fmt(v) for v in (self.x, self.y, self.w, self.h))


def render_svg(data: bytes, max_side: int) -> Image.Image:
    """Render SVG bytes to an RGBA image whose longest side is ``max_side``; raises ConvertError."""
    root = parse_svg(data)
    return _render_root(root, max_side)


def is_html_wrapped(text: str) -> bool:
    """True when ``text`` is an HTML page whose content is essentially one inline SVG."""
    start = _SVG_START.search(text)
    if start is None or not _HTML_HINT.search(text[: start.start()]):
        return False
    outside = _TAGS_AND_SCRIPTS.sub(" ", text[: start.start()])
    end = text.lower().rfind("</svg")
    if end > start.start():
        outside += _TAGS_AND_SCRIPTS.sub(" ", text[end:])
    return len(" ".join(outside.split())) <= _MAX_WRAPPER_TEXT


def decode_svg_text(data: bytes) -> str:
    """Bytes to text: BOMs, then the XML declaration's encoding if it is one of the web's (common.encodings:
    never Python's punycode, idna or rot13), then UTF-8 with replacement."""
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace")
    declared = re.match(rb"\s*<\?xml[^>]*encoding=[\"']([\w.:-]+)[\"']", data)
    codec = whatwg_codec(declared.group(1).decode("ascii")) if declared else None
    if codec:
        text = data.decode(codec, errors="replace")
        # A declaration that lies (utf-16 over UTF-8 bytes) loses the markup: fall back to UTF-8.
        if _SVG_START.search(text):
            return text
    return data.decode("utf-8", errors="replace")


def parse_svg(data: bytes, *, promote: bool = True) -> etree._Element:
    """Text -> repaired lxml tree rooted at an SVG element in the SVG namespace (``promote``: a sprite sheet
    that draws nothing draws its logo symbol, as a logo file should; off when the sheet is read for symbols)."""
    text = decode_svg_text(data)
    start = _SVG_START.search(text)
    if start is None:
        raise ConvertError("svg_invalid", "no <svg> element")
    # Entity declarations live in the prolog; they are checked and substituted here, then the prolog
    # (XML declaration, DOCTYPE, any HTML wrapper) is dropped before lxml sees the markup.
    body = substitute_entities(text[: start.start()], text[start.start():])
    body = fix_prefixes(body)
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False,
                             remove_comments=True, remove_pis=True, load_dtd=False)
    try:
        root = etree.fromstring(body.encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        raise ConvertError("svg_invalid", str(exc)[:200]) from None
    if root is None:
        raise ConvertError("svg_invalid", "unparseable markup")
    root = _svg_root(root)
    normalise_tree(root)
    if promote:
        promote_symbol(root)
    return root


def _svg_root(root: etree._Element) -> etree._Element:
    if etree.QName(root).localname.lower() == "svg":
        return root
    for element in root.iter():
        if isinstance(element.tag, str) and etree.QName(element).localname.lower() == "svg":
            return element
    raise ConvertError("svg_invalid", "no <svg> element")


def _render_root(root: etree._Element, max_side: int) -> Image.Image:
    width, height, viewbox = _intrinsic_size(root)
    if viewbox is None:
        viewbox = _content_bbox(root)
        width, height = viewbox.w, viewbox.h
    scale = max_side / max(width, height)
    out_w, out_h = max(1, round(width * scale)), max(1, round(height * scale))
    _set_viewport(root, viewbox, out_w, out_h)
    return _cairo_render(root)


def _intrinsic_size(root: etree._Element) -> tuple[float, float, ViewBox | None]:
    """The size a browser would give the SVG, in CSS px, and its viewBox (None: must measure)."""
    width, height = _root_lengths(root)
    viewbox = _viewbox(root.get("viewBox"))
    if viewbox is None:
        if width and height:
            return width, height, ViewBox(0, 0, width, height)
        return 0, 0, None
    if width and height:
        return width, height, viewbox
    if width:
        return width, width * viewbox.h / viewbox.w, viewbox
    if height:
        return height * viewbox.w / viewbox.h, height, viewbox
    return viewbox.w, viewbox.h, viewbox


def _root_lengths(root: etree._Element) -> tuple[float | None, float | None]:
    found = {"width": root.get("width"), "height": root.get("height")}
    # CSS in the style attribute beats the presentation attributes, as in a browser.
    for name, value in _STYLE_SIZE.findall(root.get("style") or ""):
        found[name.lower()] = value
    return length_px(found["width"]), length_px(found["height"])


def length_px(value: str | None) -> float | None:
    """An absolute CSS length in px; None for %, auto, zero, negative or garbage."""
    match = _LENGTH.match(value or "")
    if not match or match.group(2).lower() not in _UNIT_PX:
        return None
    number = float(match.group(1)) * _UNIT_PX[match.group(2).lower()]
    return number if math.isfinite(number) and number > 0 else None


def _viewbox(value: str | None) -> ViewBox | None:
    parts = re.split(r"[\s,]+", (value or "").strip())
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        return None
    if len(numbers) != 4 or not all(math.isfinite(n) for n in numbers):
        return None
    box = ViewBox(*numbers)
    return box if box.w > 0 and box.h > 0 else None


def _set_viewport(root: etree._Element, viewbox: ViewBox, width: int, height: int) -> None:
    """Pin the output size: cairosvg then renders exactly width x height px whatever was declared."""
    root.set("viewBox", str(viewbox))
    root.set("width", str(width))
    root.set("height", str(height))
    style = root.get("style")
    if style:
        root.set("style", _STYLE_SIZE.sub("", style).lstrip(";"))


def _content_bbox(root: etree._Element) -> ViewBox:
    """Find where an unsized SVG draws: a coarse render of a big window, then a finer one of the hit."""
    window = ViewBox(0, 0, _BBOX_WINDOW, _BBOX_WINDOW)
    for _ in range(2):
        found = _alpha_bbox(root, window)
        if found is None:
            # Nothing drawn anywhere we looked: fall back to a browser's default viewport.
            return ViewBox(0, 0, 300, 150)
        window = found
    return window


def _alpha_bbox(root: etree._Element, window: ViewBox) -> ViewBox | None:
    side = max(window.w, window.h)
    _set_viewport(root, ViewBox(window.x, window.y, side, side), _BBOX_PIXELS, _BBOX_PIXELS)
    box = _cairo_render(root).getchannel("A").getbbox()
    if box is None:
        return None
    unit = side / _BBOX_PIXELS
    # One pixel of margin each side: the coarse pass may have cut anti-aliased edges.
    x0, y0 = window.x + (box[0] - 1) * unit, window.y + (box[1] - 1) * unit
    x1, y1 = window.x + (box[2] + 1) * unit, window.y + (box[3] + 1) * unit
    return ViewBox(x0, y0, x1 - x0, y1 - y0)


def _cairo_render(root: etree._Element) -> Image.Image:
    from cairosvg.parser import Tree
    from cairosvg.surface import PNGSurface

    markup = etree.tostring(root)
    try:
        # The Tree gets url_fetcher, which cairosvg passes on to every tree it parses (<use>, <image>).
        tree = Tree(bytestring=markup, url_fetcher=safe_fetcher, unsafe=False)
        # No output: the surface's pixels are read directly, not written to a PNG and decoded again.
        return _surface_pixels(PNGSurface(tree, None, 96).cairo)
    except ConvertError:
        raise
    except RecursionError:
        raise ConvertError("svg_render_failed", "nesting too deep") from None
    except Exception as exc:  # cairosvg raises many types (ValueError, KeyError, ParseError...) on bad input
        raise ConvertError("svg_render_failed", f"{exc.__class__.__name__}: {exc}"[:200]) from None


def _surface_pixels(surface: Any) -> Image.Image:
    """cairo's ARGB32 is premultiplied and native-endian: BGRA bytes on little-endian machines."""
    surface.flush()
    size, stride = (surface.get_width(), surface.get_height()), surface.get_stride()
    if sys.byteorder != "little":  # rare: let cairo write a PNG and decode it
        out = io.BytesIO()
        surface.write_to_png(out)
        return Image.open(io.BytesIO(out.getvalue()), formats=["PNG"]).convert("RGBA")
    return Image.frombuffer("RGBA", size, bytes(surface.get_data()), "raw", "BGRa", stride, 1)


def safe_fetcher(url: str, resource_type: str) -> bytes:
    """cairosvg's only way out: data: URIs are decoded, everything else (files, http) gets nothing."""
    empty = _EMPTY_SVG if resource_type == "image/svg+xml" else b""
    if not url.lower().startswith("data:"):
        return empty
    try:
        data = decode_data_uri(url)
    except ConvertError:
        return empty
    if _SVG_START.search(data[:4096].decode("latin-1")):
        return _repaired_embedded_svg(data) or empty
    if resource_type == "text/css":
        return b""
    pixels = raster_pixels(data)
    return data if pixels is not None and pixels <= MAX_EMBEDDED_PIXELS else b""


def _repaired_embedded_svg(data: bytes) -> bytes | None:
    """An SVG inside an SVG gets the same repair and sanitising as the outer one."""
    try:
        return etree.tostring(parse_svg(data))
    except ConvertError:
        return None


def _fmt(value: float) -> str:
    return f"{value:.6g}"


__all__ = ["MAX_EMBEDDED_PIXELS", "SVG_NS", "is_html_wrapped", "length_px", "parse_svg", "render_svg",
           "safe_fetcher"]
