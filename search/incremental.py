"""Place logos indexed since the last full clustering into its groups, without a full recompute.

A full ``logosim cluster`` leaves its groups (clusters.json), each member's evidence and the embedding tier's
calibration (clusters_evidence.json) and the PCA that calibration was measured in (``grouping.Projection``).
Each new logo is then compared with what is stored, tier by tier, with the full run's own thresholds:

1. the strong tiers against every stored logo: the same sha256 or pixels, a near-identical picture, the same
   shape (``evidence`` thresholds, aspect ratios alike; placeholders and blank hashes join nothing);
2. the embedding tier, when the full run calibrated one for the same model: the store's k-NN query gives the
   nearest stored logos, their distance is re-measured in the calibration's PCA space, and the logo joins the
   nearest group member's group when that distance is within the calibrated threshold and within the
   distance from that member to its own nearest fellow (``_local_scale``: HDBSCAN's cluster reaches a point
   only below the distances at which its members link; a loner at 0.8 of the threshold beside a tight
   group stays out, as in a full run).

New logos tied to each other by a strong tier move together; a set of them tied to a group joins it through
its strongest edge (tier first, then distance); tied only to each other, or to logos that were outliers,
they form a new group; tied to nothing they stay outliers. Existing groups are never merged or renumbered
(a full run may merge two groups that a new logo bridges: run one when that matters).

Why not ``hdbscan.approximate_predict``: it needs the prediction data that HDBSCAN keeps only when it is
fitted on raw feature vectors with ``prediction_data=True`` (core distances and a space tree over those
vectors). The full run's HDBSCAN runs on a precomputed, thresholded sparse k-NN graph through the package's
tree, condensing and selection functions, so no such data exists; and approximate_predict would place a
point by mutual reachability to the nearest neighbour's cluster. The rule here is that same test for the
full run's min_samples=1, measured locally (the nearest member's group, if the point is nearer to that
member than the member's own nearest fellow) plus the full run's guarantee: no embedding-tier join is an edge longer than the
calibrated threshold to a fellow member.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from indexer.store import LogoStore, StoredPoint
from search import textcheck, tiers
from search.cluster import FEATURE_FIELDS, ClusterParams, ClusterResult, UnionFind
from search.evidence import Edge, Points
from search.textcheck import TextCheck

MAX_SCALE_MEMBERS = 1000  # a group's members fetched and projected for the local scale, at most
NEIGHBOURS = 10  # stored logos asked of the store's k-NN query per new logo (the full run's k-NN graph: 10)


@dataclass
class Previous:
    """What the last full clustering left: labels, per-member evidence, its parameters and its PCA."""

    labels: dict[str, int]  # domain -> label, -1 outlier
    evidence: dict[str, dict[str, Any]]
    params: ClusterParams = field(default_factory=ClusterParams)  # thresholds and calibration
    projection: Any = None  # search.grouping.Projection, or None


def place_new(store: LogoStore, previous: Previous, *, neighbours: int = NEIGHBOURS,
              read_text: Callable[[StoredPoint], dict[str, Any] | None] | None = None,
              ) -> tuple[ClusterResult, list[str]]:
    """The whole collection's grouping with the new logos placed; returns it and the domains it changed.
    ``read_text`` reads a logo's words for the words' check, as in a full run (search.textcheck)."""
    points = [p for p in store.scroll(with_vectors=False) if p.domain]
    new = [i for i, p in enumerate(points) if p.domain not in previous.labels]
    labels = {p.domain: previous.labels.get(p.domain, -1) for p in points}
    result = ClusterResult(labels=labels, groups={}, outliers=[], tier={}, evidence={
        d: e for d, e in previous.evidence.items() if d in labels})
    result.params = ClusterParams.from_dict({**previous.params.to_dict(), "incremental": {"new": len(new)}})
    info = result.params.incremental
    assert info is not None
    if not new:
        return _finish(result, previous), []
    links, text = _strong_links(points, new, read_text)
    info["text"] = {"read": len(text.read), "vetoed": len(text.vetoed), "seconds": round(text.seconds, 2)}
    result.readings = {points[i].domain: reading for i, reading in text.read.items()}
    links += _embedding_links(store, points, new, labels, previous, neighbours, info)
    joined = _place(points, new, links, labels, result)
    info.update(placed=sum(labels[points[i].domain] >= 0 for i in new))
    # every new logo gets its payload (outliers too), and so does every former outlier that joined
    return _finish(result, previous), sorted({points[i].domain for i in new} | set(joined))


def _strong_links(points: Sequence[StoredPoint], new: list[int],
                  read_text: Callable[[StoredPoint], dict[str, Any] | None] | None) -> tuple[list[Edge], TextCheck]:
    """Each new logo (``Edge.a``) against every stored one (new ones included), by every strong tier of the
    full run, in rank order, less the pairs whose words differ (search.textcheck)."""
    payloads = [{key: p.payload.get(key) for key in (*FEATURE_FIELDS, "sha256", "phash", "warning", "text")}
                for p in points]
    table = Points.of(payloads)
    edges = [edge for tier in tiers.STRONG for edge in tier.edges(table, tier, new)]  # type: ignore[misc]
    reader = (lambda i: read_text(points[i])) if read_text is not None else None
    return textcheck.check(edges, payloads, reader)


def _embedding_links(store: LogoStore, points: Sequence[StoredPoint], new: list[int], labels: Mapping[str, int],
                     previous: Previous, neighbours: int, info: dict[str, Any]) -> list[Edge]:
    """The nearest stored group members from the store's k-NN query, re-measured in the calibration's PCA
    space; only those within the calibrated threshold, and only for vectors of the calibrated model."""
    calibration = previous.params.calibration or {}
    threshold, model = calibration.get("threshold"), calibration.get("model") or ""
    if threshold is None or previous.projection is None:
        info["embedding_tier"] = calibration.get("abstained") or "the last full run calibrated no threshold"
        return []
    position_of = {p.domain: i for i, p in enumerate(points)}
    members: dict[int, list[str]] = {}
    for domain, label in labels.items():
        members.setdefault(label, []).append(domain)
    groups: dict[int, dict[str, np.ndarray]] = {}
    fetched = store.get([points[i].domain for i in new], with_vectors=True)
    links, other_model = [], 0
    for i in new:
        point = fetched.get(points[i].domain)
        if point is None or point.vector is None or points[i].payload.get("warning"):
            continue
        if (points[i].payload.get("model") or "") != model:
            other_model += 1
            continue
        hits = [h for h in store.search(point.vector, limit=neighbours, exclude=point.domain)
                if labels.get(h.domain, -1) >= 0 and h.domain in position_of]
        if not hits:
            continue
        vectors = store.get([h.domain for h in hits], with_vectors=True)
        kept = [h.domain for h in hits if vectors.get(h.domain) and vectors[h.domain].vector is not None]
        if not kept:
            continue
        mine = previous.projection.apply(point.vector[None, :])
        theirs = previous.projection.apply(np.vstack([vectors[d].vector for d in kept]))
        distance = np.linalg.norm(theirs.astype(np.float64) - mine, axis=1)
        best = int(np.argmin(distance))
        label = labels[kept[best]]
        if label not in groups:
            groups[label] = _group_points(store, members[label], previous.projection)
        if distance[best] <= min(threshold, _local_scale(groups[label], kept[best])):
            links.append(Edge(i, position_of[kept[best]], tiers.EMBEDDING_TIER.name, float(distance[best])))
    info["embedding_tier"] = f"threshold {threshold:.4f} for {model}"
    if other_model:
        info["other_model"] = other_model  # vectors of another model are not on the calibrated scale
    return links


def _group_points(store: LogoStore, domains: list[str], projection: Any) -> dict[str, np.ndarray]:
    """A group's members in the calibration's PCA space (at most MAX_SCALE_MEMBERS of them)."""
    stored = store.get(sorted(domains)[:MAX_SCALE_MEMBERS], with_vectors=True)
    kept = [d for d, p in stored.items() if p.vector is not None]
    if not kept:
        return {}
    points = projection.apply(np.vstack([stored[d].vector for d in kept])).astype(np.float64)
    return dict(zip(kept, points, strict=True))


def _local_scale(group: Mapping[str, np.ndarray], member: str) -> float:
    """How far ``member``'s nearest distinct fellow is: HDBSCAN (min_samples=1) links a point to the member's
    cluster only below the distances at which that cluster's own members link, and the nearest fellow is the
    local measure of it (a loner at 0.8 of the threshold beside a tight pair stays out, as in a full run).
    0 when the member has no distinct fellow (copies of one file prove nothing about scale)."""
    if member not in group:
        return 0.0
    own = group[member]
    distances = [float(np.linalg.norm(point - own)) for domain, point in group.items() if domain != member]
    distinct = [d for d in distances if d > 1e-9]
    return min(distinct) if distinct else 0.0


def _place(points: Sequence[StoredPoint], new: list[int], links: list[Edge], labels: dict[str, int],
           result: ClusterResult) -> list[str]:
    """Join strongly tied new logos into sets; each set goes where its strongest edge to a group points.
    Each link's ``a`` is a new logo, ``b`` any logo."""
    is_new = {i: position for position, i in enumerate(new)}
    embedding = tiers.EMBEDDING_TIER.name
    union = UnionFind(len(new))
    for link in links:
        if link.tier != embedding and link.b in is_new:
            union.union(is_new[link.a], is_new[link.b])
    sets: dict[int, list[int]] = {}
    for position in range(len(new)):
        sets.setdefault(union.find(position), []).append(position)
    by_set: dict[int, list[Edge]] = {}
    # each logo's links, indexed once: (the logo at the other end, the link), its links as the new end first
    as_new: dict[int, list[tuple[int, Edge]]] = {}
    as_other: dict[int, list[tuple[int, Edge]]] = {}
    for link in links:
        by_set.setdefault(union.find(is_new[link.a]), []).append(link)
        as_new.setdefault(link.a, []).append((link.b, link))
        as_other.setdefault(link.b, []).append((link.a, link))
    by_point = {i: as_new.get(i, []) + as_other.get(i, []) for i in as_new.keys() | as_other.keys()}
    next_label = max([label for label in labels.values() if label >= 0], default=-1) + 1
    changed: list[str] = []
    for root, members in sorted(sets.items()):
        own = sorted(by_set.get(root, []), key=lambda link: (tiers.rank(link.tier), link.distance))
        to_group = [k for k in own if k.b not in is_new and labels[points[k.b].domain] >= 0]
        to_outliers = {k.b for k in own if k.b not in is_new and labels[points[k.b].domain] < 0
                       and k.tier != embedding}
        if to_group:
            label = labels[points[to_group[0].b].domain]
        elif to_outliers or len(members) > 1:
            label, next_label = next_label, next_label + 1
        else:
            continue  # tied to nothing: stays an outlier
        joining = [new[m] for m in members] + sorted(to_outliers)
        for i in joining:
            labels[points[i].domain] = label
            changed.append(points[i].domain)
        _explain(points, joining, by_point, labels, label, result)
    return changed


def _explain(points: Sequence[StoredPoint], joining: list[int], by_point: Mapping[int, list[tuple[int, Edge]]],
             labels: Mapping[str, int], label: int, result: ClusterResult) -> None:
    """Each joining logo's strongest edge to a fellow member of its group (the full run's evidence shape)."""
    for i in joining:
        fellows = [(other, k) for other, k in by_point.get(i, [])
                   if other != i and labels[points[other].domain] == label]
        if fellows:
            other, k = min(fellows, key=lambda item: (tiers.rank(item[1].tier), item[1].distance))
            result.evidence[points[i].domain] = {"tier": k.tier, "distance": round(k.distance, 6),
                                                 "via": points[other].domain}


def _finish(result: ClusterResult, previous: Previous) -> ClusterResult:
    """Groups from the labels (numbers kept: payloads and users hold them), tiers from the evidence."""
    groups: dict[int, list[str]] = {}
    for domain, label in result.labels.items():
        if label >= 0:
            groups.setdefault(label, []).append(domain)
    result.groups = {label: sorted(ds) for label, ds in sorted(groups.items())}
    result.outliers = sorted(d for d, label in result.labels.items() if label < 0)
    result.evidence = {d: e for d, e in result.evidence.items() if result.labels.get(d, -1) >= 0}
    result.tier = {d: (result.evidence[d]["tier"] if d in result.evidence else tiers.OUTLIER) for d in result.labels}
    result.projection = previous.projection
    return result
