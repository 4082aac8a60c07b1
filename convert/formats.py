"""What bytes are: the image format from the magic bytes, a data: URI's payload, a raster's declared size.

The one table of magic bytes and the one data: URI decoder of the project (conversion, extraction and the
spider's diagnostics all use these).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from urllib.parse import unquote_to_bytes

from PIL import Image

from common.errors import ConvertError

MAX_INPUT_BYTES = 10 * 1024 * 1024
PIL_FORMATS = {"png": "PNG", "gif": "GIF", "jpeg": "JPEG", "bmp": "BMP", "ico": "ICO", "cur": "CUR",
                "webp": "WEBP", "avif": "AVIF", "tiff": "TIFF"}
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"GIF87a", "gif"), (b"GIF89a", "gif"), (b"\xff\xd8\xff", "jpeg"),
          (b"\x00\x00\x01\x00", "ico"), (b"\x00\x00\x02\x00", "cur"), (b"II*\x00", "tiff"),
          (b"MM\x00*", "tiff"), (b"%PDF", "pdf"), (b"\xff\x0a", "jxl"), (b"\x00\x00\x00\x0cJXL ", "jxl"),
          (b"8BPS", "psd"))
_FTYP_BRANDS = {b"avif": "avif", b"avis": "avif", b"heic": "heic", b"heix": "heic", b"mif1": "heic",
                b"msf1": "heic", b"hevc": "heic"}
_BMP_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}
_DATA_HEADER = re.compile(r"^data:([^,]*?),", re.I | re.S)
MIME_TYPES = {"png": "image/png", "gif": "image/gif", "jpeg": "image/jpeg", "webp": "image/webp",
              "ico": "image/x-icon", "cur": "image/x-icon", "bmp": "image/bmp", "avif": "image/avif",
              "tiff": "image/tiff", "svg": "image/svg+xml"}


def magic_format(data: bytes) -> str | None:
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(data[8:12], "isobmff")
    if data[:2] == b"BM" and len(data) > 18 and int.from_bytes(data[14:18], "little") in _BMP_HEADER_SIZES:
        return "bmp"
    return None


def parse_data_uri(uri: str) -> tuple[str, bytes]:
    """(media type, payload) of a ``data:`` URI (base64 or percent-encoded); raises ConvertError("bad_data_uri")."""
    uri = uri.strip()
    if len(uri) > MAX_INPUT_BYTES * 4 // 3 + 4096:
        raise ConvertError("too_large", f"data: URI of {len(uri)} characters")
    header = _DATA_HEADER.match(uri)
    if header is None:
        raise ConvertError("bad_data_uri", "no 'data:...,' header")
    payload = uri[header.end():]
    params = [part.strip().lower() for part in header.group(1).split(";")]
    if "base64" in params[1:] or params[0] == "base64":
        data = b64decode_lenient(unquote_to_bytes(payload))
    else:
        data = unquote_to_bytes(payload)
    if not data:
        raise ConvertError("bad_data_uri", "empty payload")
    return params[0] or "text/plain", data


def decode_data_uri(uri: str) -> bytes:
    """The payload of a ``data:`` URI; raises ConvertError("bad_data_uri")."""
    return parse_data_uri(uri)[1]


def b64decode_lenient(raw: bytes) -> bytes:
    """Lenient base64 as browsers accept it: whitespace, URL-safe alphabet, missing padding."""
    compact = re.sub(rb"\s+", b"", raw).rstrip(b"=").replace(b"-", b"+").replace(b"_", b"/")
    if len(compact) % 4 == 1:
        raise ConvertError("bad_data_uri", "truncated base64")
    try:
        return base64.b64decode(compact + b"=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConvertError("bad_data_uri", f"bad base64: {exc}") from None


def raster_pixels(data: bytes) -> int | None:
    """Width x height from the header only (no decoding), or None when it is not a raster we read."""
    fmt = magic_format(data)
    if fmt not in PIL_FORMATS:
        return None
    try:
        with Image.open(io.BytesIO(data), formats=[PIL_FORMATS[fmt]]) as image:
            return image.width * image.height
    except Exception:  # any header Pillow cannot read (or a bomb Pillow refuses): not a raster for us
        return None
