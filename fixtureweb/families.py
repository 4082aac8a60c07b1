"""Brand families with every variant kind, written as a folder of logo files for `logosim import`.

Each brand gets its own seeded mark (an SVG of several coloured shapes on a canvas of its own aspect ratio).
Its family's domains show that mark the ways the web does: the same file reused, as JPEG, as lossy WebP, as a
PNG rendered from the SVG, as the SVG serialised another way (inline SVG), as a re-encoded PNG (a data: URI's
bytes), as an animated GIF (first frame the logo), at twice the size, and recoloured dark or light. Unrelated
brands (one domain each) are the noise. ``truth`` maps every domain to its brand.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

VARIANTS = ("reuse", "reuse", "jpeg", "webp", "svg_png", "inline_svg", "data_uri", "gif", "double", "dark",
            "light")
_ASPECTS = (1.0, 1.0, 1.6, 2.4, 3.2)
_COLOURS = ("#d7263d", "#1b998b", "#2e294e", "#f46036", "#3a86ff", "#8338ec", "#ff006e", "#06a77d",
            "#f4a259", "#5c415d", "#0b6e4f", "#235789", "#e09f3e")


@dataclass(frozen=True)
class BrandMark:
    slug: str
    svg: str  # the master file
    width: int
    height: int

    def recoloured(self, colour: str) -> str:
        text = self.svg
        for original in _COLOURS:
            text = text.replace(f'fill="{original}"', f'fill="{colour}"')
        return text


def brand_mark(slug: str, seed: int) -> BrandMark:
    """Several random shapes (rectangles, circles, triangles, bars) in two or three colours."""
    rng = random.Random(seed)
    height = 100
    width = int(height * rng.choice(_ASPECTS))
    colours = rng.sample(_COLOURS, rng.choice((2, 3)))
    parts = []
    for k in range(rng.randint(5, 8)):
        x, y = rng.uniform(0, width * 0.8), rng.uniform(0, height * 0.7)
        w, h = rng.uniform(width * 0.08, width * 0.35), rng.uniform(15, 45)
        fill = colours[k % len(colours)]
        kind = rng.choice(("rect", "circle", "triangle", "bar"))
        if kind == "rect":
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}"/>')
        elif kind == "circle":
            parts.append(f'<circle cx="{x + h / 2:.1f}" cy="{y + h / 2:.1f}" r="{h / 2:.1f}" fill="{fill}"/>')
        elif kind == "triangle":
            parts.append(f'<polygon points="{x:.1f},{y + h:.1f} {x + w / 2:.1f},{y:.1f} {x + w:.1f},{y + h:.1f}" '
                         f'fill="{fill}"/>')
        else:
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="6" fill="{fill}"/>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">{"".join(parts)}</svg>')
    return BrandMark(slug, svg, width, height)


def _render(svg: str, width: int) -> Image.Image:
    import cairosvg

    png = cairosvg.svg2png(bytestring=svg.encode(), output_width=width)
    with Image.open(io.BytesIO(png)) as image:
        return image.convert("RGBA")


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _on_white(image: Image.Image) -> Image.Image:
    flat = Image.new("RGBA", image.size, (255, 255, 255, 255))
    flat.alpha_composite(image)
    return flat.convert("RGB")


def variant_file(mark: BrandMark, kind: str) -> tuple[str, bytes]:
    """(extension, bytes) of one way a site shows the mark."""
    side = 2 * mark.width
    if kind == "reuse":
        return "svg", mark.svg.encode()
    if kind == "inline_svg":  # what the crawler serialises from an inline <svg>: other spacing, no size
        inline = mark.svg.replace(f' width="{mark.width}" height="{mark.height}"', "").replace("/><", "/>\n  <")
        return "svg", inline.encode()
    if kind == "dark":
        return "svg", mark.recoloured("#1a1a1a").encode()
    if kind == "light":
        return "svg", mark.recoloured("#ffffff").encode()
    picture = _render(mark.svg, side)
    if kind == "jpeg":
        return "jpg", _save(_on_white(picture), "JPEG", quality=75)
    if kind == "webp":
        return "webp", _save(picture, "WEBP", quality=70)
    if kind == "svg_png":
        return "png", _save(_render(mark.svg, int(side * 0.75)), "PNG")
    if kind == "data_uri":
        return "png", _save(picture, "PNG", compress_level=1)
    if kind == "gif":
        second = _render(mark.recoloured("#888888"), side)
        frames = [f.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE) for f in (_on_white(picture),
                                                                                           _on_white(second))]
        return "gif", _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=500, loop=0)
    if kind == "double":
        return "png", _save(_render(mark.svg, side * 2), "PNG")
    raise ValueError(f"unknown variant {kind}")


def write_families(folder: Path, brands: int = 12, loners: int = 30, seed: int = 0) -> dict[str, str]:
    """Write ``<domain>.<ext>`` files; returns domain -> brand slug (loners are brands of one)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    truth: dict[str, str] = {}
    for b in range(brands):
        mark = brand_mark(f"fam{b}", rng.randrange(1 << 30))
        for member, kind in enumerate(VARIANTS):
            domain = f"fam{b}-{member}-{kind.replace('_', '')}.test"
            ext, data = variant_file(mark, kind)
            (folder / f"{domain}.{ext}").write_bytes(data)
            truth[domain] = mark.slug
    for i in range(loners):
        mark = brand_mark(f"solo{i}", rng.randrange(1 << 30))
        ext, data = variant_file(mark, rng.choice(("reuse", "jpeg", "svg_png")))
        (folder / f"solo{i}.test.{ext}").write_bytes(data)
        truth[f"solo{i}.test"] = mark.slug
    return truth


def pair_scores(truth: dict[str, str], groups: dict[int, list[str]]) -> tuple[float, float, int, int]:
    """Pairwise (precision, recall, pairs put together, pairs that belong together), keyed by domain."""
    found = {frozenset((a, b)) for members in groups.values() for i, a in enumerate(members) for b in members[i + 1:]}
    by_brand: dict[str, list[str]] = {}
    for domain, brand in truth.items():
        by_brand.setdefault(brand, []).append(domain)
    wanted = {frozenset((a, b)) for members in by_brand.values() for i, a in enumerate(members)
              for b in members[i + 1:]}
    right = len(found & wanted)
    return right / max(len(found), 1), right / max(len(wanted), 1), len(found), len(wanted)
