"""convert.topng: real files made by code in every format, messy and hostile SVGs, the real corpus."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from helpers_http import serve_files
from helpers_images import (
    BLACK,
    BLUE,
    RED,
    animated_gif,
    encode,
    ico,
    logo,
    near,
    open_rgba,
    pixel,
    png,
    png_bomb,
    solid,
)
from PIL import Image, features

from common.errors import ConvertError
from convert import MAX_INPUT_BYTES, to_png
from convert.formats import decode_data_uri

SVG_NS = 'xmlns="http://www.w3.org/2000/svg"'
# A red square left, a blue square right: 2:1, easy to check where things land.
BODY = '<rect x="0" y="0" width="50" height="50" fill="#d01e1e"/><rect x="50" y="0" width="50" height="50" fill="#1e3cdc"/>'
SHIFTED_BODY = BODY.replace('x="0"', 'x="20"')


def reason(data: bytes, **kwargs: int) -> str:
    with pytest.raises(ConvertError) as caught:
        to_png(data, **kwargs)
    return caught.value.reason


def converted(data: bytes, fmt: str | None = None, **kwargs: int) -> Image.Image:
    result = to_png(data, **kwargs)
    image = open_rgba(result.png)
    assert (result.width, result.height) == image.size
    if fmt:
        assert result.format == fmt
    return image


# -- rasters ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, name", [("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp"), ("BMP", "bmp"),
                                       ("TIFF", "tiff"), ("GIF", "gif")])
def test_raster_formats_keep_size_and_content(fmt: str, name: str) -> None:
    image = converted(encode(logo((96, 64)), fmt), name)
    assert image.size == (96, 64)
    assert near(pixel(image, 0.3, 0.5)[:3], RED)
    assert near(pixel(image, 0.65, 0.5)[:3], BLACK)


@pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF")
def test_avif() -> None:
    image = converted(encode(logo((96, 64)), "AVIF", quality=90), "avif")
    assert near(pixel(image, 0.3, 0.5)[:3], RED, 60)


def test_png_keeps_alpha() -> None:
    image = converted(png(logo((96, 64))), "png")
    assert pixel(image, 0.02, 0.02)[3] == 0
    assert pixel(image, 0.3, 0.5)[3] == 255


def test_animated_gif_gives_first_frame() -> None:
    image = converted(animated_gif(RED, BLUE), "gif")
    assert near(pixel(image, 0.3, 0.5)[:3], RED)


def test_ico_largest_size_wins() -> None:
    image = converted(ico((16, 32, 64)), "ico")
    assert image.size == (64, 64)


def test_favicon_16_is_not_a_placeholder() -> None:
    assert converted(png(logo((16, 16))), "png").size == (16, 16)


def test_big_raster_is_downscaled_keeping_aspect_small_one_is_not_upscaled() -> None:
    assert converted(png(logo((2000, 1000)))).size == (512, 256)
    assert converted(encode(logo((3000, 1500)), "JPEG")).size == (512, 256)
    assert converted(png(logo((40, 30)))).size == (40, 30)
    assert converted(png(logo((2000, 1000))), max_side=128).size == (128, 64)


def test_format_comes_from_bytes_not_names() -> None:
    # What the real corpus has: WebP saved as .png, PNG saved as .ico; to_png never sees a name.
    assert to_png(encode(logo(), "WEBP")).format == "webp"
    assert to_png(png()).format == "png"


def test_output_is_deterministic() -> None:
    data = encode(logo((700, 300)), "JPEG")
    assert to_png(data).png == to_png(data).png
    first = to_png(data)
    assert first.sha256 == to_png(data).sha256 and len(first.sha256) == 64


# -- rejects ---------------------------------------------------------------------------------------------
def test_png_decompression_bomb_is_too_large() -> None:
    assert reason(png_bomb(30000)) == "too_large"
    assert reason(png_bomb(8000)) == "too_large"  # under Pillow's own limit, over ours


def test_oversized_input_is_refused_before_parsing() -> None:
    assert reason(b"\x89PNG\r\n\x1a\n" + b"\x00" * MAX_INPUT_BYTES) == "too_large"


@pytest.mark.parametrize("data, expected", [
    (b"", "not_an_image"),
    (b"   \n", "not_an_image"),
    (bytes(range(256)) * 4, "not_an_image"),
    (b"<?xml version='1.0'?><Error><Code>AccessDenied</Code></Error>", "not_an_image"),
    (b"<!DOCTYPE html><html><head><title>404</title></head><body>Not found</body></html>", "html_not_image"),
    (b"\n<html><body><p>Please enable cookies</p></body></html>", "html_not_image"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "decode_failed"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "unsupported_format"),
])
def test_not_images(data: bytes, expected: str) -> None:
    assert reason(data) == expected


def test_truncated_png_fails_with_reason() -> None:
    data = png(logo((200, 200)))
    assert reason(data[: len(data) // 2]) == "decode_failed"


def test_html_page_with_an_icon_is_not_a_logo() -> None:
    page = ("<!DOCTYPE html><html><body><h1>Page not found</h1>" + "<p>Sorry, lorem ipsum dolor.</p>" * 20
            + f'<svg {SVG_NS} width="10" height="10"><rect width="10" height="10"/></svg></body></html>')
    assert reason(page.encode()) == "html_not_image"


@pytest.mark.parametrize("data, expected", [
    (solid((1, 1), (0, 0, 0, 255)), "placeholder_tiny"),
    (png(logo((300, 10))), "placeholder_tiny"),
    (solid((64, 64), (255, 0, 0, 0)), "placeholder_transparent"),
    (solid((64, 64), (255, 255, 255, 255)), "placeholder_blank"),
    (encode(Image.new("RGBA", (64, 64), (0, 80, 160, 255)), "JPEG"), "placeholder_blank"),
    (f'<svg {SVG_NS} width="100" height="100"></svg>'.encode(), "placeholder_transparent"),
    (f'<svg {SVG_NS} width="100" height="100"><rect width="100" height="100" fill="#fff"/></svg>'.encode(),
     "placeholder_blank"),
])
def test_placeholders(data: bytes, expected: str) -> None:
    assert reason(data) == expected


@pytest.mark.parametrize("data, warning", [
    (solid((1, 1), (0, 0, 0, 255)), "placeholder_tiny"),
    (png(logo((300, 10))), "placeholder_tiny"),
    (solid((64, 64), (255, 255, 255, 255)), "placeholder_blank"),
    (encode(Image.new("RGBA", (32, 32), (255, 255, 255, 255)), "ICO"), "placeholder_blank"),
    (png(logo((120, 80))), None),
])
def test_kept_placeholders_convert_with_a_warning(data: bytes, warning: str | None) -> None:
    """`logosim import` keeps a picture its user called a logo, flagged; the crawler refuses it (above)."""
    converted = to_png(data, keep_placeholders=True)
    assert converted.warning == warning
    assert open_rgba(converted.png).size == (converted.width, converted.height)


@pytest.mark.parametrize("data", [
    solid((64, 64), (255, 0, 0, 0)),
    solid((1, 1), (0, 0, 0, 0)),  # the classic transparent pixel: nothing visible, not merely tiny
    f'<svg {SVG_NS} width="100" height="100"></svg>'.encode(),
])
def test_nothing_visible_is_refused_even_when_placeholders_are_kept(data: bytes) -> None:
    with pytest.raises(ConvertError) as caught:
        to_png(data, keep_placeholders=True)
    assert caught.value.reason == "placeholder_transparent"


# -- data: URIs and wrapped text ---------------------------------------------------------------------------
def test_decode_data_uri_base64_and_percent() -> None:
    raw = png()
    assert decode_data_uri("data:image/png;base64," + base64.b64encode(raw).decode()) == raw
    assert decode_data_uri(" DATA:image/png;BASE64," + base64.b64encode(raw).decode().rstrip("=") + " ") == raw
    svg = f'<svg {SVG_NS} viewBox="0 0 10 10"><path d="M0 0h5v5z" fill="#f00"/></svg>'
    assert decode_data_uri("data:image/svg+xml," + quote(svg)) == svg.encode()
    assert decode_data_uri("data:image/svg+xml;utf8," + svg.replace("#", "%23")) == svg.encode()


@pytest.mark.parametrize("uri", ["image/png;base64,AAAA", "data:image/png;base64", "data:,",
                                 "data:image/png;base64,@@@@####"])
def test_bad_data_uris(uri: str) -> None:
    with pytest.raises(ConvertError) as caught:
        decode_data_uri(uri)
    assert caught.value.reason == "bad_data_uri"


def test_data_uri_and_encoded_text_saved_as_files() -> None:
    svg = f'<svg {SVG_NS} width="100" height="50">{BODY}</svg>'
    wrapped = [
        ("data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()).encode(),
        ("data:image/svg+xml," + quote(svg)).encode(),
        quote(svg).encode(),  # percent-encoded text without its data: header
        base64.b64encode(svg.encode()),  # bare base64
    ]
    for data in wrapped:
        image = converted(data, "svg")
        assert image.size == (512, 256)
        assert near(pixel(image, 0.75, 0.5)[:3], BLUE)
    # bare base64 of a PNG, with line breaks
    assert converted(base64.encodebytes(png(logo((100, 50)))), "png").size == (100, 50)


def test_svgz() -> None:
    svg = f'<svg {SVG_NS} width="100" height="50">{BODY}</svg>'
    assert converted(gzip.compress(svg.encode()), "svg").size == (512, 256)


# -- messy SVGs --------------------------------------------------------------------------------------------
MESSY = {
    "plain": f'<svg {SVG_NS} width="100" height="50">{BODY}</svg>',
    "no_xmlns": f'<svg width="100" height="50">{BODY}</svg>',
    "wrong_xmlns": f'<svg xmlns="http://www.w3.org/2000/svg/" width="100" height="50">{BODY}</svg>',
    "lowercase_viewbox": f"<svg viewbox='0 0 100 50'>{BODY}</svg>",
    "viewbox_only": f'<svg {SVG_NS} viewBox="0 0 100 50">{BODY}</svg>',
    "viewbox_commas": f'<svg {SVG_NS} viewBox="0,0,100,50" width="100%" height="100%">{BODY}</svg>',
    "no_size_no_viewbox": f"<svg {SVG_NS}>{SHIFTED_BODY}</svg>",
    "percent_size": f'<svg {SVG_NS} width="100%" height="100%" viewBox="0 0 100 50">{BODY}</svg>',
    "em_size": f'<svg {SVG_NS} width="10em" height="5em" viewBox="0 0 100 50">{BODY}</svg>',
    "px_one_side": f'<svg {SVG_NS} width="200px" viewBox="0 0 100 50">{BODY}</svg>',
    "mm_no_viewbox": f'<svg {SVG_NS} width="26.458mm" height="13.229mm">{BODY}</svg>',
    "style_size": f'<svg {SVG_NS} style="width:100px;height:50px" viewBox="0 0 100 50">{BODY}</svg>',
    "huge_declared": f'<svg {SVG_NS} width="200000" height="100000" viewBox="0 0 100 50">{BODY}</svg>',
    "huge_viewbox": (f'<svg {SVG_NS} viewBox="0 0 200000 100000"><rect width="100000" height="100000" '
                     f'fill="#d01e1e"/><rect x="100000" width="100000" height="100000" fill="#1e3cdc"/></svg>'),
    "prolog": ('\ufeff<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n<!-- Generator: x -->\n'
               '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
               f'<svg {SVG_NS} width="100" height="50">{BODY}</svg>'),
    "illustrator_entities": ('<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY ns_svg "http://www.w3.org/2000/svg">'
                             '<!ENTITY ns_xlink "http://www.w3.org/1999/xlink">]>'
                             f'<svg xmlns="&ns_svg;" xmlns:xlink="&ns_xlink;" width="100" height="50">{BODY}</svg>'),
    "html_wrapped": (f'<!DOCTYPE html><html><head><title>logo</title></head><body><svg width="100" height="50">'
                     f'{BODY}</svg></body></html>'),
    "unbound_prefixes": (f'<svg {SVG_NS} width="100" height="50"><g serif:id="Layer 1" sketch:type="x">{BODY}'
                         '</g><use xlink:href="#r" x="0"/></svg>'),
    "prefixed_root": ('<svg:svg xmlns:svg="http://www.w3.org/2000/svg" width="100" height="50">'
                      '<svg:rect width="50" height="50" fill="#d01e1e"/>'
                      '<svg:rect x="50" width="50" height="50" fill="#1e3cdc"/></svg:svg>'),
    "lying_encoding": f'<?xml version="1.0" encoding="UTF-16"?><svg width="100" height="50">{BODY}</svg>',
    "uppercase_tags": '<SVG width="100" height="50"><RECT width="50" height="50" fill="#d01e1e"/>'
                      '<rect x="50" width="50" height="50" fill="#1e3cdc"/></SVG>',
}


@pytest.mark.parametrize("name", sorted(MESSY))
def test_messy_svgs_render_red_left_blue_right(name: str) -> None:
    image = converted(MESSY[name].encode("utf-8"), "svg")
    assert max(image.size) == 512
    if name != "no_size_no_viewbox":
        assert image.size == (512, 256)
    assert near(pixel(image, 0.25, 0.5)[:3], RED), pixel(image, 0.25, 0.5)
    assert near(pixel(image, 0.75, 0.5)[:3], (30, 60, 220)), pixel(image, 0.75, 0.5)


def test_svg_declaring_200000_square_renders_at_max_side() -> None:
    svg = f'<svg {SVG_NS} width="200000" height="200000"><circle cx="100000" cy="100000" r="50000"/></svg>'
    image = converted(svg.encode(), max_side=256)
    assert image.size == (256, 256)
    assert pixel(image, 0.5, 0.5) == (0, 0, 0, 255) and pixel(image, 0.05, 0.05)[3] == 0


def test_svg_without_size_or_viewbox_is_cropped_to_its_content() -> None:
    image = converted(f'<svg {SVG_NS}><circle cx="130" cy="40" r="10" fill="#000"/></svg>'.encode())
    # The 20x20 circle fills the output instead of being a dot in a default 300x150 viewport.
    assert image.size[0] >= 480 and image.size[1] >= 480
    assert pixel(image, 0.5, 0.5)[3] == 255


def test_current_color_is_black_or_inherited() -> None:
    black = converted(f'<svg {SVG_NS} viewBox="0 0 10 10"><path d="M0 0h10v10H0z" fill="currentColor"/>'
                      f'<path d="M0 0h1v1z" fill="#fff"/></svg>'.encode())
    assert near(pixel(black, 0.5, 0.5), (0, 0, 0, 255), 5)
    inherited = converted(f'<svg {SVG_NS} viewBox="0 0 10 10" style="color:#1e3cdc"><g>'
                          f'<path d="M0 0h10v10H0z" style="fill:currentcolor"/></g><path d="M0 0h1v1z" fill="#fff"/>'
                          f'</svg>'.encode())
    assert near(pixel(inherited, 0.5, 0.5)[:3], (30, 60, 220), 5)


def test_white_on_transparent_keeps_alpha() -> None:
    image = converted(f'<svg {SVG_NS} viewBox="0 0 10 10"><circle cx="5" cy="5" r="4" fill="#fff"/></svg>'.encode())
    assert pixel(image, 0.5, 0.5) == (255, 255, 255, 255)
    assert pixel(image, 0.02, 0.02)[3] == 0


def test_symbol_sprite_draws_its_logo_symbol() -> None:
    sprite = (f'<svg {SVG_NS} style="display:none"><defs><symbol id="icon-x" viewBox="0 0 10 10"><path d="M0 0h10v10z"/>'
              f'</symbol><symbol id="site-logo" viewBox="0 0 100 50">{BODY}</symbol></defs></svg>')
    image = converted(sprite.encode())
    assert image.size == (512, 256)
    assert near(pixel(image, 0.75, 0.5)[:3], (30, 60, 220))


def test_embedded_data_uri_raster_is_drawn() -> None:
    inner = base64.b64encode(png(Image.new("RGBA", (20, 10), (30, 60, 220, 255)))).decode()
    svg = (f'<svg width="100" height="50"><rect width="50" height="50" fill="#d01e1e"/>'
           f'<image x="50" width="50" height="50" preserveAspectRatio="none" xlink:href="data:image/png;base64,{inner}"/></svg>')
    image = converted(svg.encode())
    assert near(pixel(image, 0.75, 0.5)[:3], (30, 60, 220))


def test_embedded_data_uri_svg_is_repaired_and_drawn() -> None:
    inner = quote('<svg viewBox="0 0 10 10"><rect width="10" height="10" fill="#1e3cdc"/></svg>')
    svg = (f'<svg width="100" height="50"><rect width="50" height="50" fill="#d01e1e"/>'
           f'<image x="50" width="50" height="50" href="data:image/svg+xml,{inner}"/></svg>')
    image = converted(svg.encode())
    assert near(pixel(image, 0.75, 0.5)[:3], (30, 60, 220), 5)


def test_embedded_bomb_is_not_decoded() -> None:
    inner = base64.b64encode(png_bomb(8000)).decode()
    svg = (f'<svg {SVG_NS} width="100" height="50">{BODY}'
           f'<image width="100" height="50" href="data:image/png;base64,{inner}"/></svg>')
    image = converted(svg.encode())
    assert near(pixel(image, 0.25, 0.5)[:3], (208, 30, 30))  # drawn without the (black) bomb on top


# -- hostile SVGs ------------------------------------------------------------------------------------------
def test_entity_bomb_is_refused() -> None:
    lol = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
    bomb = f'<?xml version="1.0"?><!DOCTYPE svg [{lol}]><svg {SVG_NS} width="10" height="10"><text>&lol9;</text></svg>'
    assert reason(bomb.encode()) == "svg_entities"


def test_external_entity_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    svg = (f'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file://{secret}">]>'
           f'<svg {SVG_NS} width="10" height="10"><text>&x;</text></svg>')
    assert reason(svg.encode()) == "svg_entities"


@pytest.fixture()
def recording_server():
    """A real HTTP server on loopback that records every request it gets."""
    with serve_files({}, default=png(Image.new("RGBA", (100, 50), (*RED, 255)))) as served:
        yield served


def test_svg_never_reads_files_or_fetches(tmp_path: Path, recording_server, monkeypatch) -> None:
    base, hits = recording_server
    red = tmp_path / "red.png"
    red.write_bytes(png(Image.new("RGBA", (100, 50), (255, 0, 0, 255))))
    red_svg = tmp_path / "red.svg"
    red_svg.write_text(f'<svg {SVG_NS} width="100" height="50"><rect id="r" width="100" height="50" fill="#f00"/></svg>')
    monkeypatch.chdir(tmp_path)  # so that a relative href would find red.png if it were followed
    refs = [f"file://{red}", "red.png", f"{base}/x.png", "http://127.0.0.1:1/x.png", "file:///etc/passwd"]
    images = "".join(f'<image width="100" height="50" href="{ref}"/><image width="100" height="50" '
                     f'xlink:href="{ref}"/>' for ref in refs)
    svg = (f'<svg width="100" height="50"><style>@import url("{base}/a.css"); @import "file://{red}";'
           f' rect.a {{ fill: url({base}/p.svg#g) }}</style>'
           f'<rect width="50" height="50" fill="#1e3cdc"/>{images}'
           f'<use href="file://{red_svg}#r"/><use xlink:href="{base}/s.svg#r"/><use href="red.svg#r"/>'
           f'<rect class="a" width="10" height="10" style="fill:url(file://{red})"/>'
           f'<feImage href="file://{red}"/></svg>')
    image = converted(svg.encode())
    pixels = np.asarray(image).reshape(-1, 4).astype(int)
    reds = (pixels[:, 0] > 200) & (pixels[:, 1] < 80) & (pixels[:, 3] > 0)
    assert not reds.any(), "an external reference was drawn"
    assert near(pixel(image, 0.25, 0.5)[:3], (30, 60, 220), 5)
    assert pixel(image, 0.75, 0.5)[3] == 0
    assert hits == []


# -- the real corpus ---------------------------------------------------------------------------------------
# Real files that hold nothing a browser would draw: <use> of ids that are not in the file, of
# other files (refused on purpose), an empty <svg>, a sheet of social-network icons.
KNOWN_EMPTY = {"daikin.mk.svg", "daikin.rs.svg", "daikin.si.svg", "foxinaboxgoldcoast.com.svg", "kia.co.sz.svg",
               "nobleprog.ae.svg", "nobleprog.com.eg.svg", "nobleprog.com.ng.svg", "nobleprog.ro.svg"}


def test_real_svg_sample_converts(shared_data: Path) -> None:
    folder = shared_data / "real-logos" / "logos"
    svgs = sorted(p for p in folder.glob("*.svg") if p.name not in KNOWN_EMPTY)
    if not svgs:
        pytest.skip("no real SVGs")
    sample = svgs[:: max(1, len(svgs) // 150)][:150]
    failures = {}
    for path in sample:
        try:
            image = open_rgba(to_png(path.read_bytes()).png)
        except ConvertError as exc:
            failures[path.name] = exc.reason
            continue
        assert max(image.size) == 512, path.name
        assert image.getchannel("A").getextrema()[1] > 0, path.name
    assert not failures
    assert len(sample) >= min(150, len(svgs))



def test_the_workers_memory_limit_counts_from_what_it_maps_once_started() -> None:
    """A worker may allocate its budget beyond what it already maps (a spawned worker re-imports its parent's
    main module: under a script that imported torch, an absolute limit failed every logo), and no more."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import mmap, os
        from convert.pool import _init_worker
        mapped = mmap.mmap(-1, 1024 ** 3)  # a gigabyte already mapped, as torch's import maps it
        _init_worker(os.getppid(), 256 * 1024 ** 2)
        ok = bytearray(64 * 1024 ** 2)
        try:
            bytearray(1024 ** 3)
        except MemoryError:
            print("limited")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "limited", done.stderr[-500:]
