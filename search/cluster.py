"""Group logos tier by tier, strongest evidence first, and say for every member which tier joined it.

The tiers are ``search.tiers``' registry, in rank order: the strong ones (identical file, identical pixels,
near-identical picture, same shape; their pair tests in ``search.evidence``) join what they prove; then the
embedding tier (``search.embedtier``) calibrates a threshold for the model that made the vectors from the pairs
the likeness tiers proved against random pairs, and runs HDBSCAN under it, or abstains and says why (random
weights). Every merge is an edge with its tier and distance; ``ClusterResult.evidence`` keeps, per grouped
domain, the strongest edge that joined it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from common.errors import LogosimError
from indexer.features import FIELDS
from indexer.store import LogoStore, StoredPoint
from search import embedtier, grouping, textcheck, tiers
from search.evidence import Edge, Points

FEATURE_FIELDS = FIELDS  # payload fields written by indexer.features

Progress = Callable[[str], None]


@dataclass
class ClusterParams:
    """How a grouping was made: its thresholds, the embedding tier's calibration and graph, counts and timings
    (``clusters_evidence.json``, ``cluster --json``, the report's header)."""

    points: int = 0
    min_cluster_size: int = 2
    min_samples: int = 1
    pca_dims: int = 0
    thresholds: dict[str, float] = field(default_factory=tiers.thresholds)
    # search.embedtier.Calibration as a dict: the threshold for which model, or why the tier abstained
    calibration: dict[str, Any] | None = None
    embedding: dict[str, Any] = field(default_factory=dict)  # the embedding tier's graph: edges, k-NN kind
    blank_phash: int = 0  # logos whose picture is blank to a phash (kept out of the likeness tiers)
    flagged: int = 0  # logos with a placeholder warning (kept out of every tier)
    skipped_without_vector: int = 0
    stages: dict[str, float] = field(default_factory=dict)  # seconds per step
    incremental: dict[str, Any] | None = None  # `cluster --incremental`: new, placed, the embedding tier's state
    # the words' check (search.textcheck): logos read, seconds, pairs vetoed and the first of them with their words
    text: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ClusterParams:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in raw.items() if key in known})


@dataclass
class ClusterResult:
    labels: dict[str, int]  # domain -> label (-1 outlier)
    groups: dict[int, list[str]]  # label -> sorted domains (excl. -1); label 0 is the largest group
    outliers: list[str]
    tier: dict[str, str]  # domain -> a search.tiers name, tiers.OUTLIER or tiers.PLACEHOLDER
    params: ClusterParams = field(default_factory=ClusterParams)
    # domain -> {"tier", "distance", "via": the fellow member that evidence ties it to, and for the embedding
    # tier also "probability" and "outlier_score"}: why each grouped domain is in its group
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    # The points cluster_store read (vectors as views of its one matrix): the report draws from these
    # instead of scrolling the whole collection a second time.
    points: list[StoredPoint] = field(default_factory=list, repr=False)
    # The embedding tier's PCA (search.grouping.Projection), kept so that `cluster --incremental` measures new
    # logos in the space its calibration was made in; None when the tier had too few logos to project.
    projection: Any = field(default=None, repr=False)
    # domain -> the reading (indexer.text) the words' check made in this run: kept in the payload (``text``)
    readings: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def clusters(self) -> dict[str, list[str]]:
        """clusters.json's shape: labels in order, domains sorted, outliers under "-1"."""
        data = {str(label): sorted(domains) for label, domains in sorted(self.groups.items())}
        data["-1"] = sorted(self.outliers)
        return data

    def to_dict(self) -> dict[str, Any]:
        """`cluster --json`: the groups, and per group each member's evidence, the thresholds, the calibration."""
        return {"clusters": self.clusters(), **evidence_json(self)}

    def joined_by(self, short: bool = False) -> list[tuple[str, int]]:
        """(label, count) of the domains each tier joined, in rank order (search.tiers.joined_by)."""
        return tiers.joined_by(self.tier, short)

    def left_out(self) -> tuple[str, int]:
        """(label, count) of the logos kept out of every tier (a tiny or one-colour picture kept by import)."""
        return tiers.NOT_JOINED[tiers.PLACEHOLDER], sum(t == tiers.PLACEHOLDER for t in self.tier.values())

    def calibration_line(self) -> str:
        """The embedding tier in one sentence: its threshold for which model, or why it abstained."""
        calibration = self.params.calibration
        if not calibration:
            return ""
        model = calibration.get("model") or "these vectors"
        if calibration.get("threshold") is None:
            return f"embedding tier abstained for {model}: {calibration.get('abstained')}"
        return (f"embedding tier for {model}: joins within distance {calibration['threshold']:.4f} (false-merge "
                f"rate {calibration['false_merge_rate']:.1e} on random pairs; keeps {calibration['recall']:.0%} of "
                f"{calibration['positives']} pairs the strong tiers proved)")


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
                    pca_dims: int = grouping.PCA_DIMS, flagged: Sequence[bool] | None = None,
                    progress: Progress | None = None, features: Sequence[Mapping[str, Any] | None] | None = None,
                    model: str = "", reader: textcheck.Reader | None = None) -> ClusterResult:
    """Pure grouping of aligned inputs (row i of each belongs to ``domains[i]``).

    ``flagged[i]`` (a logo with a placeholder warning) keeps point i out of every tier. ``features[i]`` is
    the payload's near-duplicate evidence (``indexer.features``: pixels, nhash, shash, aspect, ...); a point
    without it falls back to the equal-phash rule. ``model`` names the weights the vectors came from: the
    embedding tier's calibration is recorded for it. ``reader(i)`` reads point i's words (indexer.text) for the
    words' check (search.textcheck); without it only readings already in ``features`` count.
    """
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    n = len(domains)
    kept_out = np.zeros(n, dtype=bool) if flagged is None else np.asarray(flagged, dtype=bool)
    feats = list(features) if features is not None else [None] * n
    if not (len(vectors) == len(sha256s) == len(phashes) == len(kept_out) == len(feats) == n):
        raise ValueError("domains, vectors, sha256s, phashes, flagged and features must have the same length")
    points = Points.of([{**(f or {}), "sha256": sha, "phash": ph} for f, sha, ph in zip(feats, sha256s, phashes,
                                                                                         strict=True)], kept_out)
    union = UnionFind(n)
    say("joining " + ", ".join(t.label for t in tiers.STRONG if not t.legacy))
    edges = [edge for tier in tiers.STRONG for edge in tier.edges(points, tier, None)]  # type: ignore[misc]
    say("reading the words of undecided pairs")
    edges, text = textcheck.check(edges, points.payloads, reader)  # type: ignore[arg-type]
    best = _apply(edges, union)
    strong_s = time.perf_counter() - started
    say(f"grouping by {tiers.EMBEDDING_TIER.label} under a calibrated threshold")
    params = ClusterParams(points=n, min_cluster_size=min_cluster_size, min_samples=min_samples or 1,
                           blank_phash=int(points.blank.sum()), flagged=int(kept_out.sum()))
    params.stages["strong_tiers_s"] = round(strong_s, 2)
    params.text = text.summary(domains, points.payloads)  # type: ignore[arg-type]
    projection = _embedding_tier(np.asarray(vectors, dtype=np.float32), points.informative, edges, union, best,
                                 params, pca_dims, model)
    result = _result(list(domains), union.roots(), best, kept_out)
    result.projection = projection
    result.readings = {domains[i]: reading for i, reading in text.read.items()}
    result.params = params
    result.seconds = time.perf_counter() - started
    return result


def _apply(edges: list[Edge], union: UnionFind) -> dict[int, dict[str, Any]]:
    """Union along every edge; per point, the strongest evidence that joined it (tier rank, then distance)."""
    best: dict[int, dict[str, Any]] = {}
    for edge in sorted(edges, key=lambda e: (tiers.rank(e.tier), e.distance)):
        union.union(edge.a, edge.b)
        for point, other in ((edge.a, edge.b), (edge.b, edge.a)):
            if point not in best:
                best[point] = {"tier": edge.tier, "distance": edge.distance, "via": other}
    return best


def _embedding_tier(vectors: np.ndarray, informative: np.ndarray, edges: list[Edge], union: UnionFind,
                    best: dict[int, dict[str, Any]], params: ClusterParams, pca_dims: int,
                    model: str) -> grouping.Projection | None:
    """Calibrate on the likeness tiers' pairs, then HDBSCAN under the threshold; fills ``params`` and returns
    the PCA it measured in."""
    index = np.flatnonzero(informative)
    params.embedding = {"graph": "thresholded_knn"}
    if len(index) < 3:
        params.calibration = {"model": model, "threshold": None, "abstained": "fewer than 3 logos"}
        return None
    started = time.perf_counter()
    projection, points = grouping.project(vectors, pca_dims, rows=index)  # normalised chunk by chunk: no copy
    params.pca_dims = int(points.shape[1])
    params.stages["pca_s"] = round(time.perf_counter() - started, 2)
    local = np.full(len(vectors), -1, dtype=np.int64)
    local[index] = np.arange(len(index))
    role = {t.name: t.role for t in tiers.TIERS}
    exact = UnionFind(len(vectors))  # the same file or pixels: equal vectors, which prove nothing about scale
    for edge in edges:
        if role[edge.tier] == tiers.IDENTITY:
            exact.union(edge.a, edge.b)
    proven = np.array([(local[e.a], local[e.b]) for e in edges if role[e.tier] == tiers.LIKENESS
                       and local[e.a] >= 0 and local[e.b] >= 0 and exact.find(e.a) != exact.find(e.b)],
                      dtype=np.int64).reshape(-1, 2)
    roots = union.roots()[index]
    sizes = np.bincount(roots, minlength=len(vectors))
    started = time.perf_counter()
    calibration = embedtier.calibrate(points, proven, np.where(sizes[roots] > 1, roots, -1), model)
    params.stages["calibrate_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    tier = embedtier.cluster(points, calibration, params.min_cluster_size, params.min_samples)
    params.stages["knn_hdbscan_s"] = round(time.perf_counter() - started, 2)
    params.calibration = calibration.to_dict()
    params.embedding.update(tier.info)
    for position in np.flatnonzero(tier.labels >= 0):
        a, b = int(index[position]), int(index[tier.nearest[position]])
        union.union(a, b)
        best.setdefault(a, {"tier": tiers.EMBEDDING_TIER.name, "distance": float(tier.distance[position]), "via": b,
                            "probability": round(float(tier.probabilities[position]), 4),
                            "outlier_score": round(float(tier.outlier_scores[position]), 4)})
    return projection


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
            tier[domain] = tiers.PLACEHOLDER
        elif labels[domain] < 0 or i not in best:
            tier[domain] = tiers.OUTLIER
        else:
            tier[domain] = best[i]["tier"]
            explained[domain] = {**best[i], "via": domains[best[i]["via"]],
                                 "distance": round(float(best[i]["distance"]), 6)}
    outliers = sorted(d for d in domains if labels[d] < 0)
    return ClusterResult(labels=labels, groups=groups, outliers=outliers, tier=tier, evidence=explained)


def cluster_store(store: LogoStore, *, min_cluster_size: int = 2, min_samples: int | None = None,
                  write_back: bool = True, progress: Progress | None = None,
                  read_text: Callable[[StoredPoint], dict[str, Any] | None] | None = None) -> ClusterResult:
    """Read every vector and payload, group them, and write each domain's label back as payload ``cluster``.
    ``read_text(point)`` reads a logo's words (indexer.text) for the pairs that need them; each reading is kept
    in the payload (``text``)."""
    say = progress or (lambda _message: None)
    say("reading vectors")
    domains, vectors, sha256s, phashes, flagged, skipped, feats, models, points = _export(store)
    reader = (lambda i: read_text(points[i])) if read_text is not None else None
    result = cluster_vectors(domains, vectors, sha256s, phashes, min_cluster_size=min_cluster_size,
                             min_samples=min_samples, flagged=flagged, progress=progress, features=feats,
                             model=_one_model(models), reader=reader)
    result.params.skipped_without_vector = skipped
    result.points = points
    if write_back:
        say("writing labels back")
        write_labels(store, result)
        for domain, reading in sorted(result.readings.items()):
            store.set_payload([domain], {"text": reading})
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
        feats.append({key: point.payload.get(key) for key in (*FEATURE_FIELDS, "text")})
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
    return {"thresholds": dict(result.params.thresholds),
            "embedding_tier": result.params.calibration,
            "text_check": result.params.text,
            "groups": {str(label): [{"domain": d, **result.evidence.get(d, {"tier": result.tier.get(d)})}
                                    for d in domains] for label, domains in sorted(result.groups.items())}}
