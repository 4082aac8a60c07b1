"""Real image files made by code for tests: logos in every raster format, animated GIFs, icons, bombs."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageDraw

RED, GREEN, BLUE, WHITE, BLACK = (220, 30, 30), (30, 160, 60), (30, 60, 220), (255, 255, 255), (0, 0, 0)


def logo(size: tuple[int, int] = (96, 64), colour: tuple[int, int, int] = RED,
         background: tuple[int, int, int, int] = (0, 0, 0, 0), seed: int = 0) -> Image.Image:
    """An RGBA 'logo': a filled circle and a bar on ``background``; ``seed`` moves the bar."""
    width, height = size
    image = Image.new("RGBA", size, background)
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.1, height * 0.1, width * 0.55, height * 0.9), fill=(*colour, 255))
    offset = (seed % 5) * width * 0.04
    draw.rectangle((width * 0.6 + offset, height * 0.3, width * 0.7 + offset, height * 0.7), fill=(*BLACK, 255))
    return image


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    """Save with Pillow; JPEG and BMP get an opaque white background first (they hold no alpha)."""
    if fmt in ("JPEG", "BMP"):
        flat = Image.new("RGB", image.size, WHITE)
        flat.paste(image, mask=image.getchannel("A") if image.mode == "RGBA" else None)
        image = flat
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def png(image: Image.Image | None = None) -> bytes:
    return encode(image or logo(), "PNG")


def animated_gif(first: tuple[int, int, int] = RED, second: tuple[int, int, int] = BLUE,
                 size: tuple[int, int] = (64, 64)) -> bytes:
    """Two frames of different colours; only the first should survive conversion."""
    frames = [logo(size, first, (255, 255, 255, 255)).convert("RGB"),
              logo(size, second, (255, 255, 255, 255)).convert("RGB")]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def ico(sizes: tuple[int, ...] = (16, 32, 64)) -> bytes:
    largest = max(sizes)
    return encode(logo((largest, largest)), "ICO", sizes=[(s, s) for s in sizes])


def solid(size: tuple[int, int], rgba: tuple[int, int, int, int]) -> bytes:
    return png(Image.new("RGBA", size, rgba))


def png_bomb(side: int = 30000) -> bytes:
    """A valid 1-bit greyscale PNG of side x side pixels: ~100 KB on disk, 900 M pixels decoded."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    compressor = zlib.compressobj(9)
    chunks = [compressor.compress(row * 1000) for _ in range(side // 1000)]
    idat = b"".join(chunks) + compressor.compress(row * (side % 1000)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def open_rgba(data: bytes) -> Image.Image:
    """Decode a converted PNG for assertions."""
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.convert("RGBA")


def pixel(image: Image.Image, fx: float, fy: float) -> tuple[int, int, int, int]:
    """The pixel at a fraction of the width and height."""
    return image.getpixel((min(image.width - 1, int(image.width * fx)), min(image.height - 1, int(image.height * fy))))


def near(colour: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=False))
