"""How the strong grouping tiers compare logos: the pair tests and the edge finders that ``search.tiers`` names.

Each tier compares the features that ``indexer.features`` stores in the payload (``pixels``, ``nhash``,
``shash``, ``aspect``, ``colour``, ``on_white``) and returns the pairs it proves, each with its distance, so that
every merge can be explained. The thresholds, what they were calibrated on and which tier uses which function
are declared in ``search.tiers``; the functions here take them as arguments.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from indexer.features import COLOUR_GRID
from search.hashing import near_pairs, popcount


class Tier(Protocol):
    """What an edge finder reads of its tier (search.tiers.Tier): its name, fields and thresholds."""

    name: str
    fields: tuple[str, ...]

    def value(self, key: str) -> float: ...

# Rows of (new x stored) hash comparisons per block when new logos are placed: 32 MB of distances.
COMPARE_CHUNK = 2_000_000
# A real phash thresholds 64 DCT terms at their median, so about 32 bits are set; a blank image (e.g. a white
# logo on transparency, composited on white: 272 of the 3,318 real logos) gives 0x8000000000000000. Such
# hashes say nothing about shape: those points join no likeness tier and stay out of the embedding tier.
DEGENERATE_BITS = 8


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


def colour_close(a: np.ndarray, b: np.ndarray, limit: float) -> np.ndarray:
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


def aspect_close(a: np.ndarray, b: np.ndarray, limit: float) -> np.ndarray:
    """Width/height ratios within a factor exp(``limit``) of each other (|log ratio| <= limit)."""
    return np.abs(np.log(np.maximum(a, 1e-6) / np.maximum(b, 1e-6))) <= limit


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
               tier: str, *, aspect_limit: float, colours: Sequence[str | None] | None = None,
               colour_limit: float = np.inf, on_white: Sequence[Mapping[str, Any] | None] | None = None) -> list[Edge]:
    """Pairs whose summed phash+dhash distance is within ``limit`` bits, whose aspect ratios agree within
    ``aspect_limit`` and, when ``colours`` are given (the near tier), whose colour layouts agree within
    ``colour_limit`` (``colour_close``). ``on_white[i]``
    (indexer.features: a transparent logo with white parts, flattened on white) is compared with the other
    points' own hashes, never with another ``on_white``.

    A sum within ``limit`` puts one of the two 64-bit halves within ``limit // 2``: candidates come from the
    multi-index search on each half (``near_pairs``), then the whole sum, the aspect ratio and the colours are
    checked. Points with one hash value are split into colour classes first (each joins the first class whose
    first member it agrees with), so that two pictures equal in luminance but not in colour stay apart."""
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
        home = next((c for c in split if colour_close(layout[c[0]], layout[point], colour_limit)), None)
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
                     if colour_close(layout[c[0]], layout[d[0]], colour_limit)]
        edges += [Edge(min(a, b), max(a, b), tier, float(distance)) for a, b in pairs
                  if aspect_close(aspect[a], aspect[b], aspect_limit)]
        for mine, theirs in ((p, q), (q, p)) if p != q else ((p, p),):
            for row in on_white_at.get(mine, []):
                point = int(owner[row])
                edges += [Edge(min(point, c[0]), max(point, c[0]), tier, float(distance))
                          for c in classes.get(theirs, []) if c[0] != point
                          and aspect_close(white_aspect[row], aspect[c[0]], aspect_limit)
                          and colour_close(white_layout[row], layout[c[0]], colour_limit)]
    return edges


def near_pair(a: Mapping[str, Any], b: Mapping[str, Any], *, limit: int, aspect_limit: float,
              colour_limit: float | None) -> float | None:
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
            if not hashes[0].any() or not hashes[1].any() or not ratio.all() \
                    or not aspect_close(ratio[0], ratio[1], aspect_limit):
                continue
            distance = int(pair_distance(hashes[0], hashes[1]))
            if distance > limit or (best is not None and distance >= best):
                continue
            layouts = parse_colours([x.get("colour"), y.get("colour")])
            if colour_limit is None or colour_close(layouts[0], layouts[1], colour_limit):
                best = float(distance)
    return best


def shape_pair(a: Mapping[str, Any], b: Mapping[str, Any], *, limit: int, aspect_limit: float) -> float | None:
    """The shape tier's rule for two payload-shaped dicts: foreground-mask hashes within ``limit`` bits,
    aspect ratios agreeing; None otherwise (or when either logo has no shape)."""
    hashes = parse_pair_hashes([a.get("shash"), b.get("shash")])
    ratio = aspects([a.get("aspect"), b.get("aspect")])
    if not hashes[0].any() or not hashes[1].any() or not aspect_close(ratio[0], ratio[1], aspect_limit):
        return None
    distance = int(pair_distance(hashes[0], hashes[1]))
    return float(distance) if distance <= limit else None


AGREES, DIFFERS = "agrees", "differs"


def normalised_text(reading: Any, min_confidence: float, min_chars: int, dominant: float = 0.0) -> str | None:
    """A payload's ``text`` reading (indexer.text) as lowercase letters and digits, when it is legible: read
    with at least ``min_confidence`` and at least ``min_chars`` of them; else None (evidence of nothing). Only the
    lines at least ``dominant`` times as tall as the tallest count: the wordmark, not a tagline or a region's
    name under it."""
    if not isinstance(reading, Mapping) or not isinstance(reading.get("text"), str):
        return None
    confidence = reading.get("confidence")
    if not isinstance(confidence, int | float) or confidence < min_confidence:
        return None
    text = reading["text"]
    lines, boxes = reading.get("lines"), reading.get("boxes")
    if dominant and isinstance(lines, list) and isinstance(boxes, list) and len(lines) == len(boxes) and lines:
        try:
            heights = [float(box[3]) - float(box[1]) for box in boxes]
        except (TypeError, ValueError, IndexError):
            heights = []
        if heights and max(heights) > 0:
            text = " ".join(str(line) for line, height in zip(lines, heights, strict=True)
                            if height >= dominant * max(heights))
    text = re.sub(r"[^0-9a-z]", "", text.lower())
    return text if len(text) >= min_chars else None


def text_pair(a: Mapping[str, Any], b: Mapping[str, Any], *, min_confidence: float, min_chars: int,
              agree: float, differ: float, dominant: float = 0.0) -> str | None:
    """What two logos' words say of the pair: AGREES (similarity >= ``agree``, or one text holds the other:
    an emblem + wordmark lockup, a dealer's name after the brand's), DIFFERS (similarity < ``differ``), or None
    (a text missing or illegible, or in between). Similarity: difflib's ratio of the normalised texts."""
    x = normalised_text(a.get("text"), min_confidence, min_chars, dominant)
    y = normalised_text(b.get("text"), min_confidence, min_chars, dominant)
    if x is None or y is None:
        return None
    if x in y or y in x:
        return AGREES
    similarity = difflib.SequenceMatcher(None, x, y, autojunk=False).ratio()
    if similarity >= agree:
        return AGREES
    return DIFFERS if similarity < differ else None


def equal_pair(a: Mapping[str, Any], b: Mapping[str, Any], key: str) -> float | None:
    """0.0 when both name the same non-empty ``key`` (a file's sha256, a pixel digest), else None."""
    return 0.0 if a.get(key) and a.get(key) == b.get(key) else None


# -- many logos at once ----------------------------------------------------------------------------------
@dataclass
class Points:
    """What the strong tiers read of n logos (row i is point i): their payload fields and who may join.

    ``usable``: no ``warning`` (a tiny or one-colour picture that `logosim import` kept joins nothing);
    ``informative``: usable, and its phash is not a blank image's (``degenerate``). Columns are read once."""

    payloads: Sequence[Mapping[str, Any]]
    usable: np.ndarray
    informative: np.ndarray
    blank: np.ndarray  # a phash present and degenerate
    _columns: dict[str, list[Any]] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, payloads: Sequence[Mapping[str, Any]], flagged: Sequence[bool] | None = None) -> Points:
        """``flagged[i]``: point i is kept out of every tier (default: its payload has a ``warning``)."""
        kept_out = np.array([bool(p.get("warning")) for p in payloads] if flagged is None else list(flagged),
                            dtype=bool).reshape(len(payloads))
        texts = [p.get("phash") for p in payloads]
        present = np.array([bool(text) for text in texts], dtype=bool)
        blank = present & degenerate(parse_phashes(texts))
        return cls(payloads, ~kept_out, ~blank & ~kept_out, blank)

    def __len__(self) -> int:
        return len(self.payloads)

    def column(self, name: str) -> list[Any]:
        if name not in self._columns:
            self._columns[name] = [p.get(name) for p in self.payloads]
        return self._columns[name]

    def has_features(self) -> np.ndarray:
        """Indexed with today's features (a point from before them has only ``phash``)."""
        return np.array([bool(text) for text in self.column("nhash")], dtype=bool)



def equal_edges(points: Points, tier: Tier, new: Sequence[int] | None = None) -> list[Edge]:
    """The tier's one field equal (``tier.fields[0]``) among usable points: chained to the first holder in a
    full run; with ``new``, each new point to every other holder (incremental placement)."""
    keys = points.column(tier.fields[0])
    if new is None:
        return edges_equal(keys, points.usable, tier.name)
    holders: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        if key and points.usable[i]:
            holders.setdefault(key, []).append(i)
    return [Edge(i, j, tier.name, 0.0) for i in new if keys[i] and points.usable[i]
            for j in holders.get(keys[i], []) if j != i]


def near_edges(points: Points, tier: Tier, new: Sequence[int] | None = None) -> list[Edge]:
    """The near tier: hashes of the trimmed picture, aspect and colour layout; a logo on white against the
    others' own pictures (never against another on_white)."""
    limit, aspect_limit = int(tier.value("near_distance")), tier.value("aspect_log_ratio")
    colour_limit = tier.value("colour_distance")
    if new is None:
        return edges_near(points.column("nhash"), points.column("aspect"), points.informative & points.has_features(),
                          limit, tier.name, aspect_limit=aspect_limit, colours=points.column("colour"),
                          colour_limit=colour_limit, on_white=points.column("on_white"))
    own = _own_side(points, "nhash", colours=True)
    hashes, ratio, layout = parse_on_white(points.column("on_white"))
    white = _Side(hashes, ratio, layout, points.informative & (hashes[:, 0] != 0) & (ratio > 0))
    return [link for mine, theirs in ((own, own), (white, own), (own, white))
            for link in _links_near(mine, theirs, new, limit, aspect_limit, colour_limit, tier.name)]


def shape_edges(points: Points, tier: Tier, new: Sequence[int] | None = None) -> list[Edge]:
    """The shape tier: hashes of the foreground mask and aspect, colours not asked."""
    limit, aspect_limit = int(tier.value("shape_distance")), tier.value("aspect_log_ratio")
    if new is None:
        return edges_near(points.column("shash"), points.column("aspect"), points.informative & points.has_features(),
                          limit, tier.name, aspect_limit=aspect_limit)
    return _links_near(_own_side(points, "shash", colours=False), _own_side(points, "shash", colours=False), new,
                       limit, aspect_limit, np.inf, tier.name)


def phash_edges(points: Points, tier: Tier, new: Sequence[int] | None = None) -> list[Edge]:
    """Points indexed before the features existed: equal phashes (within ``phash_distance`` bits). A full run
    only; their next `logosim index` gives them the features."""
    if new is not None:
        return []
    hashes = parse_phashes(points.column("phash"))
    present = np.array([bool(text) for text in points.column("phash")], dtype=bool)
    legacy = points.informative & present & ~degenerate(hashes) & ~points.has_features()
    return [Edge(a, b, tier.name, float(d)) for a, b, d in _join_near(hashes, legacy, int(tier.value("phash_distance")))]


@dataclass(frozen=True)
class _Side:
    """One picture of every point (its own, or on white): hashes, aspect, colours (all NaN: unchecked)."""

    hashes: np.ndarray
    aspect: np.ndarray
    layout: np.ndarray | None
    able: np.ndarray


def _own_side(points: Points, name: str, colours: bool) -> _Side:
    hashes, ratio = parse_pair_hashes(points.column(name)), aspects(points.column("aspect"))
    layout = parse_colours(points.column("colour")) if colours else None
    return _Side(hashes, ratio, layout, points.informative & (hashes[:, 0] != 0) & (ratio > 0))


def _links_near(mine: _Side, theirs: _Side, new: Sequence[int], limit: int, aspect_limit: float,
                colour_limit: float, tier: str) -> list[Edge]:
    """Points whose ``theirs`` picture is within ``limit`` bits of each new one's ``mine``, aspect ratios
    agreeing, and colours agreeing where both sides carry a layout: the new logos against every stored one by
    brute force in blocks (a few new logos do not pay for the full run's multi-index search)."""
    others = np.flatnonzero(theirs.able)
    rows = [i for i in new if mine.able[i]]
    step = max(1, COMPARE_CHUNK // max(len(others), 1))
    links = []
    for start in range(0, len(rows), step):
        part = np.array(rows[start:start + step])
        distance = pair_distance(mine.hashes[part][:, None, :], theirs.hashes[others][None, :, :])
        close = (distance <= limit) & aspect_close(mine.aspect[part][:, None], theirs.aspect[others][None, :],
                                                   aspect_limit)
        close &= part[:, None] != others[None, :]
        for r, c in zip(*np.nonzero(close), strict=True):
            if mine.layout is not None and theirs.layout is not None \
                    and not colour_close(mine.layout[part[r]], theirs.layout[others[c]], colour_limit):
                continue
            links.append(Edge(int(part[r]), int(others[c]), tier, float(distance[r, c])))
    return links


# -- the phash of payloads from before the features ---------------------------------------------------------
def parse_phashes(phashes: Sequence[str | None]) -> np.ndarray:
    """Hex strings to uint64; a missing or unreadable hash becomes 0 (blank, when the text was present)."""
    out = np.zeros(len(phashes), dtype=np.uint64)
    for i, text in enumerate(phashes):
        try:
            out[i] = int(text, 16) & 0xFFFFFFFFFFFFFFFF if text else 0
        except (TypeError, ValueError):
            out[i] = 0
    return out


def degenerate(hashes: np.ndarray) -> np.ndarray:
    bits = popcount(hashes)
    return (bits <= DEGENERATE_BITS) | (bits >= 64 - DEGENERATE_BITS)


def _join_near(hashes: np.ndarray, informative: np.ndarray, distance: int) -> list[tuple[int, int, int]]:
    """(a, b, bits) for points with equal hashes (chained to the first holder) and hashes within ``distance``."""
    index = np.flatnonzero(informative)
    values, inverse = np.unique(hashes[index], return_inverse=True)
    holders = np.full(len(values), -1, dtype=np.int64)
    pairs = []
    for position, value_index in enumerate(inverse.ravel()):  # equal hashes: join to the first holder
        if holders[value_index] < 0:
            holders[value_index] = index[position]
        else:
            pairs.append((int(holders[value_index]), int(index[position]), 0))
    for a, b in near_pairs(values, distance):
        pairs.append((int(holders[a]), int(holders[b]), int(popcount(values[a] ^ values[b]))))
    return pairs
