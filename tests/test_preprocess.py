"""Preprocessing: background choice, trimming, square padding, normalisation, decoding failures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from indexer.dataset import read_one
from indexer.preprocess import (
    DARK,
    LIGHT,
    composite,
    load_logo,
    normalise,
    phash_hex,
    prepare,
    preprocess,
)
from indexer.synthetic import draw_logo, png_bytes


def _on_transparent(colour: tuple[int, int, int], size=(120, 80), box=(20, 20, 100, 60)) -> Image.Image:
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle(box, fill=colour + (255,))
    return image


def test_light_logo_gets_dark_background_and_dark_logo_light_one() -> None:
    white_logo, background = composite(_on_transparent((250, 250, 250)))
    assert background == DARK
    assert white_logo.getpixel((0, 0)) == DARK  # the transparent corner
    assert white_logo.getpixel((60, 40)) == (250, 250, 250)
    navy_logo, background = composite(_on_transparent((10, 20, 90)))
    assert background == LIGHT
    assert navy_logo.getpixel((0, 0)) == LIGHT


def test_background_follows_alpha_weighted_brightness_not_the_hidden_colour() -> None:
    # Fully transparent pixels hold black RGB (as many exporters write them): they must not darken the estimate.
    image = _on_transparent((255, 255, 255), box=(50, 30, 70, 50))
    assert composite(image)[1] == DARK


def test_transparent_margins_are_trimmed_and_result_is_square_without_stretch() -> None:
    wide = _on_transparent((200, 0, 0), size=(400, 300), box=(100, 125, 299, 174))  # 200 x 50 bar, wide margins
    square = prepare(wide)
    assert square.size == (200, 200)
    red = np.asarray(square)[..., 0] > 128
    rows, cols = np.where(red & (np.asarray(square)[..., 1] < 50))
    height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert (width, height) == (200, 50)  # the bar keeps its 4:1 shape
    assert square.getpixel((0, 0)) == LIGHT  # padded with the background, centred
    assert rows.min() == 75


def test_opaque_white_margin_is_trimmed_like_transparent_one() -> None:
    tight = draw_logo(3, size=(120, 60), transparent=False, margin=0)
    padded = Image.new("RGBA", (300, 200), (255, 255, 255, 255))
    padded.paste(tight, (90, 70))
    a, b = preprocess(tight), preprocess(padded)
    assert torch.allclose(a, b, atol=0.35)
    assert phash_hex(tight) == phash_hex(padded)


def test_logo_running_to_the_edge_is_not_trimmed() -> None:
    stripes = Image.new("RGBA", (90, 30))
    draw = ImageDraw.Draw(stripes)
    for index, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        draw.rectangle((index * 30, 0, index * 30 + 29, 29), fill=colour + (255,))
    assert prepare(stripes).size == (90, 90)


def test_tensor_shape_dtype_and_imagenet_normalisation() -> None:
    from torchvision.models import ResNet50_Weights

    transforms = ResNet50_Weights.IMAGENET1K_V2.transforms()
    tensor = preprocess(Image.new("RGB", (50, 20), (255, 255, 255)))
    assert tensor.shape == (3, 224, 224) and tensor.dtype == torch.float32
    expected = (1 - torch.tensor(transforms.mean)) / torch.tensor(transforms.std)
    assert torch.allclose(tensor[:, 100, 100], expected, atol=1e-5)


def test_every_mode_loads_as_rgba(tmp_path) -> None:
    base = draw_logo(5)
    for mode in ("P", "LA", "L", "RGB", "1"):
        path = tmp_path / f"logo-{mode}.png"
        base.convert(mode).save(path)
        image = load_logo(path)
        assert image.mode == "RGBA" and image.size == base.size
        assert preprocess(image).shape == (3, 224, 224)


def test_indexer_reader_uses_the_same_preprocessing_as_queries(tmp_path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(png_bytes(draw_logo(11)))
    loaded = read_one("a.example", path)
    assert loaded.domain == "a.example" and loaded.reason is None
    assert loaded.tensor.dtype == torch.uint8  # workers hand over pixels; the model's device normalises them
    assert torch.equal(normalise(loaded.tensor), preprocess(load_logo(path)))  # bit for bit
    assert loaded.phash == phash_hex(load_logo(path)) and len(loaded.phash) == 16


@pytest.mark.parametrize(("content", "reason"), [
    (None, "file_missing"),
    (b"<html>not a logo</html>", "not_an_image"),
    ("truncated", "decode_failed"),
])
def test_bad_files_become_reasons(tmp_path, content, reason) -> None:
    path = tmp_path / "bad.png"
    if content == "truncated":
        data = png_bytes(draw_logo(2, size=(300, 200)))
        content = data[: len(data) // 2]
    if content is not None:
        path.write_bytes(content)
    loaded = read_one("bad.example", path)
    assert loaded.tensor is None and loaded.reason is not None
    assert loaded.reason.split(":")[0] == reason
