"""Synthetic logos drawn with Pillow and a data folder built from them, for tests and benchmarks."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

from PIL import Image, ImageDraw

from common.datadir import DataDir
from common.manifest import OK, ManifestRecord, ManifestWriter, now_iso

SHAPES = ("ellipse", "rectangle", "triangle", "bars", "text")


def draw_logo(seed: int, size: tuple[int, int] = (160, 96), transparent: bool | None = None,
              margin: int | None = None) -> Image.Image:
    """A distinct little RGBA logo per seed: shapes and text in its own colours, some on transparency."""
    rng = random.Random(seed)
    transparent = rng.random() < 0.5 if transparent is None else transparent
    margin = rng.choice([0, 8, 24]) if margin is None else margin
    background = (0, 0, 0, 0) if transparent else (255, 255, 255, 255)
    image = Image.new("RGBA", size, background)
    draw = ImageDraw.Draw(image)
    box = (margin, margin, size[0] - 1 - margin, size[1] - 1 - margin)
    for _ in range(rng.randint(2, 4)):
        colour = tuple(rng.randrange(256) for _ in range(3)) + (255,)
        _shape(draw, rng, box, colour)
    return image


def _shape(draw: ImageDraw.ImageDraw, rng: random.Random, box: tuple[int, int, int, int], colour: tuple) -> None:
    left, top, right, bottom = box
    x0, x1 = sorted(rng.randint(left, right) for _ in range(2))
    y0, y1 = sorted(rng.randint(top, bottom) for _ in range(2))
    x1, y1 = max(x1, x0 + 4), max(y1, y0 + 4)
    kind = rng.choice(SHAPES)
    if kind == "ellipse":
        draw.ellipse((x0, y0, x1, y1), fill=colour)
    elif kind == "rectangle":
        draw.rectangle((x0, y0, x1, y1), fill=colour)
    elif kind == "triangle":
        draw.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], fill=colour)
    elif kind == "bars":
        for x in range(x0, x1, 6):
            draw.rectangle((x, y0, x + 2, y1), fill=colour)
    else:
        draw.text((x0, y0), rng.choice(["ACME", "logo", "Co.", "XYZ"]), fill=colour)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_logo(data_dir: DataDir, domain: str, image: Image.Image | bytes) -> ManifestRecord:
    """Save the logo under logos/<domain>.png and return the manifest record the crawler would write."""
    data = image if isinstance(image, bytes) else png_bytes(image)
    path = data_dir.logo_path(domain)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    width, height = image.size if isinstance(image, Image.Image) else (None, None)
    return ManifestRecord(domain=domain, status=OK, source="synthetic", logo_url=f"https://{domain}/logo.png",
                          logo_path=data_dir.relative(path), sha256=hashlib.sha256(data).hexdigest(),
                          width=width, height=height, fetched_at=now_iso())


def make_data_dir(root: Path, count: int, seed: int = 0) -> tuple[DataDir, dict[str, Image.Image]]:
    """A data folder with ``count`` distinct synthetic logos (site000.example, ...) and its manifest."""
    data_dir = DataDir(root).ensure()
    logos = {f"site{i:03d}.example": draw_logo(seed * 100_003 + i) for i in range(count)}
    with ManifestWriter(data_dir.manifest, fsync=False) as writer:
        for domain, image in logos.items():
            writer.write(write_logo(data_dir, domain, image))
    return data_dir, logos


def append_records(data_dir: DataDir, records: list[ManifestRecord]) -> None:
    with ManifestWriter(data_dir.manifest, fsync=False) as writer:
        for record in records:
            writer.write(record)
