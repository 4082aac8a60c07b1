"""Which pages read their own stylesheets (crawler.extract.css.sheets_to_read): only those with an element a
sheet could paint as a better logo than the markup's best candidate."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.extract import TIERS, find_candidates, sheets_to_read, stylesheet_urls
from fixtureweb.pagekinds import EXTERNAL_CSS
from fixtureweb.real import load_pages

PAGE_URL = "https://www.acme.com/"
DOMAIN = "acme.com"
SHEET = "https://www.acme.com/css/site.css"


def page(header: str, footer: str = "") -> str:
    return (f'<html><head><title>Acme</title><link rel="apple-touch-icon" href="/apple-touch-icon.png">'
            f'<link rel="stylesheet" href="/css/site.css"></head><body><header class="site-header">{header}'
            f'<nav><a href="/">Home</a><a href="/pricing">Pricing</a></nav></header><main><p>Text</p></main>'
            f'<footer>{footer}</footer></body></html>')


def reads(html: str) -> bool:
    best = find_candidates(html, PAGE_URL, DOMAIN)[0].score
    assert best < TIERS["header_logo"], "the markup must show no header logo for the stage to ask"
    return sheets_to_read(html, PAGE_URL, DOMAIN, best) == [SHEET]


@pytest.mark.parametrize("header", [
    '<a href="/" class="brand-mark" aria-label="Acme"></a>',  # a home link that shows nothing
    '<a href="/"><span class="sr-only">Acme</span></a>',  # ... but to screen readers
    '<h1 id="logo"><a href="/">Acme</a></h1>',  # image replacement: the text stays, a logo-named element
    '<a href="/" class="navbar-brand">Acme</a>',  # a brand-named element (crawler.extract.signals.BRAND_TOKENS)
    '<div class="header__logo" itemprop="logo"></div>',
])
def test_an_element_a_sheet_could_paint_reads_the_sheets(header: str) -> None:
    assert reads(page(header))


@pytest.mark.parametrize(("header", "footer"), [
    ('<a href="/" class="brand-name">Acme</a>', ""),  # a text wordmark: the home link shows its name
    ('<span class="tagline">Tools for teams</span>', ""),  # no home link, no logo-named element
    ('<a href="/" class="brand-name">Acme</a>', '<div class="footer-logo"></div>'),  # a footer logo cannot win
])
def test_a_page_with_nothing_a_sheet_could_paint_skips_them(header: str, footer: str) -> None:
    assert not reads(page(header, footer))


def test_a_logo_element_showing_its_own_picture_is_not_paintable() -> None:
    html = page('<a href="/" class="brand-name">Acme</a>',
                '<div class="footer-logo"><img src="/img/mark.png" alt=""></div>')
    assert sheets_to_read(html, PAGE_URL, DOMAIN, 0.0) == []
    assert sheets_to_read(page('<div class="footer-logo"></div>'), PAGE_URL, DOMAIN, 0.0) == [SHEET]


def test_the_fixture_webs_external_sheet_site_still_reads_it() -> None:
    from crawler.extract import css_candidates

    html = page('<a href="/" class="brand-mark" aria-label="Acme"></a>')
    assert reads(html)
    found = css_candidates(EXTERNAL_CSS, SHEET, html, PAGE_URL, DOMAIN)
    assert found[0].url == "https://www.acme.com/assets/logo-ext.png"


# The real pages below the header tier whose header logo is a CSS background in their own sheets (their
# markup: wikipedia's a.mw-wiki-logo, segment's a.Navigation-logo, stuff's a.sics-component__icon--stuff-logo).
CSS_LOGO_PAGES = {"wikipedia", "segment", "stuff"}


def test_real_pages_with_a_css_logo_still_read_their_sheets(shared_data: Path) -> None:
    folder = shared_data / "real-pages"
    if not (folder / "index.csv").is_file():
        pytest.skip("../shared/data/real-pages is absent")
    reading, before = set(), set()
    for real in load_pages(folder):
        body = real.path.read_bytes()
        best = find_candidates(body, real.url, real.domain)[0].score
        if best >= TIERS["header_logo"] or not stylesheet_urls(body, real.url, real.domain):
            continue
        before.add(real.name)
        if sheets_to_read(body, real.url, real.domain, best):
            reading.add(real.name)
    assert CSS_LOGO_PAGES <= reading
    assert len(reading) < len(before)  # measured: 6 of the 11 that read them before
