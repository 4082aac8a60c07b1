"""report.html: one self-contained page showing every group as a row of logos, outliers, and a 2-D map."""

from __future__ import annotations

import base64
import colorsys
import html
import io
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from common.datadir import DataDir, atomic_write_text
from indexer.store import LogoStore, StoredPoint
from search import tiers
from search.cluster import ClusterResult

THUMB = 64
MAX_THUMBS = 20_000  # beyond this the page would pass ~100 MB: later domains are listed as text only
TSNE_LIMIT = 5_000  # t-SNE on more points takes minutes on 2 cores; PCA-2D is instant and still shows groups
MAP_W, MAP_H, MAP_PAD = 1100, 520, 20
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:16px 24px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:18px 0 6px}
.counts span{display:inline-block;margin:4px 14px 4px 0;padding:4px 10px;background:#fff;border:1px solid #ddd;
border-radius:6px}
.group{background:#fff;border:1px solid #e2e2e2;border-radius:8px;padding:8px 10px;margin:10px 0}
.group h3{font-size:14px;margin:0 0 6px;font-weight:600} .group h3 small{font-weight:400;color:#666}
.logos{display:flex;flex-wrap:wrap;gap:8px}
figure{margin:0;width:96px;text-align:center} figure img,figure .missing{width:64px;height:64px;
object-fit:contain;background:repeating-conic-gradient(#eee 0 25%,#fff 0 50%) 0/12px 12px;border:1px solid #ddd}
figure .missing{display:inline-block;line-height:64px;color:#999;font-size:11px}
figcaption{font-size:11px;word-break:break-all;color:#333} figcaption i{display:block;color:#888;font-style:normal}
.swatch{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:6px;vertical-align:middle}
details summary{cursor:pointer;font-weight:600;margin:12px 0 6px} svg{background:#fff;border:1px solid #ddd}
.text-only{font-size:12px;color:#444}
"""


def write_report(result: ClusterResult, source: LogoStore | Iterable[StoredPoint], data_dir: DataDir) -> Path:
    """Render the page from the clustering result and the stored points (vectors for the map, logo paths)."""
    points = {p.domain: p for p in (source.scroll(with_vectors=True) if isinstance(source, LogoStore) else source)}
    page = render(result, points, data_dir)
    atomic_write_text(data_dir.report, page)
    return data_dir.report


def render(result: ClusterResult, points: dict[str, StoredPoint], data_dir: DataDir) -> str:
    thumbs = _Thumbnails(points, data_dir)
    ordered = sorted(result.groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>logosim: shared logos</title>"
             f"<style>{STYLE}</style></head><body>",
             _header(result),
             "<h2>Map of all logos</h2>", _map(result, points),
             f"<h2>Groups ({len(ordered)}), largest first</h2>"]
    parts += [_group(label, domains, result, thumbs) for label, domains in ordered]
    parts.append(_outliers(result, thumbs))
    parts.append("</body></html>")
    return "\n".join(parts)


def _header(result: ClusterResult) -> str:
    grouped = sum(len(ds) for ds in result.groups.values())
    counts = [("domains", len(result.labels)), ("groups", len(result.groups)), ("in groups", grouped),
              ("outliers", len(result.outliers))]
    counts += [(f"joined by {name}", count) for name, count in result.joined_by()]
    if result.left_out()[1]:
        counts.append(result.left_out())
    spans = "".join(f"<span><b>{value}</b> {html.escape(name)}</span>" for name, value in counts)
    params = {**result.params.thresholds, "min_cluster_size": result.params.min_cluster_size,
              "min_samples": result.params.min_samples, "pca_dims": result.params.pca_dims,
              "points": result.params.points, "blank_phash": result.params.blank_phash,
              "flagged": result.params.flagged}
    shown = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    return (f"<h1>Which websites share a logo?</h1><div class='counts'>{spans}</div>"
            f"<p class='text-only'>grouped in {result.seconds:.1f} s · {html.escape(shown)}</p>"
            f"<p class='text-only'>{html.escape(result.calibration_line())}</p>")


def _group(label: int, domains: list[str], result: ClusterResult, thumbs: _Thumbnails) -> str:
    counts = Counter(result.tier.get(d, "?") for d in domains)
    how = ", ".join(f"{tiers.label(t)} {n}" for t, n in counts.most_common())
    figures = "".join(_figure(d, _why(result, d), thumbs) for d in domains)
    return (f"<section class='group' id='group-{label}'><h3><span class='swatch' style='background:"
            f"{_colour(label)}'></span>Group {label} · {len(domains)} domains <small>joined by {html.escape(how)}"
            f"</small></h3><div class='logos'>{figures}</div></section>")


def _why(result: ClusterResult, domain: str) -> str:
    """The evidence under a thumbnail: tier, distance and the fellow member it was measured to."""
    tier = result.tier.get(domain, "")
    explained = result.evidence.get(domain)
    if not explained:
        return tiers.label(tier)
    text = f"{tiers.label(tier)} d={explained['distance']:g} ~{explained['via']}"
    if "probability" in explained:
        text += f" p={explained['probability']:.2f}"
    return text


def _outliers(result: ClusterResult, thumbs: _Thumbnails) -> str:
    figures = "".join(_figure(d, "", thumbs) for d in result.outliers)
    return (f"<details id='outliers'><summary>Outliers: {len(result.outliers)} logos that share with no one"
            f"</summary><div class='logos'>{figures}</div></details>")


def _figure(domain: str, tier: str, thumbs: _Thumbnails) -> str:
    name = html.escape(domain)
    data = thumbs.get(domain)
    if data is None and thumbs.exhausted:
        return f"<span class='text-only'>{name} · </span>"
    image = (f"<img alt='{name}' title='{name}' src='data:image/png;base64,{data}'>" if data
             else "<span class='missing'>no image</span>")
    note = f"<i>{html.escape(tier)}</i>" if tier else ""
    return f"<figure>{image}<figcaption>{name}{note}</figcaption></figure>"


class _Thumbnails:
    """64 px PNGs, base64, read from the data folder's logos; a missing or broken file shows a placeholder."""

    def __init__(self, points: dict[str, StoredPoint], data_dir: DataDir) -> None:
        self.points = points
        self.data_dir = data_dir
        self.made = 0
        self.exhausted = False

    def get(self, domain: str) -> str | None:
        if self.made >= MAX_THUMBS:
            self.exhausted = True
            return None
        self.made += 1
        return _thumbnail(self._path(domain))

    def _path(self, domain: str) -> Path:
        point = self.points.get(domain)
        relative = point.payload.get("logo_path") if point else None
        return self.data_dir.logo_at(relative, domain)


def _thumbnail(path: Path) -> str | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path, formats=["PNG"]) as image:  # our own PNGs only (never EPS, which runs Ghostscript)
            image.load()
            small = image.convert("RGBA")
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    small.thumbnail((THUMB, THUMB))
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# -- the map ---------------------------------------------------------------------------------------------
def _map(result: ClusterResult, points: dict[str, StoredPoint]) -> str:
    domains = sorted(d for d in result.labels if d in points and points[d].vector is not None)
    if len(domains) < 3:
        return "<p class='text-only'>too few logos for a map</p>"
    xy, method = layout(np.vstack([points[d].vector for d in domains]).astype(np.float32))
    low, high = xy.min(axis=0), xy.max(axis=0)
    scale = (np.array([MAP_W, MAP_H]) - 2 * MAP_PAD) / np.maximum(high - low, 1e-9)
    xy = (xy - low) * scale + MAP_PAD
    dots = []
    for (x, y), domain in sorted(zip(xy.tolist(), domains, strict=True),
                                 key=lambda item: result.labels[item[1]] >= 0):  # groups drawn on top
        label = result.labels[domain]
        colour, radius = (_colour(label), 5) if label >= 0 else ("#bbb", 3)
        title = f"{domain} (group {label})" if label >= 0 else f"{domain} (outlier)"
        dots.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{radius}' fill='{colour}' fill-opacity='0.85'>"
                    f"<title>{html.escape(title)}</title></circle>")
    return (f"<p class='text-only'>{method}; each dot is a logo, coloured by group (grey: outlier); hover for the "
            f"domain.</p><svg xmlns='http://www.w3.org/2000/svg' width='{MAP_W}' height='{MAP_H}' "
            f"viewBox='0 0 {MAP_W} {MAP_H}' role='img' aria-label='map of logos'>{''.join(dots)}</svg>")


def layout(vectors: np.ndarray, seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D positions: t-SNE on the PCA space for up to TSNE_LIMIT logos, PCA-2D beyond (deterministic)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    from search.grouping import reduce

    reduced = reduce(vectors, seed=seed)  # reduce normalises the vectors itself
    if len(vectors) > TSNE_LIMIT or len(vectors) < 5:
        dims = min(2, reduced.shape[1])
        flat = PCA(n_components=dims, random_state=seed).fit_transform(reduced) if dims == 2 else \
            np.hstack([reduced[:, :1], np.zeros((len(reduced), 1), dtype=np.float32)])
        return flat, "PCA to 2-D"
    perplexity = float(min(30, max(2, (len(vectors) - 1) // 3)))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, max_iter=500)
    return tsne.fit_transform(reduced), f"t-SNE of the {reduced.shape[1]}-d PCA space"


def _colour(label: int) -> str:
    """Well-spread hues by the golden ratio, so neighbouring labels differ visibly."""
    hue = (label * 0.618033988749895) % 1.0
    r, g, b = colorsys.hls_to_rgb(hue, 0.45, 0.75)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"
