"""The rules that pick the visible brand mark on real pages (crawler.extract.brand, extract_svgfix and the
signal rules they rely on), each on a small page shaped like the real ones that needed it."""

from __future__ import annotations

import json

import pytest

from convert import to_png
from crawler.extract import find_candidates
from crawler.extract.brand import file_key, inner_url, is_tracker

PAGE = "https://www.acme.com/news/2024/05/a-story.html"
DOMAIN = "acme.com"
A = "https://www.acme.com"
HEAD = '<title>A story | Acme News</title><link rel="icon" sizes="32x32" href="/favicon-32.png">'


def page(body: str, head: str = HEAD) -> str:
    return f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>"


def best(html: str, url: str = PAGE, domain: str = DOMAIN):
    return find_candidates(html, url, domain)[0]


@pytest.mark.parametrize(("url", "tracker"), [
    ("https://pixelstudio.de/logo.png", False),
    ("https://www.acme.com/pixel-art/logo.png", False),
    ("https://cdn.acme.com/img/pixelated-logo.svg", False),
    ("https://www.facebook.com/tr?id=1&ev=PageView", True),
    ("https://www.google-analytics.com/collect?v=1", True),
    ("https://stats.acme.com/pixel.gif?u=1", True),
    ("https://sb.scorecardresearch.com/p?c1=2", True),
])
def test_trackers_are_known_hosts_and_endpoints(url: str, tracker: bool) -> None:
    assert is_tracker(url) is tracker


def test_a_site_named_pixel_keeps_its_logo() -> None:
    html = page('<header><a href="/"><img src="/logo.png" alt="Pixelstudio"></a></header>',
                '<title>Pixelstudio</title>')
    cand = best(html, "https://pixelstudio.de/", "pixelstudio.de")
    assert (cand.url, cand.source) == ("https://pixelstudio.de/logo.png", "img")


@pytest.mark.parametrize(("url", "inner"), [
    ("https://cdn.example/client/q_lossy,w_400/https://www.acme.com/img/logo.png", "https://www.acme.com/img/logo.png"),
    ("https://substackcdn.com/image/fetch/w_96,c_limit/https%3A%2F%2Fbucket.s3.amazonaws.com%2Fimages%2Fab12_640x640.png",
     "https://bucket.s3.amazonaws.com/images/ab12_640x640.png"),
    ("https://www.acme.com/_next/image?url=%2Fstatic%2Flogo.svg&w=640&q=75", "/static/logo.svg"),
    ("https://resources.acme.com/hs-fs/a.png?width=435&name=acme-logo.png", "acme-logo.png"),
    ("https://www.acme.com/img/logo.png", "https://www.acme.com/img/logo.png"),
])
def test_inner_url_sees_through_resizers(url: str, inner: str) -> None:
    assert inner_url(url) == inner


def test_one_logo_in_other_sizes_and_formats_is_one_file() -> None:
    keys = {file_key(u) for u in ("https://a.com/i/Logo-300x80.png", "https://a.com/i/logo@2x.svg",
                                 "https://cdn.x/w_400/https://a.com/img/logo_512.webp")}
    assert keys == {"logo"}
    assert file_key("https://a.com/i/logo-square.png") != "logo"


def _jsonld(logo: str) -> str:
    return '<script type="application/ld+json">' + json.dumps(
        {"@type": "NewsMediaOrganization", "name": "Acme News", "logo": logo}) + "</script>"


def test_a_svg_in_the_header_beats_the_publishers_amp_logo() -> None:
    svg = '<svg viewBox="0 0 10 10"><title>Acme News</title><path d="M0 0h10v10z" fill="#c00"/></svg>'
    html = page(f'<header class="masthead"><a href="/">{svg}</a></header>', HEAD + _jsonld("/amp/acme-amp-600x60.png"))
    cands = find_candidates(html, PAGE, DOMAIN)
    assert cands[0].source == "svg_inline"
    assert [c.source for c in cands].index("jsonld") < [c.source for c in cands].index("link_icon")  # the fallback


def test_without_a_header_logo_jsonld_still_wins() -> None:
    html = page('<header><a href="/">Acme News</a></header><main><img src="/img/section-logo.png" class="logo"></main>',
                HEAD + _jsonld("/brand/acme.png"))
    assert best(html).url == f"{A}/brand/acme.png"


def test_a_state_flag_or_a_page_slug_makes_no_section() -> None:
    logo = '<a href="/"><img src="/wp-content/uploads/acme.png" alt="Acme News"></a>'
    flagged = page(f'<header><section class="has_ae_slider elementor-section">{logo}</section></header>')
    slugged = page(f'<div class="hs-content-path-en-blog-twin-peaks-2017-using-the-social-data-audience">'
                   f'<header>{logo}</header></div>')
    for html in (flagged, slugged):
        cand = best(html)
        assert cand.url == f"{A}/wp-content/uploads/acme.png" and not cand.penalty, cand.detail


def test_a_header_named_after_its_behaviour_is_a_header() -> None:
    html = page('<div class="glide-header"><a href="/"><img src="/img/acme.svg" class="headerLogo"></a></div>'
                '<div class="carousel"><img src="/img/slide-logo.png" class="logo"></div>')
    cand = best(html)
    assert cand.url == f"{A}/img/acme.svg" and not cand.penalty, cand.detail


def test_a_navigation_box_inside_the_content_is_no_header() -> None:
    html = page('<div id="content" role="main"><p>Text</p><div role="navigation" class="sister-projects">'
                '<img src="//upload.example.org/Commons-logo.svg/40px-Commons-logo.svg.png"></div></div>')
    assert best(html).url == f"{A}/favicon-32.png"


@pytest.mark.parametrize("alt", [" ACME/Jane Doe ", "Acme Maps"])
def test_a_credit_or_a_service_naming_the_site_is_no_logo(alt: str) -> None:
    html = page(f'<div class="gallery"><a href="/pictures/1"><img src="/photos/2016/0525.jpg" alt="{alt}"></a></div>',
                '<title>Acme</title><link rel="icon" sizes="32x32" href="/favicon-32.png">')
    assert best(html).url == f"{A}/favicon-32.png"


def test_a_row_of_technology_logos_is_content() -> None:
    items = "".join(f'<li><img src="/images/logos/{n}.png" alt="{n}"></li>' for n in ("node", "mongo", "express"))
    assert best(page(f'<ul class="icons">{items}</ul>')).url == f"{A}/favicon-32.png"


def _inline_png(html: str):
    cand = best(html)
    assert cand.source == "svg_inline", cand.detail
    return to_png(cand.data)


def test_a_svg_coloured_by_a_class_is_drawn() -> None:
    svg = ('<svg viewBox="0 0 30 10" class="fill-black" fill="none"><title>Acme News</title>'
           '<path d="M0 0h30v10H0z"/></svg>')
    assert _inline_png(page(f'<header><a href="/">{svg}</a></header>')).width > 0


def test_a_css_variable_colour_takes_its_fallback() -> None:
    svg = '<svg viewBox="0 0 30 10" class="quartz"><path fill="var(--color,#000)" d="M0 0h30v10H0z"/></svg>'
    assert _inline_png(page(f'<header><a href="/" class="logo">{svg}</a></header>')).width > 0


def test_a_used_symbol_is_drawn_with_its_viewbox() -> None:
    sprite = ('<svg style="display:none"><symbol id="acme-logo" viewBox="0 0 76 20"><path fill="#8CB046" '
              'd="M0 0h76v20H0z"/></symbol></svg>')
    html = page(f'{sprite}<header><a href="/" class="brand"><svg><use xlink:href="#acme-logo"></use></svg></a></header>')
    converted = _inline_png(html)
    assert converted.width > 2 * converted.height  # the symbol's 76x20 shape, not an empty 300x150 box
