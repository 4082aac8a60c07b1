"""Logo artwork for the fixture web: one geometric mark per brand, drawn identically as SVG and with Pillow."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw

_SHAPES = ("circle", "square", "diamond", "triangle", "ring", "bars")
_PALETTE = ("#d7263d", "#1b998b", "#2e294e", "#f46036", "#3a86ff", "#8338ec", "#ff006e", "#06a77d",
            "#f4a259", "#5c415d", "#0b6e4f", "#c1292e", "#235789", "#161925", "#e09f3e")


@dataclass(frozen=True)
class Mark:
    """A brand's mark on a 100x100 canvas: an outer shape, an inner shape and an accent bar."""

    outer: str
    inner: str
    colour: str
    accent: str
    bar: int  # 0..3: where the accent bar sits

    @classmethod
    def from_seed(cls, seed: int) -> Mark:
        rng = random.Random(seed)
        colour, accent = rng.sample(_PALETTE, 2)
        return cls(rng.choice(_SHAPES), rng.choice(_SHAPES), colour, accent, rng.randrange(4))


def _shape_svg(shape: str, box: tuple[int, int, int, int], fill: str) -> str:
    x0, y0, x1, y1 = box
    cx, cy, w = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0
    if shape == "circle":
        return f'<circle cx="{cx}" cy="{cy}" r="{w / 2}" fill="{fill}"/>'
    if shape == "ring":
        return f'<circle cx="{cx}" cy="{cy}" r="{w / 2 - 4}" fill="none" stroke="{fill}" stroke-width="8"/>'
    if shape == "square":
        return f'<rect x="{x0}" y="{y0}" width="{w}" height="{w}" fill="{fill}"/>'
    if shape == "bars":
        step = w / 5
        return "".join(f'<rect x="{x0 + i * 2 * step}" y="{y0}" width="{step}" height="{w}" fill="{fill}"/>'
                       for i in range(3))
    points = _polygon(shape, box)
    return f'<polygon points="{" ".join(f"{x},{y}" for x, y in points)}" fill="{fill}"/>'


def _polygon(shape: str, box: tuple[int, int, int, int]) -> list[tuple[float, float]]:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if shape == "diamond":
        return [(cx, y0), (x1, cy), (cx, y1), (x0, cy)]
    return [(cx, y0), (x1, y1), (x0, y1)]  # triangle


def _shape_draw(draw: ImageDraw.ImageDraw, shape: str, box: tuple[float, ...], fill: str, scale: float) -> None:
    x0, y0, x1, y1 = box
    w = x1 - x0
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "ring":
        pad = 4 * scale
        draw.ellipse((x0 + pad - 4 * scale, y0 + pad - 4 * scale, x1 - pad + 4 * scale, y1 - pad + 4 * scale),
                     outline=fill, width=max(1, int(8 * scale)))
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    elif shape == "bars":
        step = w / 5
        for i in range(3):
            draw.rectangle((x0 + i * 2 * step, y0, x0 + i * 2 * step + step, y1), fill=fill)
    else:
        draw.polygon(_polygon(shape, box), fill=fill)  # type: ignore[arg-type]


_OUTER = (5, 5, 95, 95)
_INNER = (30, 30, 70, 70)
_BARS = ((10, 2, 90, 10), (90, 10, 98, 90), (10, 90, 90, 98), (2, 10, 10, 90))


def mark_svg(mark: Mark, *, mono: str | None = None, size: int = 100) -> bytes:
    """The mark as a standalone SVG document (``mono``: one colour, as for Safari's mask-icon)."""
    colour, accent, inner = (mono, mono, "#ffffff") if mono else (mark.colour, mark.accent, "#ffffff")
    bx0, by0, bx1, by1 = _BARS[mark.bar]
    body = (_shape_svg(mark.outer, _OUTER, colour) + _shape_svg(mark.inner, _INNER, inner)
            + f'<rect x="{bx0}" y="{by0}" width="{bx1 - bx0}" height="{by1 - by0}" fill="{accent}"/>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" width="{size}" height="{size}">'
            f"{body}</svg>").encode()


def sprite_sheet(mark: Mark) -> bytes:
    """An icon sprite file as sites serve them (hidden, symbols only): UI icons and the mark as ``#logo``."""
    body = mark_svg(mark).decode()
    body = body[body.index(">") + 1:body.rindex("</svg>")]
    return ('<svg xmlns="http://www.w3.org/2000/svg" style="display:none">'
            '<symbol id="icon-search" viewBox="0 0 24 24"><circle cx="10" cy="10" r="7" fill="none" stroke="#333"/>'
            '</symbol><symbol id="icon-cart" viewBox="0 0 24 24"><path d="M2 4h20l-3 10H5z" fill="#333"/></symbol>'
            f'<symbol id="logo" viewBox="0 0 100 100">{body}</symbol></svg>').encode()


def inline_svg(mark: Mark) -> str:
    """The same mark as an ``<svg>`` element to paste into a page."""
    return mark_svg(mark).decode().replace("<svg ", '<svg class="site-logo" role="img" ', 1)


@lru_cache(maxsize=4096)
def mark_image(mark: Mark, size: int, background: str | None = None) -> Image.Image:
    """The mark drawn with Pillow at ``size`` pixels (transparent unless ``background``)."""
    image = Image.new("RGBA", (size, size), background or (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    scale = size / 100

    def box(b: tuple[int, int, int, int]) -> tuple[float, ...]:
        return tuple(v * scale for v in b)

    _shape_draw(draw, mark.outer, box(_OUTER), mark.colour, scale)
    _shape_draw(draw, mark.inner, box(_INNER), "#ffffff", scale)
    draw.rectangle(box(_BARS[mark.bar]), fill=mark.accent)
    return image


@lru_cache(maxsize=4096)
def mark_bytes(mark: Mark, fmt: str, size: int = 200) -> bytes:
    """Encode the mark: svg, png, gif (animated, two frames), ico (16/32/48), webp, jpeg (white background)."""
    if fmt == "svg":
        return mark_svg(mark, size=size)
    out = io.BytesIO()
    image = mark_image(mark, size)
    if fmt == "png":
        image.save(out, "PNG")
    elif fmt == "gif":
        frames = [image, mark_image(mark, size, background="#ffffff")]
        frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=400, loop=0)
    elif fmt == "ico":
        mark_image(mark, 48).save(out, "ICO", sizes=[(16, 16), (32, 32), (48, 48)])
    elif fmt == "webp":
        image.save(out, "WEBP", quality=90)
    elif fmt == "jpeg":
        mark_image(mark, size, background="#ffffff").convert("RGB").save(out, "JPEG", quality=90)
    else:
        raise ValueError(f"unknown logo format {fmt}")
    return out.getvalue()


@lru_cache(maxsize=64)
def banner_jpeg(seed: int, width: int = 960, height: int = 320) -> bytes:
    """A hero/carousel banner: a photo-like gradient, never anyone's logo."""
    rng = random.Random(seed)
    base = Image.linear_gradient("L").resize((width, height))
    tint = Image.new("RGB", (width, height), rng.choice(_PALETTE))
    image = Image.blend(Image.merge("RGB", (base, base.rotate(180), base)), tint, 0.45)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


def pixel_gif() -> bytes:
    """The classic 1x1 transparent GIF used as a lazy-loading placeholder."""
    out = io.BytesIO()
    Image.new("P", (1, 1), 0).save(out, "GIF", transparency=0)
    return out.getvalue()


def pixel_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (1, 1), (0, 0, 0, 0)).save(out, "PNG")
    return out.getvalue()
