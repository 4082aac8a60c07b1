"""Group logos in two tiers: identical / near-identical images first (union-find), then HDBSCAN on embeddings.

Most real groups are one logo file reused across a brand's domains, so exact evidence goes first: the same
sha256, or perceptual hashes within a few bits. HDBSCAN then joins what only the embeddings can tell apart
(re-coloured, re-sized, re-cropped variants). It runs on *all* points and the pre-groups are merged into its
result afterwards, rather than on one mean vector per pre-group, because (1) ``min_cluster_size`` then keeps
its meaning in domains, (2) a logo reused on 30 domains really is a dense spot, and (3) tuning can score
HDBSCAN's labels against the pre-groups on exactly the input it sees.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from indexer.store import LogoStore
from search import grouping

# Calibrated on the 3,318 real logos in shared/data/real-logos, through the project's own path
# (crawler.convert.topng.to_png -> indexer.preprocess.phash_hex, i.e. the hash of the trimmed logo padded to a
# square, as stored in the payload). Pairs were examined by eye and by domain family. Padding makes every
# wide word-mark look alike to a 64-bit DCT hash: unrelated brands meet already at 2 bits (GlobalConnect /
# Virtual-Reality.school, Moore / Sompo) and at 4 (AstraZeneca / Krautzberger, Tupperware / Husse, Kia /
# World Vision). Equal hashes are safe: of 366 sets of domains sharing one hash, 4 span name families, 3 of
# them the same brand (wurth/wuerth, spie/spiegse, engie/laborelec) and 1 a probable false merge
# (myron.ca / vectorinfotech.my). So only equal hashes join by default; near variants are left to HDBSCAN.
# (On the unpadded logo composited on white, every pair within 8 bits was the same brand and 10 bits began
# to mix brands; a hash of that picture would allow a distance of about 6.)
PHASH_DISTANCE = 0

# A real phash thresholds 64 DCT terms at their median, so about 32 bits are set; a blank image (e.g. a white
# logo on transparency, composited on white: 272 of the 3,318 real logos) gives 0x8000000000000000. Such
# hashes say nothing about shape: they never join by phash, and those points stay out of HDBSCAN.
DEGENERATE_BITS = 8
NEAR_CHUNK = 512
# A logo converted with a warning (tiny or one colour: a blank favicon, a spacer; only `logosim import` keeps
# them) is kept out of every tier: two sites with the same white square do not share a logo.
FLAGGED_TIER = "placeholder"

Progress = Callable[[str], None]


@dataclass
class ClusterResult:
    labels: dict[str, int]  # domain -> label (-1 outlier)
    groups: dict[int, list[str]]  # label -> sorted domains (excl. -1); label 0 is the largest group
    outliers: list[str]
    tier: dict[str, str]  # domain -> "sha256" | "phash" | "hdbscan" | "outlier" | "placeholder": which tier joined it
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:  # path compression keeps later finds flat
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def roots(self) -> np.ndarray:
        return np.fromiter((self.find(i) for i in range(len(self.parent))), dtype=np.int64,
                           count=len(self.parent))


def cluster_vectors(domains: Sequence[str], vectors: np.ndarray, sha256s: Sequence[str | None],
                    phashes: Sequence[str | None], *, min_cluster_size: int = 2, min_samples: int | None = None,
                    phash_distance: int | None = None, epsilon: float = 0.0, tune: bool = False,
                    pca_dims: int = grouping.PCA_DIMS, dense_limit: int = grouping.DENSE_LIMIT,
                    flagged: Sequence[bool] | None = None, progress: Progress | None = None) -> ClusterResult:
    """Pure grouping of aligned inputs (row i of each belongs to ``domains[i]``).

    ``flagged[i]`` (a logo with a placeholder warning) keeps point i out of every tier.
    """
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    n = len(domains)
    kept_out = np.zeros(n, dtype=bool) if flagged is None else np.asarray(flagged, dtype=bool)
    if not (len(vectors) == len(sha256s) == len(phashes) == len(kept_out) == n):
        raise ValueError("domains, vectors, sha256s, phashes and flagged must have the same length")
    distance = PHASH_DISTANCE if phash_distance is None else phash_distance
    hashes = parse_phashes(phashes)
    present = np.array([bool(text) for text in phashes], dtype=bool)
    blank = present & degenerate(hashes)  # a missing hash says nothing; a blank image's hash does
    informative = ~blank & ~kept_out
    union = _UnionFind(n)
    say("joining identical files")
    by_sha = _join_identical([None if out else sha for sha, out in zip(sha256s, kept_out, strict=True)], union)
    say("joining near-identical images")
    _join_near(hashes, informative & present & ~degenerate(hashes), distance, union)
    pre_roots = union.roots()
    pre_sizes = np.bincount(pre_roots, minlength=n)
    weak = np.where(pre_sizes[pre_roots] > 1, pre_roots, -1)
    say("grouping embeddings with HDBSCAN")
    params, hdbscan = _embedding_tier(np.asarray(vectors, dtype=np.float32), informative, weak, union,
                                      grouping.HdbscanParams(min_cluster_size, min_samples, epsilon),
                                      tune, pca_dims, dense_limit)
    params.update(phash_distance=distance, blank_phash=int(blank.sum()), flagged=int(kept_out.sum()), points=n)
    result = _result(list(domains), union.roots(), by_sha, weak >= 0, hdbscan, kept_out)
    result.params = params
    result.seconds = time.perf_counter() - started
    return result


def _join_identical(sha256s: Sequence[str | None], union: _UnionFind) -> np.ndarray:
    """Union every set of points with the same file hash; returns who shares its file with another."""
    first: dict[str, int] = {}
    shared = np.zeros(len(sha256s), dtype=bool)
    for i, sha in enumerate(sha256s):
        if not sha:
            continue
        if sha in first:
            union.union(first[sha], i)
            shared[i] = shared[first[sha]] = True
        else:
            first[sha] = i
    return shared


def _join_near(hashes: np.ndarray, informative: np.ndarray, distance: int, union: _UnionFind) -> None:
    index = np.flatnonzero(informative)
    values, inverse = np.unique(hashes[index], return_inverse=True)
    holders = np.full(len(values), -1, dtype=np.int64)
    for position, value_index in enumerate(inverse):  # equal hashes: join to the first holder
        if holders[value_index] < 0:
            holders[value_index] = index[position]
        else:
            union.union(int(holders[value_index]), int(index[position]))
    for a, b in near_pairs(values, distance):
        union.union(int(holders[a]), int(holders[b]))


def _embedding_tier(vectors: np.ndarray, informative: np.ndarray, weak: np.ndarray, union: _UnionFind,
                    params: grouping.HdbscanParams, tune: bool, pca_dims: int,
                    dense_limit: int) -> tuple[dict[str, Any], np.ndarray]:
    """HDBSCAN over points whose image carries shape information; returns (params, per-point labels)."""
    labels = np.full(len(vectors), -1, dtype=np.int64)
    index = np.flatnonzero(informative)
    info: dict[str, Any] = {"min_cluster_size": params.min_cluster_size, "min_samples": params.min_samples,
                            "epsilon": params.epsilon, "pca_dims": 0, "graph": "none", "tuned": False}
    if len(index) < 3:
        return info, labels
    norms = np.linalg.norm(vectors[index], axis=1, keepdims=True)
    points = grouping.reduce(vectors[index] / np.maximum(norms, 1e-12), pca_dims)
    graph = grouping.distance_graph(points, dense_limit)
    info.update(pca_dims=int(points.shape[1]), graph="dense" if graph.dense else "knn")
    if tune:
        params, criterion = grouping.tune(graph, weak[index])
        info.update(min_cluster_size=params.min_cluster_size, min_samples=params.min_samples,
                    epsilon=params.epsilon, tuned=True, criterion="pair_f1_vs_pregroups", **criterion)
    labels[index], info["dropped_unseparated"] = grouping.keep_separated(graph, grouping.hdbscan_labels(graph, params))
    members: dict[int, int] = {}
    for i in np.flatnonzero(labels >= 0):
        first = members.setdefault(int(labels[i]), int(i))
        union.union(first, int(i))
    return info, labels


def _result(domains: list[str], roots: np.ndarray, by_sha: np.ndarray, pre_grouped: np.ndarray,
            hdbscan: np.ndarray, kept_out: np.ndarray) -> ClusterResult:
    """Number groups largest first (ties by first domain) so labels are stable for the same input."""
    members: dict[int, list[str]] = {}
    for domain, root in zip(domains, roots.tolist(), strict=True):
        members.setdefault(root, []).append(domain)
    grouped = sorted((sorted(ds) for ds in members.values() if len(ds) > 1), key=lambda ds: (-len(ds), ds[0]))
    groups = dict(enumerate(grouped))
    labels = {domain: -1 for domain in domains}
    labels.update({domain: label for label, ds in groups.items() for domain in ds})
    tier = {}
    for i, domain in enumerate(domains):
        if kept_out[i]:
            tier[domain] = FLAGGED_TIER
        elif labels[domain] < 0:
            tier[domain] = "outlier"
        elif by_sha[i]:
            tier[domain] = "sha256"
        elif pre_grouped[i]:
            tier[domain] = "phash"
        else:
            tier[domain] = "hdbscan"
    outliers = sorted(d for d in domains if labels[d] < 0)
    return ClusterResult(labels=labels, groups=groups, outliers=outliers, tier=tier)


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
    bits = _popcount(hashes)
    return (bits <= DEGENERATE_BITS) | (bits >= 64 - DEGENERATE_BITS)


def near_pairs(values: np.ndarray, distance: int) -> list[tuple[int, int]]:
    """Index pairs of distinct hashes within ``distance`` bits, by multi-index hashing.

    Split the 64 bits into distance+1 chunks: two hashes within ``distance`` bits agree exactly on at least
    one chunk (pigeonhole), so only hashes sharing a chunk value are compared: near-linear, not n^2.
    """
    if distance <= 0 or len(values) < 2:
        return []
    found: set[tuple[int, int]] = set()
    bounds = np.linspace(0, 64, min(distance + 1, 64) + 1).astype(np.uint64)
    for low, high in zip(bounds[:-1], bounds[1:], strict=True):
        keys = (values >> low) & np.uint64((1 << int(high - low)) - 1)
        order = np.argsort(keys, kind="stable")
        edges = np.flatnonzero(np.diff(keys[order])) + 1
        for bucket in np.split(order, edges):
            if len(bucket) > 1:
                found.update(_close_in_bucket(values, bucket, distance))
    return sorted(found)


def _close_in_bucket(values: np.ndarray, bucket: np.ndarray, distance: int) -> list[tuple[int, int]]:
    pairs = []
    for start in range(0, len(bucket), NEAR_CHUNK):  # row chunks keep a skewed bucket's matrix small
        rows = bucket[start:start + NEAR_CHUNK]
        close = _popcount(values[rows][:, None] ^ values[bucket][None, :]) <= distance
        for r, c in zip(*np.nonzero(close), strict=True):
            a, b = int(rows[r]), int(bucket[c])
            if a < b:
                pairs.append((a, b))
    return pairs


def _popcount(values: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2
        return np.bitwise_count(values).astype(np.int64)
    as_bytes = values.astype(np.uint64).view(np.uint8).reshape(*values.shape, 8)
    return np.unpackbits(as_bytes, axis=-1).sum(axis=-1).astype(np.int64)


def cluster_store(store: LogoStore, *, min_cluster_size: int = 2, min_samples: int | None = None,
                  phash_distance: int | None = None, tune: bool = False, write_back: bool = True,
                  progress: Progress | None = None) -> ClusterResult:
    """Read every vector and payload, group them, and write each domain's label back as payload ``cluster``."""
    say = progress or (lambda _message: None)
    say("reading vectors")
    domains, vectors, sha256s, phashes, flagged, skipped = _export(store)
    result = cluster_vectors(domains, vectors, sha256s, phashes, min_cluster_size=min_cluster_size,
                             min_samples=min_samples, phash_distance=phash_distance, tune=tune,
                             flagged=flagged, progress=progress)
    result.params["skipped_without_vector"] = skipped
    if write_back:
        say("writing labels back")
        write_labels(store, result)
    return result


def _export(store: LogoStore) -> tuple[list[str], np.ndarray, list[str | None], list[str | None], list[bool], int]:
    domains: list[str] = []
    rows: list[np.ndarray] = []
    sha256s: list[str | None] = []
    phashes: list[str | None] = []
    flagged: list[bool] = []
    skipped = 0
    for point in store.scroll(with_vectors=True):
        if point.vector is None or not point.domain:
            skipped += 1  # a point without a vector cannot be placed; counted, not fatal
            continue
        domains.append(point.domain)
        rows.append(point.vector)
        sha256s.append(point.payload.get("sha256"))
        phashes.append(point.payload.get("phash"))
        flagged.append(bool(point.payload.get("warning")))
    vectors = np.vstack(rows).astype(np.float32) if rows else np.zeros((0, 0), dtype=np.float32)
    return domains, vectors, sha256s, phashes, flagged, skipped


def write_labels(store: LogoStore, result: ClusterResult) -> None:
    """One set_payload call per label, so HTTP users can filter on ``cluster``."""
    by_label: dict[int, list[str]] = {}
    for domain, label in result.labels.items():
        by_label.setdefault(label, []).append(domain)
    for label, domains in sorted(by_label.items()):
        store.set_payload(sorted(domains), {"cluster": label})
