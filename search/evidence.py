"""The strong grouping tiers and their evidence: identical pixels, near-identical picture, same shape.

Each tier compares the features that ``indexer.features`` stores in the payload (``pixels``, ``nhash``,
``shash``, ``aspect``) and returns the pairs it proves, each with its distance, so that every merge can be
explained. Thresholds are calibrated by ``bench/calibrate_tiers.py`` (numbers in the comments below).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Two logos whose trimmed pictures differ in width/height by more than this factor (|log ratio|) are never
# near-identical or same-shape: a 32x32 hash squashes a square mark and a long word-mark alike.
# 0.2 = a factor 1.22; a 3 % crop of each side moves it by < 0.01, and 0.2 keeps odd rounding of tiny logos.
ASPECT_LOG_RATIO = 0.2

# Distances are the sum of the phash and the dhash distances (0..128 bits) of the two trimmed pictures.
# Calibrated with `python bench/calibrate_tiers.py` on the 3,308 usable real logos of shared/data/real-logos
# (2026-12-01): positives are each logo against 9 variants of itself, negatives the 5.4 M pairs of different
# pictures from different name families. At 20 bits the near tier keeps jpeg 0.969, webp 0.995, half size
# 0.982, double 0.993, padded 0.944, 3 %-crop 0.858 of the variants (at 16: crop 0.637; at 24 crop 0.944,
# but the first clearly unrelated brands, GlobalConnect / Grant Thornton, meet at 28). Of the 354
# cross-family negative pairs within 20 bits, all but 11 were the same brand under another name (gs1*, svn*,
# kia*, cdl*, Wuerth/Wurth, SPIE/Lueck, Canon/Vital Images, ENGIE/Laborelec, LWW/Wolters Kluwer); the 11
# were daikin* SVGs that render as a bare triangle and digi-intl.co.jp's triangle: the same picture, not the
# same brand (false-merge rate 2.0e-6 per pair).
NEAR_DISTANCE = 20
# Same calibration, foreground masks: at 8 bits the shape tier keeps dark 0.937, light 0.912, hue-rotated
# 0.980, webp 0.970 of the variants (at 12: 0.949 / 0.935 / 0.986, but two demo brands, a white square in a
# disc and a white disc in a square, met at 9; at 16: 0.957 / 0.949 / 0.992). Its cross-family negatives were,
# apart from one brand under two names, boxed logos (axa, lidl, wwf: a full-box mask) and round badges (CED,
# Toyota, TBWA, Ubicast): the box and badge rules of indexer.features now give those their inner shape
# (checked on those logos: 52-81 bits apart after).
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


def edges_near(texts: Sequence[str | None], aspects: Sequence[float | None], usable: np.ndarray, limit: int,
               tier: str) -> list[Edge]:
    """Pairs whose summed phash+dhash distance is within ``limit`` bits and whose aspect ratios agree.

    A sum within ``limit`` puts one of the two 64-bit halves within ``limit // 2``: candidates come from the
    multi-index search on each half (``near_pairs``), then the whole sum and the aspect ratio are checked."""
    from search.hashing import near_pairs

    hashes = parse_pair_hashes(texts)
    aspect = np.array([a if isinstance(a, int | float) and a > 0 else 0.0 for a in aspects], dtype=np.float64)
    index = np.flatnonzero(usable & (hashes[:, 0] != 0) & (aspect > 0))
    if len(index) < 2:
        return []
    values, inverse = np.unique(hashes[index], axis=0, return_inverse=True)
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
    members: dict[int, list[int]] = {}
    for position, value_row in enumerate(inverse):
        members.setdefault(int(value_row), []).append(int(index[position]))
    edges = []
    for p, q in sorted(candidates):
        distance = int(pair_distance(values[p], values[q]))
        if distance > limit:
            continue
        # one edge per pair of hash values is enough to join them (plus a chain inside one value)
        pairs = [(members[p][0], b) for b in members[p][1:]] if p == q else [(members[p][0], members[q][0])]
        edges += [Edge(min(a, b), max(a, b), tier, float(distance)) for a, b in pairs
                  if aspect_close(aspect[a], aspect[b])]
    return edges
