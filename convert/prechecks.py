"""Cheap checks of a raster's bytes before any decoder runs: what a header can tell about a decompression bomb.

- ICO/CUR: the directory's sizes mean nothing (a "16x16" entry may hold a 13000x13000 PNG that Pillow loads
  whole before its size is known); every frame's own header (PNG IHDR, or the BMP info header) is checked
  against the pixel limit.
- JPEG: a progressive file may repeat one scan thousands of times (each scan passes over the whole image:
  136 KB took 9.8 s). Scans are counted from their SOS markers: entropy-coded data stuffs every 0xFF with
  0x00, so ``FF DA`` only occurs as a marker (or inside an embedded thumbnail, which only over-counts).
  MAX_JPEG_SCANS = 100 was calibrated on the 172 JPEGs of ../shared/data/real-logos: 1 to 17 SOS markers
  each (105 baseline files with 1; the most, 17, amnesty.se.jpg), so the limit is about six times the
  real maximum and libjpeg's default progressive script (10 scans for colour) is far below it.
"""

from __future__ import annotations

import struct

from common.errors import ConvertError

MAX_JPEG_SCANS = 100
_PNG = b"\x89PNG\r\n\x1a\n"


def check_raster(data: bytes, fmt: str, max_pixels: int) -> None:
    """Raise ConvertError (too_large / too_many_scans) when the bytes announce more work than a logo needs."""
    if fmt in ("ico", "cur"):
        for width, height in ico_frame_sizes(data):
            if width * height > max_pixels:
                raise ConvertError("too_large", f"an icon frame of {width}x{height} pixels")
    elif fmt == "jpeg":
        scans = data.count(b"\xff\xda")
        if scans > MAX_JPEG_SCANS:
            raise ConvertError("too_many_scans", f"{scans} JPEG scans (at most {MAX_JPEG_SCANS})")


def ico_frame_sizes(data: bytes) -> list[tuple[int, int]]:
    """(width, height) from each frame's own header: PNG IHDR or BITMAPINFOHEADER (whose height counts the
    AND mask too: halved); a directory entry without a readable frame header is skipped (Pillow refuses it)."""
    if len(data) < 6:
        return []
    count = struct.unpack_from("<H", data, 4)[0]
    sizes = []
    for index in range(count):
        entry = 6 + 16 * index
        if entry + 16 > len(data):
            break
        offset = struct.unpack_from("<I", data, entry + 12)[0]
        frame = data[offset:offset + 26]
        if frame.startswith(_PNG) and len(frame) >= 24:
            sizes.append(struct.unpack_from(">II", frame, 16))
        elif len(frame) >= 12:
            width, height = struct.unpack_from("<ii", frame, 4)
            sizes.append((abs(width), abs(height) // 2))
    return sizes
