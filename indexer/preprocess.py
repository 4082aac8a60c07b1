"""Logo preprocessing shared by indexing and querying: composite, trim, pad square, resize, normalise."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageChops

if TYPE_CHECKING:
    import torch

# torch is imported where a tensor is made, not here: the near-duplicate features (indexer.features) share this
# module's trimming, and grouping, explaining and a query's conversion need no torch (it maps ~0.5 GB).

SIZE = 224
# Larger inputs are shrunk first: trimming a 4000 px raster costs far more than it changes the result.
WORK_SIZE = 4 * SIZE
DARK, LIGHT = (0, 0, 0), (255, 255, 255)
# Logos whose opaque pixels are brighter than this (sRGB luma, 0..1) are drawn for dark pages; on white
# they would almost vanish, so they get a dark background. Most logos target light pages: white wins ties.
LIGHT_LOGO_LUMA = 0.6
# Pixels within this distance (0..255, per channel max) of the margin colour count as margin (JPEG noise).
MARGIN_TOLERANCE = 24
# The frame is a uniform margin when this share of its pixels matches its median colour.
UNIFORM_FRAME_SHARE = 0.9


@lru_cache(maxsize=1)
def _mean_std() -> tuple[torch.Tensor, torch.Tensor]:
    """ImageNet statistics taken from the weights' own transforms, not retyped."""
    import torch
    from torchvision.models import ResNet50_Weights

    transforms = ResNet50_Weights.IMAGENET1K_V2.transforms()
    return (torch.tensor(transforms.mean).view(3, 1, 1), torch.tensor(transforms.std).view(3, 1, 1))


def load_logo(path: str | Path) -> Image.Image:
    """Decode fully now (a truncated file raises here, not later) and return RGBA."""
    with Image.open(path, formats=["PNG"]) as image:  # logos/ holds our own PNGs: no other decoder is reached
        image.load()
        return image.convert("RGBA")


def logo_luma(image: Image.Image) -> float:
    """Alpha-weighted mean luma (0..1) of the visible pixels; 0.0 for a fully transparent image."""
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
    alpha = rgba[..., 3] / 255.0
    weight = float(alpha.sum())
    if weight == 0.0:
        return 0.0
    luma = rgba[..., 0] * 0.299 + rgba[..., 1] * 0.587 + rgba[..., 2] * 0.114
    return float((luma * alpha).sum() / weight / 255.0)


def background_for(image: Image.Image) -> tuple[int, int, int]:
    """Light logos go on a dark background, everything else on white."""
    return DARK if logo_luma(image) > LIGHT_LOGO_LUMA else LIGHT


def composite(image: Image.Image) -> tuple[Image.Image, tuple[int, int, int]]:
    """Flatten transparency onto the background the logo's own brightness calls for.

    Returns the RGB picture and the background used (white for an opaque picture: nothing shows through).
    """
    rgba = image.convert("RGBA")
    if rgba.width * rgba.height > WORK_SIZE * WORK_SIZE:
        rgba.thumbnail((WORK_SIZE, WORK_SIZE), Image.Resampling.LANCZOS)
    if rgba.getextrema()[3][0] == 255:
        return rgba.convert("RGB"), LIGHT
    background = background_for(rgba)
    flat = Image.new("RGBA", rgba.size, background + (255,))
    flat.alpha_composite(rgba)
    return flat.convert("RGB"), background


def _margin_colour(rgb: Image.Image) -> tuple[int, int, int] | None:
    """The colour of a uniform outer frame, or None when the logo runs to the edge in several colours."""
    pixels = np.asarray(rgb, dtype=np.int16)
    frame = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    median = np.median(frame, axis=0)
    close = np.abs(frame - median).max(axis=1) <= MARGIN_TOLERANCE
    if close.mean() < UNIFORM_FRAME_SHARE:
        return None
    return tuple(int(v) for v in median)  # type: ignore[return-value]


def trim(rgb: Image.Image, background: tuple[int, int, int] = LIGHT
         ) -> tuple[Image.Image, tuple[int, int, int]]:
    """Cut away a uniform margin; returns the content and the colour to pad with."""
    margin = _margin_colour(rgb)
    if margin is None:
        return rgb, background
    difference = ImageChops.difference(rgb, Image.new("RGB", rgb.size, margin)).convert("L")
    mask = difference.point(lambda value: 255 if value > MARGIN_TOLERANCE else 0)
    box = mask.getbbox()
    return (rgb.crop(box) if box else rgb), margin


def pad_square(rgb: Image.Image, fill: tuple[int, int, int]) -> Image.Image:
    """Centre on a square canvas: aspect ratio kept, never stretched."""
    side = max(rgb.size)
    if rgb.width == rgb.height:
        return rgb
    canvas = Image.new("RGB", (side, side), fill)
    canvas.paste(rgb, ((side - rgb.width) // 2, (side - rgb.height) // 2))
    return canvas


def prepare(image: Image.Image) -> Image.Image:
    """The square RGB picture the model sees (before resizing and normalisation)."""
    content, fill = trim(*composite(image))
    return pad_square(content, fill)


def to_pixels(square: Image.Image) -> torch.Tensor:
    """(3, 224, 224) uint8: what the indexer's workers hand over (a quarter of float32's bytes to copy)."""
    import torch

    resized = square.resize((SIZE, SIZE), Image.Resampling.BICUBIC, reducing_gap=3.0)
    return torch.from_numpy(np.array(resized, dtype=np.uint8)).permute(2, 0, 1)


def normalise(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (..., 3, H, W) -> float32 ImageNet-normalised, on the pixels' own device (a GPU, in bulk)."""
    mean, std = _mean_std()
    return (pixels.float() / 255.0 - mean.to(pixels.device)) / std.to(pixels.device)


def to_tensor(square: Image.Image) -> torch.Tensor:
    return normalise(to_pixels(square))


def preprocess(image: Image.Image) -> torch.Tensor:
    """(3, 224, 224) float32, ImageNet-normalised: the one path for both indexing and querying."""
    return to_tensor(prepare(image))


def preprocess_pixels(image: Image.Image) -> torch.Tensor:
    """The same picture as ``preprocess``, before normalisation (uint8): ``normalise`` finishes it."""
    return to_pixels(prepare(image))


def phash_hex(image: Image.Image) -> str:
    """Perceptual hash (hex) of the same prepared picture the model sees."""
    return _phash(prepare(image))


def _phash(square: Image.Image) -> str:
    import imagehash

    return str(imagehash.phash(square))


def preprocess_with_phash(image: Image.Image) -> tuple[torch.Tensor, str]:
    """uint8 pixels and the hash at once, preparing the picture only once (the indexer needs both)."""
    square = prepare(image)
    return to_pixels(square), _phash(square)
