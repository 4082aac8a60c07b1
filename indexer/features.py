"""Near-duplicate evidence of one logo, stored in the payload beside ``phash``: what the strong grouping tiers compare.

* ``pixels``: sha256 of the decoded picture (size + RGBA, fully transparent pixels zeroed): the same picture
  in another encoding (PNG re-saved, a data: URI, an SVG serialised differently) has the same digest.
* ``nhash``: perceptual hashes (DCT phash + gradient dhash, 64 bits each, hex) of the *trimmed, unpadded*
  logo composited on the background its brightness calls for, so margins, padding, scale and JPEG noise do
  not move it; ``aspect`` (width / height of that trimmed picture) keeps a square mark apart from a word-mark
  that a 32x32 hash squashes alike.
* ``shash``: the same two hashes of the logo's *foreground mask* (pixels that differ from the margin /
  background): a recoloured, dark or light variant of a logo keeps its shape and so its mask.

Every hash is computed on a copy shrunk to ``WORK_SIDE``: the hashes look at 32x32 pixels at most.
"""

from __future__ import annotations

import hashlib
from dataclasses import MISSING, dataclass, fields

import numpy as np
from PIL import Image, ImageChops, ImageCms

from indexer.preprocess import LIGHT, MARGIN_TOLERANCE, composite

WORK_SIDE = 256
# Below this many foreground pixels (of the trimmed, shrunk picture) the mask says nothing about shape.
MIN_MASK_PIXELS = 16
# A mask covering more than MAX_FILL of its box is a box, not a shape: on the 3,318 real logos, before this
# check, boxed logos (axa, lidl, wwf, norauto, ...) met each other at distance 0 (435 cross-brand pairs
# within 8 bits); MIN_FILL drops hairlines.
MAX_FILL, MIN_FILL = 0.9, 0.02
# The margin colour of an opaque picture needs only hold this share of its frame (the model's trim asks 0.9):
# a mark touching one edge, flattened to JPEG on white, otherwise kept its whole canvas, and so another
# aspect ratio and hash than the transparent original (18 bits, aspect 1.6 against 1.7, on the family fixture).
FRAME_SHARE = 0.5
# A transparent logo with at least this share of near-white opaque pixels is flattened on black, not white.
WHITE_SHARE = 0.05
# Below this perimeter^2 / area a mask is a plain badge (disc, rounded box): on the real logos, circular badges
# of unrelated brands (CED, Toyota, TBWA, Ubicast, Skoda, Truly Nolen) met at shape distance 0-8 before it.
BADGE_PLAINNESS = 15.0
# Cells per side of the colour layout: 4x4 mean colours say which colour is where (a two-colour mark and its
# colour-swapped twin differ) while a 3 % crop moves each cell's content by an eighth of a cell at most.
COLOUR_GRID = 4
_TO_LAB = ImageCms.buildTransformFromOpenProfiles(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"),
                                                  "RGB", "LAB")


@dataclass(frozen=True)
class Features:
    pixels: str
    nhash: str  # 32 hex digits: phash (16) + dhash (16) of the trimmed picture
    shash: str  # 32 hex digits: phash + dhash of its foreground mask ("" when the mask is empty)
    aspect: float
    colour: str  # 6 * COLOUR_GRID**2 hex digits: CIELAB (8-bit L, a, b) of each grid cell, row by row
    on_white: dict[str, str | float] | None = None  # {"nhash", "aspect", "colour"} of the logo on white

    def payload(self) -> dict[str, str | float | dict[str, str | float] | None]:
        return {"pixels": self.pixels, "nhash": self.nhash, "shash": self.shash, "aspect": round(self.aspect, 4),
                "colour": self.colour, "on_white": self.on_white}


FIELDS = tuple(field.name for field in fields(Features))  # the payload fields written from these
# The fields every logo has (not None): a stored payload without one of them predates it. A null field
# (``on_white``) may be absent from what a store returns.
ALWAYS = tuple(field.name for field in fields(Features) if field.default is MISSING)


def pixel_digest(image: Image.Image) -> str:
    rgba = np.array(image.convert("RGBA"), dtype=np.uint8)
    rgba[rgba[..., 3] == 0] = 0  # invisible pixels carry whatever colour the encoder left there
    digest = hashlib.sha256(f"{image.width}x{image.height}:".encode())
    digest.update(rgba.tobytes())
    return digest.hexdigest()


def features(image: Image.Image) -> Features:
    """All near-duplicate evidence of an RGBA logo (as decoded by ``indexer.preprocess.load_logo``)."""
    small = image.convert("RGBA")
    if max(small.size) > WORK_SIDE:
        small.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS)
    content, mask = _content_and_mask(small)
    shape = _hashes(mask) if _shaped(mask) else ""
    return Features(pixel_digest(image), _hashes(content), shape, content.width / max(content.height, 1),
                    colour_layout(content), _on_white(small))


def _on_white(rgba: Image.Image) -> dict[str, str | float] | None:
    """The near-identical evidence of a transparent logo flattened on white, when its white parts sent it
    onto black (``_on_contrast``) and white is what its brightness otherwise calls for; else None."""
    if rgba.getchannel("A").getextrema()[0] == 255:
        return None
    cropped = _opaque_crop(rgba)
    flat, background = composite(cropped)
    if background != LIGHT or not _white_parts(cropped):
        return None
    inner, _margin = _trim_box(flat)  # white parts at the edge are margin now, as in a JPEG on white
    content = flat.crop(inner)
    return {"nhash": _hashes(content), "aspect": round(content.width / max(content.height, 1), 4),
            "colour": colour_layout(content)}


def colour_layout(content: Image.Image) -> str:
    """The mean colour of each COLOUR_GRID x COLOUR_GRID cell (box filter: an area average), as CIELAB."""
    cells = content.convert("RGB").resize((COLOUR_GRID, COLOUR_GRID), Image.Resampling.BOX)
    return ImageCms.applyTransform(cells, _TO_LAB).tobytes().hex()


def _shaped(mask: Image.Image) -> bool:
    """A mask that is nearly all foreground (a logo on its own opaque box) or nearly empty has no shape."""
    fill = np.count_nonzero(np.asarray(mask)) / max(mask.width * mask.height, 1)
    return np.count_nonzero(np.asarray(mask)) >= MIN_MASK_PIXELS and MIN_FILL <= fill <= MAX_FILL


def _content_and_mask(rgba: Image.Image) -> tuple[Image.Image, Image.Image]:
    """The trimmed picture and its shape: the alpha channel where the logo has one (colours do not matter,
    white parts inside a coloured mark included), else the pixels that differ from the uniform margin."""
    if rgba.getchannel("A").getextrema()[0] < 255:
        cropped = _opaque_crop(rgba)
        content = _on_contrast(cropped)
        inner, _margin = _trim_box(content)  # an opaque picture with its own margin, padded with transparency
        content = content.crop(inner)
        mask = cropped.getchannel("A").crop(inner).point(lambda v: 255 if v >= 128 else 0)
        if not _shaped(mask):  # a boxed logo: its shape is what differs from the box's colour
            box_colour = _frame_colour(content)
            mask = foreground_mask(content, box_colour) if box_colour else mask
        return content, _inside_badge(content, mask)
    rgb = rgba.convert("RGB")
    box, margin = _trim_box(rgb)
    content = rgb.crop(box)
    return content, _inside_badge(content, foreground_mask(content, margin or LIGHT))


def _opaque_crop(rgba: Image.Image) -> Image.Image:
    """A transparent logo cut to the box of its visible pixels (the whole picture when none are)."""
    box = rgba.getchannel("A").point(lambda value: 255 if value > MARGIN_TOLERANCE else 0).getbbox()
    return rgba.crop(box) if box else rgba


def _inside_badge(content: Image.Image, mask: Image.Image) -> Image.Image:
    """A silhouette as plain as a disc or a rounded box is a badge, not a shape: what differs from the badge's
    own main colour is (the letters inside a circle). Plainness is boundary pixels^2 / area: 3.8-10 for the
    real round badges below, 34-123 for the marks of the family fixture, more for a word-mark."""
    on = np.asarray(mask) > 0
    area = int(on.sum())
    if area < MIN_MASK_PIXELS:
        return mask
    inner = on.copy()
    inner[1:, :] &= on[:-1, :]
    inner[:-1, :] &= on[1:, :]
    inner[:, 1:] &= on[:, :-1]
    inner[:, :-1] &= on[:, 1:]
    perimeter = area - int(inner.sum())
    if perimeter * perimeter / area >= BADGE_PLAINNESS:
        return mask
    pixels = np.asarray(content, dtype=np.int16)
    main = np.median(pixels[on], axis=0)
    differs = (np.abs(pixels - main).max(axis=2) > MARGIN_TOLERANCE) & on
    return Image.fromarray((differs * 255).astype(np.uint8), "L")


def _frame_colour(rgb: Image.Image) -> tuple[int, int, int] | None:
    """The colour of most of the outer frame (FRAME_SHARE), or None when no colour holds that much of it."""
    pixels = np.asarray(rgb, dtype=np.int16)
    frame = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    median = np.median(frame, axis=0)
    if (np.abs(frame - median).max(axis=1) <= MARGIN_TOLERANCE).mean() < FRAME_SHARE:
        return None
    return tuple(int(v) for v in median)  # type: ignore[return-value]


def _on_contrast(rgba: Image.Image) -> Image.Image:
    """Flatten where every part stays visible: white parts of a transparent logo vanish on white (two demo
    brands, a ring around a white ring and a ring around white bars, were 1 bit apart), so a logo with a
    share of near-white pixels goes on black; otherwise on the background its brightness calls for."""
    if _white_parts(rgba):
        flat = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        flat.alpha_composite(rgba)
        return flat.convert("RGB")
    return composite(rgba)[0]


def _white_parts(rgba: Image.Image) -> bool:
    """At least WHITE_SHARE of the opaque pixels are near-white."""
    pixels = np.asarray(rgba)
    opaque = pixels[..., 3] >= 128
    white = opaque & (pixels[..., :3].min(axis=2) >= 255 - MARGIN_TOLERANCE)
    return bool(opaque.any() and white.sum() / opaque.sum() >= WHITE_SHARE)


def _trim_box(rgb: Image.Image) -> tuple[tuple[int, int, int, int], tuple[int, int, int] | None]:
    """The box inside a uniform margin (the whole picture when there is none) and the margin's colour."""
    margin = _frame_colour(rgb)
    whole = (0, 0, rgb.width, rgb.height)
    if margin is None:
        return whole, None
    box = foreground_mask(rgb, margin).getbbox()
    return (box or whole), margin


def foreground_mask(content: Image.Image, margin: tuple[int, int, int] = LIGHT) -> Image.Image:
    """White where the picture differs from its margin colour: the logo's shape, whatever its colours."""
    difference = ImageChops.difference(content, Image.new("RGB", content.size, margin)).convert("L")
    return difference.point(lambda value: 255 if value > MARGIN_TOLERANCE else 0)


def _hashes(picture: Image.Image) -> str:
    import imagehash

    return f"{imagehash.phash(picture)}{imagehash.dhash(picture)}"
