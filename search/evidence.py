"""The strong grouping tiers and their evidence: identical pixels, near-identical picture, same shape.

Each tier compares the features that ``indexer.features`` stores in the payload (``pixels``, ``nhash``,
``shash``, ``aspect``, ``colour``) and returns the pairs it proves, each with its distance, so that every merge can be
explained. Thresholds are calibrated by ``bench/calibrate_tiers.py`` (numbers in the comments below).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from indexer.features import COLOUR_GRID

# Two logos whose trimmed pictures differ in width/height by more than this factor (|log ratio|) are never
# near-identical or same-shape: a 32x32 hash squashes a square mark and a long word-mark alike.
# 0.2 = a factor 1.22; a 3 % crop of each side moves it by < 0.01, and 0.2 keeps odd rounding of tiny logos.
ASPECT_LOG_RATIO = 0.2

# Distances are the sum of the phash and the dhash distances (0..128 bits) of the two trimmed pictures.
# Calibrated with `python bench/calibrate_tiers.py --logos LOGOS --jobs 2` on the 3,308 usable real logos of
# shared/data/real-logos (LOGOS: the PNGs of a `logosim import` of them): positives are each logo against 9
# variants of itself, negatives the 5.4 M pairs of different pictures from different name families.
# Re-run 2026-12-01 16:10 UTC with today's features: at 20 bits the near tier (on_white included) keeps jpeg
# 0.990, webp 0.995, half size 0.977, double 0.994, padded 0.941, 3 %-crop 0.848 of the variants (at 16: crop
# 0.698; at 24 crop 0.939, but the first clearly unrelated brands, GlobalConnect / Grant Thornton, met at 28).
# Without on_white, JPEG's share was 0.845: 481 of its 513 misses were transparent logos with white parts,
# hashed on black (WHITE_SHARE in indexer.features) while their JPEG on white has lost those parts.
# Of the 371 cross-family pairs within 20 bits (6.9e-05 of them), all but 11 were the same brand under another
# name (gs1*, kia*, ford dealers, cdl*, Wuerth/Wurth, SPIE/Lueck, Canon/Vital Images, ENGIE/ECS Slupsk); the
# colour check below removes those 11. on_white adds 5 cross-family pairs, all one brand (allianz, cdl*, ford).
NEAR_DISTANCE = 20
# The near tier's pairs must also agree in colour: the mean CIELAB distance (Delta E 1976) over the cells of
# the two colour layouts (indexer.features.colour_layout). Same calibration (`--tiers colour`): every limit
# from 15 up keeps every variant that the hashes keep (jpeg 0.990, webp 0.995, half 0.977, double 0.994,
# padded 0.941, crop 0.848; a variant's 99th percentile is 6.5 for JPEG, 7.3 for the crop). A brand's own
# sites drift in shade: of the 16,348 near pairs within one name family, 20 keeps 0.9983 (it split berlitz's
# darker blue at 27.3 and plameco's at 23.5-24.7 from their groups), 30 keeps 0.9996, 40 all (the farthest:
# ENGIE in blue / in black, 33.6). The cross-family pairs it must refuse are digi-intl.co.jp's plain green
# corner triangle against the ten daikin* SVGs that render as a plain black one (7 bits, Delta E 53.8).
# 40 keeps every one-family pair and refuses those with a margin of 13.8; a plainer primitive in two colours
# differs over half its cells by far more than a shade.
COLOUR_DISTANCE = 40.0
# Same calibration, foreground masks: at 8 bits the shape tier keeps dark 0.784, light 0.766, hue-rotated
# 0.973, webp 0.938 of the variants (at 12: 0.796 / 0.792 / 0.983; at 16: 0.801 / 0.802 / 0.986). The dark
# and light shares stop near 0.80 because the bench paints every visible pixel one colour: a badge whose
# letters become the badge's colour has no shape left (15 % of those variants have no mask hash, by the badge
# rule of indexer.features); the first calibration, before that rule, read 0.937 / 0.912. Two demo brands, a
# white square in a disc and a white disc in a square, met at 9. Its cross-family negatives were, apart from
# one brand under two names, boxed logos (axa, lidl, wwf: a full-box mask) and round badges (CED, Toyota,
# TBWA, Ubicast): the box and badge rules of indexer.features give those their inner shape (checked on those
# logos: 52-81 bits apart after).
SHAPE_DISTANCE = 8

TIERS = ("sha256", "pixels", "near", "shape", "embedding")


@dataclass(frozen=True)
class Edge:
    """Evidence that points a and b share a logo: the tier that proved it and at what distance."""

    a: int
    b: int
    tier: str
    distance: float


def parse_pair_hashes(texts: Sequence[str | None]) -> np.ndarray:
    """32-hex-digit phash+dhash strings -> (n, 2) uint64; a missing or unreadable one is (0, 0)."""
    out = np.zeros((len(texts), 2), dtype=np.uint64)
    for i, text in enumerate(texts):
        if not text or len(text) != 32:
            continue
        try:
            out[i] = (int(text[:16], 16), int(text[16:], 16))
        except ValueError:
            continue
    return out


def pair_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Summed Hamming distance of (..., 2) uint64 hash pairs (broadcasting)."""
    return (np.bitwise_count(a[..., 0] ^ b[..., 0]) + np.bitwise_count(a[..., 1] ^ b[..., 1])).astype(np.int64)


def parse_colours(texts: Sequence[str | None]) -> np.ndarray:
    """Colour layouts (hex, 3 bytes a cell) -> (n, cells, 3) float32 CIELAB (L 0-100, a and b signed);
    a missing or unreadable one (a payload from before the field) is all NaN: unchecked, never refused."""
    cells = COLOUR_GRID * COLOUR_GRID
    out = np.full((len(texts), cells, 3), np.nan, dtype=np.float32)
    for i, text in enumerate(texts):
        if not isinstance(text, str) or len(text) != 6 * cells:
            continue
        try:
            raw = np.frombuffer(bytes.fromhex(text), dtype=np.uint8).reshape(cells, 3)
        except ValueError:
            continue
        out[i, :, 0] = raw[:, 0] * (100.0 / 255.0)
        out[i, :, 1:] = raw[:, 1:].view(np.int8)
    return out


def colour_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean Delta E over the cells of (..., cells, 3) layouts (broadcasting); NaN where one is unknown."""
    return np.sqrt(((a - b) ** 2).sum(axis=-1)).mean(axis=-1)


def colour_close(a: np.ndarray, b: np.ndarray, limit: float = COLOUR_DISTANCE) -> np.ndarray:
    """Colours agree within ``limit``, or cannot be compared (a layout is missing)."""
    distance = colour_distance(a, b)
    return np.isnan(distance) | (distance <= limit)


def positive(value: Any) -> float:
    """A stored aspect ratio as a float; 0.0 when missing or unusable (such a point joins no near/shape pair)."""
    return float(value) if isinstance(value, int | float) and value > 0 else 0.0


def aspects(values: Sequence[Any]) -> np.ndarray:
    return np.array([positive(value) for value in values], dtype=np.float64)


def parse_on_white(items: Sequence[Mapping[str, Any] | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each item's ``on_white`` evidence (indexer.features) as (hashes, aspects, colour layouts), aligned with
    the items; a missing one is (0, 0), 0.0 and NaN."""
    given = [item if isinstance(item, Mapping) else {} for item in items]
    return (parse_pair_hashes([item.get("nhash") for item in given]), aspects([item.get("aspect") for item in given]),
            parse_colours([item.get("colour") for item in given]))


def aspect_close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(np.log(np.maximum(a, 1e-6) / np.maximum(b, 1e-6))) <= ASPECT_LOG_RATIO


def edges_equal(keys: Sequence[str | None], usable: np.ndarray, tier: str) -> list[Edge]:
    """Chain every set of usable points with the same key (sha256, pixel digest) to its first holder."""
    first: dict[str, int] = {}
    edges = []
    for i, key in enumerate(keys):
        if not key or not usable[i]:
            continue
        if key in first:
            edges.append(Edge(first[key], i, tier, 0.0))
        else:
            first[key] = i
    return edges


def edges_near(texts: Sequence[str | None], ratios: Sequence[float | None], usable: np.ndarray, limit: int,
               tier: str, colours: Sequence[str | None] | None = None,
               on_white: Sequence[Mapping[str, Any] | None] | None = None) -> list[Edge]:
    """Pairs whose summed phash+dhash distance is within ``limit`` bits, whose aspect ratios agree and, when
    ``colours`` are given (the near tier), whose colour layouts agree (``colour_close``). ``on_white[i]``
    (indexer.features: a transparent logo with white parts, flattened on white) is compared with the other
    points' own hashes, never with another ``on_white``.

    A sum within ``limit`` puts one of the two 64-bit halves within ``limit // 2``: candidates come from the
    multi-index search on each half (``near_pairs``), then the whole sum, the aspect ratio and the colours are
    checked. Points with one hash value are split into colour classes first (each joins the first class whose
    first member it agrees with), so that two pictures equal in luminance but not in colour stay apart."""
    from search.hashing import near_pairs

    hashes = parse_pair_hashes(texts)
    aspect = aspects(ratios)
    layout = parse_colours(colours if colours is not None else [None] * len(texts))
    index = np.flatnonzero(usable & (hashes[:, 0] != 0) & (aspect > 0))
    if len(index) < 2:
        return []
    # the usable on_white evidence: row r of these belongs to point owner[r]
    owner = np.array([i for i in index if on_white is not None and isinstance(on_white[i], Mapping)], dtype=np.int64)
    white_hashes, white_aspect, white_layout = parse_on_white([on_white[i] for i in owner] if len(owner) else [])
    keep = (white_hashes[:, 0] != 0) & (white_aspect > 0)
    owner, white_hashes, white_aspect, white_layout = owner[keep], white_hashes[keep], white_aspect[keep], white_layout[keep]
    values, inverse = np.unique(np.concatenate([hashes[index], white_hashes]), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    candidates: set[tuple[int, int]] = {(int(v), int(v)) for v in np.unique(inverse)}  # equal hashes
    for half in (0, 1):
        column, back = np.unique(values[:, half], return_inverse=True)
        back = back.ravel()
        holders: dict[int, list[int]] = {}
        for value_row, column_row in enumerate(back):
            holders.setdefault(int(column_row), []).append(value_row)
        pairs = [(x, y) for x, y in near_pairs(column, limit // 2)] + [(c, c) for c in holders]
        for x, y in pairs:
            for p in holders[x]:
                for q in holders[y]:
                    candidates.add((min(p, q), max(p, q)))
    classes: dict[int, list[list[int]]] = {}  # hash value -> its points, split by colour
    for position, value_row in enumerate(inverse[:len(index)]):
        point = int(index[position])
        split = classes.setdefault(int(value_row), [])
        home = next((c for c in split if colour_close(layout[c[0]], layout[point])), None)
        if home is None:
            split.append([point])
        else:
            home.append(point)
    on_white_at: dict[int, list[int]] = {}  # hash value -> the on_white rows holding it
    for row, value_row in enumerate(inverse[len(index):]):
        on_white_at.setdefault(int(value_row), []).append(row)
    edges = []
    for p, q in sorted(candidates):
        distance = int(pair_distance(values[p], values[q]))
        if distance > limit:
            continue
        # one edge per pair of colour classes is enough to join them (plus a chain inside one class)
        if p == q:
            pairs = [(c[0], b) for c in classes.get(p, []) for b in c[1:]]
        else:
            pairs = [(c[0], d[0]) for c in classes.get(p, []) for d in classes.get(q, [])
                     if colour_close(layout[c[0]], layout[d[0]])]
        edges += [Edge(min(a, b), max(a, b), tier, float(distance)) for a, b in pairs
                  if aspect_close(aspect[a], aspect[b])]
        for mine, theirs in ((p, q), (q, p)) if p != q else ((p, p),):
            for row in on_white_at.get(mine, []):
                point = int(owner[row])
                edges += [Edge(min(point, c[0]), max(point, c[0]), tier, float(distance))
                          for c in classes.get(theirs, []) if c[0] != point
                          and aspect_close(white_aspect[row], aspect[c[0]])
                          and colour_close(white_layout[row], layout[c[0]])]
    return edges


def near_pair(a: Mapping[str, Any], b: Mapping[str, Any], limit: int = NEAR_DISTANCE,
              colour_limit: float | None = COLOUR_DISTANCE) -> float | None:
    """The near tier's rule for two payload-shaped dicts: the smallest distance within ``limit`` bits among
    a~b, a's on_white~b, a~b's on_white, with aspect ratios and colours agreeing (``colour_limit`` None:
    colours not asked, for calibration); None when none is."""
    def sides(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        return [payload] + ([payload["on_white"]] if isinstance(payload.get("on_white"), Mapping) else [])

    best = None
    for i, x in enumerate(sides(a)):
        for j, y in enumerate(sides(b)):
            if i and j:
                continue  # never on_white against on_white
            hashes = parse_pair_hashes([x.get("nhash"), y.get("nhash")])
            ratio = aspects([x.get("aspect"), y.get("aspect")])
            if not hashes[0].any() or not hashes[1].any() or not ratio.all() or not aspect_close(*ratio):
                continue
            distance = int(pair_distance(hashes[0], hashes[1]))
            if distance > limit or (best is not None and distance >= best):
                continue
            layouts = parse_colours([x.get("colour"), y.get("colour")])
            if colour_limit is None or colour_close(layouts[0], layouts[1], colour_limit):
                best = float(distance)
    return best
