"""Any logo file (raster, SVG, data: URI text) -> one deterministic RGBA PNG, or a reason why not.

The real format is detected from the bytes, never from a file extension or a Content-Type.
Reason codes of ``ConvertError.reason``:

- ``too_large``: input over 10 MB, or declared/decoded dimensions over the pixel limit (bombs)
- ``not_an_image``: empty, unknown bytes, or XML/text that holds no image
- ``html_not_image``: an HTML page served where an image was expected
- ``unsupported_format``: a known image format Pillow cannot decode here (HEIC, JPEG XL, PDF...)
- ``bad_data_uri``: a data: URI that cannot be decoded
- ``decode_failed``: a raster image that is corrupt or truncated
- ``svg_invalid``: no usable <svg> element
- ``svg_entities``: XML entity declarations that could nest or reach outside (never expanded)
- ``svg_render_failed``: cairosvg could not render the repaired SVG
- ``placeholder_tiny``: a side shorter than ``min_side`` after conversion (1x1 trackers, spacers)
- ``placeholder_transparent``: nothing visible
- ``placeholder_blank``: a single solid colour
- ``convert_crashed``: the crawler's conversion worker process died on this logo (the pool is replaced)

``placeholder_tiny`` and ``placeholder_blank`` are pictures, only unlikely logos: the crawler refuses them to
try its next candidate, while ``logosim import`` (whose user says "this file is the logo") converts them and
records the code as a warning (``keep_placeholders=True``). Nothing visible is never converted.
"""

from __future__ import annotations

import hashlib
import io
import re
import zlib
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

import numpy as np
from PIL import Image, ImageOps

from common.errors import ConvertError
from convert.formats import (
    MAX_INPUT_BYTES,
    PIL_FORMATS,
    b64decode_lenient,
    decode_data_uri,
    magic_format,
)
from convert.prechecks import check_raster
from convert.svg import decode_svg_text, is_html_wrapped, render_svg

MAX_PIXELS = 40_000_000  # per-call raster limit, checked from the header before decoding
TRANSPARENT_ALPHA = 4  # a max alpha at or below this is invisible on any background
BLANK_TOLERANCE = 8  # per-channel spread (premultiplied) still counted as one colour
_MAX_UNWRAP = 3  # data: URI / base64 / percent-encoding layers we peel off

_BASE64 = re.compile(rb"[A-Za-z0-9+/_-]+={0,2}")
_SVG_TAG = re.compile(r"<(?:[\w.-]+:)?svg[\s>/]", re.I)
_HTML_START = re.compile(r"\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|script|meta|title|div|p|link|"
                         r"iframe|noscript|center|h1|table|style)[\s>/]", re.I | re.S)


@dataclass
class Converted:
    png: bytes  # PNG, RGBA
    width: int
    height: int
    format: str  # detected source format: "svg", "png", "gif", "ico", "webp", "jpeg", "bmp", "avif", ...
    sha256: str  # hex sha256 of ``png``
    warning: str | None = None  # a placeholder code kept with ``keep_placeholders`` (tiny or one colour)


def to_png(data: bytes, *, max_side: int = 512, min_side: int = 16, keep_placeholders: bool = False) -> Converted:
    """Detect, decode/render, downscale to ``max_side``, reject placeholders, encode deterministically.

    With ``keep_placeholders`` a tiny or single-colour picture is converted and its code returned as
    ``warning``; an image with nothing visible is refused either way.
    """
    if len(data) > MAX_INPUT_BYTES:
        raise ConvertError("too_large", f"{len(data)} bytes")
    fmt, payload = sniff(bytes(data))
    image = render_svg(payload, max_side) if fmt == "svg" else decode_raster(payload, fmt, max_side)
    warning = None
    try:
        check_placeholder(image, min_side)
    except ConvertError as exc:
        if not keep_placeholders or exc.reason == "placeholder_transparent":
            raise
        warning = exc.reason
    png = encode_png(image)
    return Converted(png, image.width, image.height, fmt, hashlib.sha256(png).hexdigest(), warning)


def check_png(data: bytes, max_side: int = 512) -> tuple[int, int]:
    """A logo PNG as logosim writes them, decoded again under the same limits (``merge`` checks a peer's files
    so): the bytes are a PNG, its headers and pixels within MAX_PIXELS, its sides within ``max_side``; returns
    (width, height), or raises ConvertError."""
    if len(data) > MAX_INPUT_BYTES:
        raise ConvertError("too_large", f"{len(data)} bytes")
    if magic_format(data) != "png":
        raise ConvertError("not_an_image", "not a PNG")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as header:
            width, height = header.size
    except Image.DecompressionBombError as exc:
        raise ConvertError("too_large", str(exc)[:200]) from None
    except Exception as exc:  # noqa: BLE001 - Pillow's many exception types for bad data
        raise ConvertError("decode_failed", f"{exc.__class__.__name__}: {exc}"[:200]) from None
    if max(width, height) > max_side:
        raise ConvertError("too_large", f"{width}x{height}: larger than a logo ({max_side} px)")
    decode_raster(data, "png", max_side)
    return width, height


def sniff(data: bytes, depth: int = 0) -> tuple[str, bytes]:
    """(format, payload): the real format, after peeling data:/base64/percent/gzip wrappers."""
    if not data.strip():
        raise ConvertError("not_an_image", "empty")
    fmt = magic_format(data)
    if fmt in PIL_FORMATS:
        return fmt, data
    if fmt is not None:
        raise ConvertError("unsupported_format", fmt)
    if data.startswith(b"\x1f\x8b"):
        return sniff(_gunzip(data), depth + 1) if depth < _MAX_UNWRAP else _not_image("nested gzip")
    return _sniff_text(data, depth)


def _gunzip(data: bytes) -> bytes:
    """svgz (or a gzip-encoded body saved as is), bounded so a gzip bomb stops at the input limit."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, MAX_INPUT_BYTES + 1)
    except zlib.error as exc:
        raise ConvertError("not_an_image", f"bad gzip: {exc}") from None
    if len(out) > MAX_INPUT_BYTES:
        raise ConvertError("too_large", "gzip expands past the input limit")
    return out


def _sniff_text(data: bytes, depth: int) -> tuple[str, bytes]:
    text = decode_svg_text(data)
    head = text.lstrip("\ufeff \t\r\n")[:64].lower()
    if depth < _MAX_UNWRAP:
        if head.startswith("data:"):
            return sniff(decode_data_uri(text), depth + 1)
        if head.startswith(("%3c", "%ef%bb%bf%3c", "%20%3c")):
            return sniff(unquote_to_bytes(text.strip()), depth + 1)
    svg = _SVG_TAG.search(text)
    if svg is not None:
        if _HTML_START.match(text) and not is_html_wrapped(text):
            raise ConvertError("html_not_image", "an HTML page with an inline SVG")
        return "svg", data
    if _HTML_START.match(text):
        raise ConvertError("html_not_image", head[:40])
    compact = re.sub(rb"\s+", b"", data)
    if depth < _MAX_UNWRAP and len(compact) >= 16 and _BASE64.fullmatch(compact):
        return _sniff_base64(compact, depth)
    return _not_image(head[:40])


def _sniff_base64(compact: bytes, depth: int) -> tuple[str, bytes]:
    try:
        decoded = b64decode_lenient(compact)
    except ConvertError:
        return _not_image("base64-like text that does not decode")
    try:
        return sniff(decoded, depth + 1)
    except ConvertError as exc:
        if exc.reason in ("not_an_image", "html_not_image"):
            return _not_image("base64 text that holds no image")
        raise


def _not_image(detail: str) -> tuple[str, bytes]:
    raise ConvertError("not_an_image", detail)


def decode_raster(data: bytes, fmt: str, max_side: int) -> Image.Image:
    """First frame (GIF/WebP/APNG), largest icon (ICO), EXIF-upright, RGBA, longest side <= max_side."""
    # No warnings.catch_warnings() here (it is not thread-safe and the crawler converts in threads):
    # our own header check, stricter than Pillow's DecompressionBombWarning, runs before any decoding.
    check_raster(data, fmt, MAX_PIXELS)  # what the format's own headers say (ICO frames, JPEG scans)
    try:
        with Image.open(io.BytesIO(data), formats=[PIL_FORMATS[fmt]]) as image:
            return _decode_open(image, fmt, max_side)
    except ConvertError:
        raise
    except (Image.DecompressionBombError, MemoryError) as exc:
        raise ConvertError("too_large", str(exc)[:200]) from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, struct.error... on bad data
        raise ConvertError("decode_failed", f"{exc.__class__.__name__}: {exc}"[:200]) from None


def _decode_open(image: Image.Image, fmt: str, max_side: int) -> Image.Image:
    if fmt in ("ico", "cur") and image.info.get("sizes"):
        image.size = max(image.info["sizes"], key=lambda size: (size[0] * size[1], size))
    _check_pixels(image.width, image.height)
    if fmt == "jpeg":
        # Let libjpeg decode at a reduced scale: big photos-as-logos decode several times faster.
        image.draft("RGB", (max_side, max_side))
    image.load()
    _check_pixels(image.width, image.height)  # an ICO's embedded PNG may be larger than declared
    upright = ImageOps.exif_transpose(image) if fmt in ("jpeg", "webp", "tiff", "avif") else image
    rgba = to_rgba(upright)
    if fmt in ("ico", "cur", "bmp"):
        rgba = _ignore_broken_mask(rgba)
    return fit(rgba, max_side)


def _ignore_broken_mask(image: Image.Image) -> Image.Image:
    """Some icon writers emit an all-transparent AND mask over real pixels; show the pixels."""
    if image.getchannel("A").getextrema()[1] > 0:
        return image
    if max(high - low for low, high in image.convert("RGB").getextrema()) <= BLANK_TOLERANCE:
        return image
    opaque = image.copy()
    opaque.putalpha(255)
    return opaque


def _check_pixels(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ConvertError("too_large", f"{width}x{height} pixels")


def to_rgba(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGBA; 16/32-bit greyscale is scaled, not clipped."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = values.max() if values.size and values.max() > 255 else 255.0
        image = Image.fromarray(np.clip(values * (255.0 / top), 0, 255).astype(np.uint8), "L")
    elif image.mode == "CMYK":
        image = image.convert("RGB")
    return image.convert("RGBA")


def fit(image: Image.Image, max_side: int) -> Image.Image:
    """Downscale (never up) so the longest side is at most ``max_side``, keeping the aspect ratio."""
    if max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # Resample premultiplied: colours of fully transparent pixels must not bleed into the edges.
    return image.convert("RGBa").resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0).convert("RGBA")


def check_placeholder(image: Image.Image, min_side: int) -> None:
    """Tracking pixels, spacers, empty and single-colour images are not logos (nothing visible checked first)."""
    if image.getchannel("A").getextrema()[1] <= TRANSPARENT_ALPHA:
        raise ConvertError("placeholder_transparent", f"{image.width}x{image.height}")
    if image.width < min_side or image.height < min_side:
        raise ConvertError("placeholder_tiny", f"{image.width}x{image.height}")
    spreads = [high - low for low, high in image.convert("RGBa").getextrema()]
    if max(spreads) <= BLANK_TOLERANCE:
        raise ConvertError("placeholder_blank", f"{image.width}x{image.height}")


def encode_png(image: Image.Image) -> bytes:
    """Same pixels -> same bytes: a fresh image (no inherited metadata), fixed compression settings."""
    clean = Image.frombytes("RGBA", image.size, image.convert("RGBA").tobytes())
    out = io.BytesIO()
    clean.save(out, format="PNG", compress_level=3)  # measured: as small as 6 within 4%, 35% faster
    return out.getvalue()
