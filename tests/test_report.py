"""report.html: self-contained, lists every domain under its group, renders in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from common.datadir import DataDir
from indexer.features import features
from indexer.store import LogoStore, StoreConfig
from search.cluster import cluster_store
from search.report import layout, write_report

DIM = 2048
COLOURS = ["crimson", "navy", "darkgreen", "orange"]


def _png(path: Path, colour: str, variant: int) -> Image.Image:
    image = Image.new("RGBA", (120, 60), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    kind = COLOURS.index(colour) if colour in COLOURS else 4 + variant  # each brand its own shape
    box = (4 + variant, 4, 70, 56)
    if kind == 0:
        draw.rounded_rectangle(box, radius=10, fill=colour)
    elif kind == 1:
        draw.ellipse(box, fill=colour)
    elif kind == 2:
        draw.polygon([(box[0], 56), (37, 4), (70, 56)], fill=colour)
    elif kind == 3:
        draw.rectangle((box[0], 4, 20, 56), fill=colour)
        draw.rectangle((40, 30, 70, 56), fill=colour)
    else:
        draw.pieslice((4, 4, 56, 56), 30 * kind, 30 * kind + 200, fill=colour)
    draw.text((76, 22), colour[:4], fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return image


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[DataDir, object, list[str]]:
    """Four brands of 3 domains (logo files on disk with their features, vectors near their brand's centre)
    + 4 loners."""
    root = tmp_path_factory.mktemp("data")
    data_dir = DataDir(root)
    rng = np.random.default_rng(0)
    basis = rng.standard_normal((16, DIM)).astype(np.float32)
    items, domains = [], []
    for colour in COLOURS:
        centre = rng.standard_normal(16)
        for member in range(3):
            domains.append(f"{colour}-{member}.example")
            items.append((colour, member, centre + 0.05 * rng.standard_normal(16)))
    for i in range(4):
        domains.append(f"solo{i}.example")
        items.append(("gray", i, rng.standard_normal(16)))
    with LogoStore(StoreConfig(path=data_dir.qdrant)) as store:
        store.ensure_collection()
        points = []
        for domain, (colour, variant, latent) in zip(domains, items, strict=True):
            image = _png(data_dir.logo_path(domain), colour, variant)
            vector = (latent @ basis).astype(np.float32)
            points.append(({"domain": domain, "sha256": f"sha-{domain}", "phash": None,
                            "logo_path": f"logos/{domain}.png", "model": "resnet50/random-seed0",
                            **features(image).payload()},
                           vector / np.linalg.norm(vector)))
        store.upsert(points)
        result = cluster_store(store)
        path = write_report(result, store, data_dir)
    assert path == data_dir.report
    return data_dir, result, domains


def test_page_is_self_contained_and_complete(built) -> None:
    data_dir, result, domains = built
    page = data_dir.report.read_text(encoding="utf-8")
    assert all(domain in page for domain in domains)
    assert len(result.groups) >= 3  # the four brands (a loner may join one: the report shows what was found)
    for label, members in result.groups.items():
        assert f"Group {label} · {len(members)} domains" in page
    assert page.count("data:image/png;base64,") == len(domains)  # every thumbnail is inline
    external = re.findall(r"""(?:src|href)\s*=\s*['"](?!data:|#)([^'"]+)""", page)
    assert external == []
    assert "<svg" in page and page.count("<circle") == len(domains)
    assert f"Outliers: {len(result.outliers)} logos" in page
    order = [page.index(f"id='group-{label}'") for label in sorted(result.groups, key=lambda k: -len(result.groups[k]))]
    assert order == sorted(order) and order[-1] < page.index("id='outliers'")  # largest first, outliers last


def test_missing_logo_file_shows_placeholder(built, tmp_path: Path) -> None:
    data_dir, result, _ = built
    with LogoStore(StoreConfig(path=data_dir.qdrant)) as store:
        points = list(store.scroll())
    empty = DataDir(tmp_path)  # no logo files here
    write_report(result, points, empty)
    assert empty.report.read_text().count("no image") == len(points)


def test_layout_is_deterministic() -> None:
    vectors = np.random.default_rng(1).standard_normal((40, DIM)).astype(np.float32)
    first, method = layout(vectors)
    second, _ = layout(vectors)
    assert first.shape == (40, 2) and "t-SNE" in method
    np.testing.assert_allclose(first, second)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run_chromium(*args: str) -> subprocess.CompletedProcess:
    binary = _chromium()
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu",
                               "--disable-background-networking", "--disable-component-update", "--disable-sync",
                               "--no-first-run", f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed")
def test_renders_in_headless_chromium(built, tmp_path: Path) -> None:
    data_dir, result, domains = built
    url = data_dir.report.resolve().as_uri()
    dom = _run_chromium("--dump-dom", url).stdout
    assert all(domain in dom for domain in domains)
    assert f"Group 0 · {len(result.groups[0])} domains" in dom
    shot = tmp_path / "report.png"
    _run_chromium(f"--screenshot={shot}", "--window-size=1200,1600", url)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.std() > 20  # thumbnails, text and the map, not a blank page
    top = pixels[:400]
    assert (top < 128).mean() > 0.01  # the header and first groups show dark text/logos near the top


def test_thumbnails_show_the_evidence_that_joined_them(built) -> None:
    data_dir, result, _domains = built
    page = data_dir.report.read_text(encoding="utf-8")
    for domain, explained in result.evidence.items():
        assert f"d={explained['distance']:g} ~{explained['via']}" in page, domain
    assert "embedding tier" in page  # the calibration line: a threshold for the model, or why it abstained
