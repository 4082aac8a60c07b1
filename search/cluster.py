"""Group logos tier by tier, strongest evidence first, and say for every member which tier joined it.

1. the same file (sha256); 2. the same pixels in another encoding; 3. a near-identical picture (phash+dhash of
the trimmed, unpadded logo within a calibrated distance, aspect ratios alike); 4. the same shape in other
colours (the same hashes of the foreground mask); all from ``search.evidence`` over the payload's features.
5. the embedding tier (``search.embedtier``): a threshold calibrated for the model that made the vectors,
from the pairs tiers 3-4 proved against random pairs, then HDBSCAN under that threshold; it abstains, and
says so, when the weights cannot separate proven pairs from random ones (random weights).
Every merge is an edge with its tier and distance; ``ClusterResult.evidence`` keeps, per grouped domain,
the strongest edge that joined it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.errors import LogosimError
from indexer.features import FIELDS
from indexer.store import LogoStore, StoredPoint
from search import embedtier, evidence, grouping
from search.hashing import near_pairs, popcount  # noqa: F401  (near_pairs: part of this module's API)

# Calibrated on the 3,318 real logos in shared/data/real-logos, through the project's own path
# (convert.topng.to_png -> indexer.preprocess.phash_hex, i.e. the hash of the trimmed logo padded to a
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
# A logo converted with a warning (tiny or one colour: a blank favicon, a spacer; only `logosim import` keeps
# them) is kept out of every tier: two sites with the same white square do not share a logo.
FLAGGED_TIER = "placeholder"

FEATURE_FIELDS = FIELDS  # payload fields written by indexer.features

Progress = Callable[[str], None]


@dataclass
class ClusterResult:
    labels: dict[str, int]  # domain -> label (-1 outlier)
    groups: dict[int, list[str]]  # label -> sorted domains (excl. -1); label 0 is the largest group
    outliers: list[str]
    tier: dict[str, str]  # domain -> "sha256" | "pixels" | "near" | "shape" | "phash" | "hdbscan" | "outlier" | "placeholder"
    params: dict[str, Any] = field(default_factory=dict)
    # domain -> {"tier", "distance", "via": the fellow member that evidence ties it to, and for "hdbscan"
    # also "probability" and "outlier_score"}: why each grouped domain is in its group
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    # The points cluster_store read (vectors as views of its one matrix): the report draws from these
    # instead of scrolling the whole collection a second time.
    points: list[StoredPoint] = field(default_factory=list, repr=False)
    # The embedding tier's PCA (search.grouping.Projection), kept so that `cluster --incremental` measures new
    # logos in the space its calibration was made in; None when the tier had too few logos to project.
    projection: Any = field(default=None, repr=False)


class UnionFind:
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
                    phash_distance: int | None = None, tune: bool = False, pca_dims: int = grouping.PCA_DIMS,
                    flagged: Sequence[bool] | None = None, progress: Progress | None = None,
                    features: Sequence[Mapping[str, Any] | None] | None = None, model: str = "") -> ClusterResult:
    """Pure grouping of aligned inputs (row i of each belongs to ``domains[i]``).

    ``flagged[i]`` (a logo with a placeholder warning) keeps point i out of every tier. ``features[i]`` is
    the payload's near-duplicate evidence (``indexer.features``: pixels, nhash, shash, aspect); a point
    without it falls back to the equal-phash rule. ``model`` names the weights the vectors came from: the
    embedding tier's calibration is recorded for it.
    """
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    n = len(domains)
    kept_out = np.zeros(n, dtype=bool) if flagged is None else np.asarray(flagged, dtype=bool)
    feats = list(features) if features is not None else [None] * n
    if not (len(vectors) == len(sha256s) == len(phashes) == len(kept_out) == len(feats) == n):
        raise ValueError("domains, vectors, sha256s, phashes, flagged and features must have the same length")
    distance = PHASH_DISTANCE if phash_distance is None else phash_distance
    hashes = parse_phashes(phashes)
    present = np.array([bool(text) for text in phashes], dtype=bool)
    blank = present & degenerate(hashes)  # a missing hash says nothing; a blank image's hash does
    informative = ~blank & ~kept_out
    union = UnionFind(n)
    say("joining identical files, identical pixels, near-identical pictures and shapes")
    edges = _strong_edges(feats, sha256s, hashes, present, informative, kept_out, distance)
    best = _apply(edges, union)
    strong_s = time.perf_counter() - started
    say("grouping embeddings with HDBSCAN under a calibrated threshold")
    params, tier = _embedding_tier(np.asarray(vectors, dtype=np.float32), informative, edges, union, best,
                                   min_cluster_size, min_samples, pca_dims, model)
    params.update(phash_distance=distance, blank_phash=int(blank.sum()), flagged=int(kept_out.sum()), points=n,
                  near_distance=evidence.NEAR_DISTANCE,
                  colour_distance=evidence.COLOUR_DISTANCE, shape_distance=evidence.SHAPE_DISTANCE,
                  aspect_log_ratio=evidence.ASPECT_LOG_RATIO, tuned=False)
    params.setdefault("stages", {})["strong_tiers_s"] = round(strong_s, 2)
    if tune:
        params["tune"] = "nothing to tune: the embedding tier's threshold is calibrated on the data"
    result = _result(list(domains), union.roots(), best, kept_out)
    result.projection = params.pop("projection", None)
    result.params = params
    result.seconds = time.perf_counter() - started
    return result


def _strong_edges(feats: list[Mapping[str, Any] | None], sha256s: Sequence[str | None], hashes: np.ndarray,
                  present: np.ndarray, informative: np.ndarray, kept_out: np.ndarray,
                  distance: int) -> list[evidence.Edge]:
    def field_of(name: str) -> list[Any]:
        return [f.get(name) if f else None for f in feats]

    usable = ~kept_out
    nhash, shash, aspect = field_of("nhash"), field_of("shash"), field_of("aspect")
    has_features = np.array([bool(text) for text in nhash], dtype=bool)
    edges = evidence.edges_equal(sha256s, usable, "sha256")
    edges += evidence.edges_equal(field_of("pixels"), usable, "pixels")
    edges += evidence.edges_near(nhash, aspect, informative & has_features, evidence.NEAR_DISTANCE, "near",
                                 colours=field_of("colour"), on_white=field_of("on_white"))
    edges += evidence.edges_near(shash, aspect, informative & has_features, evidence.SHAPE_DISTANCE, "shape")
    legacy = informative & present & ~degenerate(hashes) & ~has_features  # payloads from before features
    edges += [evidence.Edge(a, b, "phash", float(d)) for a, b, d in _join_near(hashes, legacy, distance)]
    return edges


_RANK = {"sha256": 0, "pixels": 1, "near": 2, "phash": 2, "shape": 3, "hdbscan": 4}


def _apply(edges: list[evidence.Edge], union: UnionFind) -> dict[int, dict[str, Any]]:
    """Union along every edge; per point, the strongest evidence that joined it (tier order, then distance)."""
    best: dict[int, dict[str, Any]] = {}
    for edge in sorted(edges, key=lambda e: (_RANK[e.tier], e.distance)):
        union.union(edge.a, edge.b)
        for point, other in ((edge.a, edge.b), (edge.b, edge.a)):
            if point not in best:
                best[point] = {"tier": edge.tier, "distance": edge.distance, "via": other}
    return best


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


def _embedding_tier(vectors: np.ndarray, informative: np.ndarray, edges: list[evidence.Edge], union: UnionFind,
                    best: dict[int, dict[str, Any]], min_cluster_size: int, min_samples: int | None,
                    pca_dims: int, model: str) -> tuple[dict[str, Any], np.ndarray]:
    """Calibrate on the strong tiers' pairs, then HDBSCAN under the threshold; returns (params, labels)."""
    labels = np.full(len(vectors), -1, dtype=np.int64)
    index = np.flatnonzero(informative)
    info: dict[str, Any] = {"min_cluster_size": min_cluster_size, "min_samples": min_samples or 1,
                            "pca_dims": 0, "graph": "thresholded_knn"}
    if len(index) < 3:
        info["calibration"] = {"model": model, "threshold": None, "abstained": "fewer than 3 logos"}
        return info, labels
    started = time.perf_counter()
    projection, points = grouping.project(vectors, pca_dims, rows=index)  # normalised chunk by chunk: no copy
    info["pca_dims"] = int(points.shape[1])
    info["projection"] = projection  # not JSON: kept for incremental placement, written beside clusters.json
    stages = info["stages"] = {"pca_s": round(time.perf_counter() - started, 2)}
    local = np.full(len(vectors), -1, dtype=np.int64)
    local[index] = np.arange(len(index))
    exact = UnionFind(len(vectors))  # the same file or pixels: equal vectors, which prove nothing about scale
    for edge in edges:
        if edge.tier in ("sha256", "pixels"):
            exact.union(edge.a, edge.b)
    proven = np.array([(local[e.a], local[e.b]) for e in edges if e.tier in ("near", "shape", "phash")
                       and local[e.a] >= 0 and local[e.b] >= 0 and exact.find(e.a) != exact.find(e.b)],
                      dtype=np.int64).reshape(-1, 2)
    roots = union.roots()[index]
    sizes = np.bincount(roots, minlength=len(vectors))
    started = time.perf_counter()
    calibration = embedtier.calibrate(points, proven, np.where(sizes[roots] > 1, roots, -1), model)
    stages["calibrate_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    tier = embedtier.cluster(points, calibration, min_cluster_size, min_samples or 1)
    stages["knn_hdbscan_s"] = round(time.perf_counter() - started, 2)
    info["calibration"] = calibration.to_dict()
    info.update(tier.info)
    labels[index] = tier.labels
    for position in np.flatnonzero(tier.labels >= 0):
        a, b = int(index[position]), int(index[tier.nearest[position]])
        union.union(a, b)
        best.setdefault(a, {"tier": "hdbscan", "distance": float(tier.distance[position]), "via": b,
                            "probability": round(float(tier.probabilities[position]), 4),
                            "outlier_score": round(float(tier.outlier_scores[position]), 4)})
    return info, labels


def _result(domains: list[str], roots: np.ndarray, best: dict[int, dict[str, Any]],
            kept_out: np.ndarray) -> ClusterResult:
    """Number groups largest first (ties by first domain) so labels are stable for the same input."""
    members: dict[int, list[str]] = {}
    for domain, root in zip(domains, roots.tolist(), strict=True):
        members.setdefault(root, []).append(domain)
    grouped = sorted((sorted(ds) for ds in members.values() if len(ds) > 1), key=lambda ds: (-len(ds), ds[0]))
    groups = dict(enumerate(grouped))
    labels = {domain: -1 for domain in domains}
    labels.update({domain: label for label, ds in groups.items() for domain in ds})
    tier, explained = {}, {}
    for i, domain in enumerate(domains):
        if kept_out[i]:
            tier[domain] = FLAGGED_TIER
        elif labels[domain] < 0 or i not in best:
            tier[domain] = "outlier"
        else:
            tier[domain] = best[i]["tier"]
            explained[domain] = {**best[i], "via": domains[best[i]["via"]],
                                 "distance": round(float(best[i]["distance"]), 6)}
    outliers = sorted(d for d in domains if labels[d] < 0)
    return ClusterResult(labels=labels, groups=groups, outliers=outliers, tier=tier, evidence=explained)


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


def cluster_store(store: LogoStore, *, min_cluster_size: int = 2, min_samples: int | None = None,
                  phash_distance: int | None = None, tune: bool = False, write_back: bool = True,
                  progress: Progress | None = None) -> ClusterResult:
    """Read every vector and payload, group them, and write each domain's label back as payload ``cluster``."""
    say = progress or (lambda _message: None)
    say("reading vectors")
    domains, vectors, sha256s, phashes, flagged, skipped, feats, models, points = _export(store)
    result = cluster_vectors(domains, vectors, sha256s, phashes, min_cluster_size=min_cluster_size,
                             min_samples=min_samples, phash_distance=phash_distance, tune=tune,
                             flagged=flagged, progress=progress, features=feats, model=_one_model(models))
    result.params["skipped_without_vector"] = skipped
    result.points = points
    if write_back:
        say("writing labels back")
        write_labels(store, result)
    return result


def _one_model(models: Counter[str]) -> str:
    """The weights that made the vectors; vectors of several models do not share a scale: refuse."""
    named = [m for m in models if m]
    if len(named) > 1:
        raise LogosimError(f"the collection mixes vectors of several models ({', '.join(sorted(named))}): "
                           "run `logosim index --force` with one --weights")
    return named[0] if named else ""


def _export(store: LogoStore) -> tuple[list[str], np.ndarray, list[str | None], list[str | None], list[bool], int,
                                       list[dict[str, Any]], Counter[str], list[StoredPoint]]:
    domains: list[str] = []
    points: list[StoredPoint] = []
    rows: list[np.ndarray] = []
    sha256s: list[str | None] = []
    phashes: list[str | None] = []
    flagged: list[bool] = []
    feats: list[dict[str, Any]] = []
    models: Counter[str] = Counter()
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
        feats.append({key: point.payload.get(key) for key in FEATURE_FIELDS})
        models[str(point.payload.get("model") or "")] += 1
        points.append(point)
    vectors = np.vstack(rows).astype(np.float32) if rows else np.zeros((0, 0), dtype=np.float32)
    del rows
    for index, point in enumerate(points):
        point.vector = vectors[index]  # a view: one copy of the vectors in memory, not two
    return domains, vectors, sha256s, phashes, flagged, skipped, feats, models, points


def write_labels(store: LogoStore, result: ClusterResult, only: Sequence[str] | None = None) -> None:
    """Payload ``cluster`` (one set_payload call per label, so HTTP users can filter on it) and ``evidence``
    (per grouped domain: which tier joined it, at what distance, via which fellow member; null otherwise);
    ``only``: just these domains (an incremental placement)."""
    chosen = set(result.labels) if only is None else set(only)
    by_label: dict[int, list[str]] = {}
    for domain, label in result.labels.items():
        if domain in chosen:
            by_label.setdefault(label, []).append(domain)
    for label, domains in sorted(by_label.items()):
        store.set_payload(sorted(domains), {"cluster": label, "evidence": None})
    for domain, explained in sorted(result.evidence.items()):
        if domain in chosen:
            store.set_payload([domain], {"evidence": explained})


def evidence_json(result: ClusterResult) -> dict[str, Any]:
    """clusters_evidence.json: per group, each member's tier, distance and fellow; the thresholds and the
    embedding tier's calibration (threshold for which model, or why it abstained)."""
    params = result.params
    return {"thresholds": {key: params.get(key) for key in ("near_distance", "colour_distance", "shape_distance",
                                                             "aspect_log_ratio", "phash_distance")},
            "embedding_tier": params.get("calibration"),
            "groups": {str(label): [{"domain": d, **result.evidence.get(d, {"tier": result.tier.get(d)})}
                                    for d in domains] for label, domains in sorted(result.groups.items())}}
