"""The embedding tier: a distance threshold calibrated for the weights in use, then HDBSCAN under it.

Calibration, from the data itself: pairs that the strong tiers proved (near-identical picture or same shape,
distinct pixels) are positives; random pairs are mostly negatives (two random logos rarely share a brand). The
threshold is the distance that random pairs fall below at the target false-merge rate; the tier abstains, and
says why, when too few proven pairs exist to judge or when the weights cannot tell the proven pairs from
random ones at that threshold (random weights). HDBSCAN (the ``hdbscan`` package's tree, condensing and
selection) then runs over the k-NN graph with every edge longer than the threshold removed, so no pair it
joins is further apart than the calibration allows; its membership probabilities and GLOSH outlier scores
are kept as evidence.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from search import grouping

# Expected false pairs per logo that the tier may add: the false-merge rate per random pair is
# 2 * FALSE_PAIRS_PER_POINT / n, so a collection of n logos gets about n / 200 false pairs in all.
FALSE_PAIRS_PER_POINT = 0.005
# Random pairs drawn to estimate the negatives' distribution (all pairs when there are fewer): 1e6 distances
# of 48-d PCA vectors take about a second; the quantile itself comes from a normal tail (``_tail_threshold``).
SAMPLE_PAIRS = 1_000_000
# Below this many proven pairs there is nothing to calibrate on: the tier abstains.
MIN_POSITIVES = 10
# The tier works only when the threshold keeps at least this share of the proven pairs (near-identical
# pictures: weights that lose a fifth of those cannot be trusted with looser variants). Measured: random
# ResNet50 weights keep 0 % of 267 proven pairs on the brand-family fixture (bench/families.py) and 55 % of
# 20 on the demo web, where at 0.5 the tier then merged two demo brands; the synthetic vectors of
# bench/search.py keep 100 %, the stand-in embedder of tests/test_families.py (the pictures' own pixels) most.
MIN_RECALL = 0.8
K_NEIGHBOURS = 10


@dataclass
class Calibration:
    model: str
    threshold: float | None  # None: the tier abstains
    false_merge_rate: float
    recall: float
    positives: int
    negatives: int
    abstained: str | None = None  # why, in words

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TierResult:
    labels: np.ndarray  # per point, -1 = not joined by this tier
    probabilities: np.ndarray
    outlier_scores: np.ndarray
    nearest: np.ndarray  # index of the nearest fellow member (-1 outside a group)
    distance: np.ndarray  # distance to it
    calibration: Calibration
    info: dict[str, Any] = field(default_factory=dict)


def calibrate(points: np.ndarray, positives: np.ndarray, same_group: np.ndarray, model: str,
              seed: int = 0) -> Calibration:
    """``positives``: (m, 2) index pairs that strong tiers proved; ``same_group[i]``: strong-group id or -1."""
    n = len(points)
    rate = 2 * FALSE_PAIRS_PER_POINT / max(n, 1)
    negative = _random_pair_distances(points, same_group, seed)
    if len(positives) < MIN_POSITIVES or len(negative) == 0:
        return Calibration(model, None, rate, 0.0, len(positives), len(negative),
                           abstained=f"only {len(positives)} proven pairs to calibrate on (need {MIN_POSITIVES})")
    threshold = _tail_threshold(negative, rate)
    reached = float((negative <= threshold).mean())  # sampled pairs below it: an upper bound (true pairs too)
    close = np.linalg.norm(points[positives[:, 0]] - points[positives[:, 1]], axis=1)
    recall = float((close <= threshold).mean())
    calibration = Calibration(model, float(threshold), float(reached), recall, len(positives), len(negative))
    if recall < MIN_RECALL:
        calibration.threshold = None
        calibration.abstained = (f"the weights cannot separate proven pairs from random ones: at a false-merge "
                                 f"rate of {rate:.1e} they keep {recall:.0%} of {len(positives)} proven pairs "
                                 f"(need {MIN_RECALL:.0%})")
    return calibration


def _tail_threshold(negative: np.ndarray, rate: float) -> float:
    """The distance that a share ``rate`` of unrelated pairs falls below, from the bulk of the random pairs.

    The lowest sampled distances are mostly true pairs that no strong tier proved (a brand's re-drawn logo),
    so the empirical quantile at 1e-6 would measure them, not the negatives. The bulk is unaffected by that
    small share: a normal tail from the median and the MAD (robust) gives the quantile instead."""
    from scipy.stats import norm

    median = float(np.median(negative))
    spread = 1.4826 * float(np.median(np.abs(negative - median)))
    return max(0.0, median - float(norm.isf(rate)) * spread)


def _random_pair_distances(points: np.ndarray, same_group: np.ndarray, seed: int) -> np.ndarray:
    n = len(points)
    if n < 2:
        return np.zeros(0)
    if n * (n - 1) // 2 <= SAMPLE_PAIRS:
        a, b = np.triu_indices(n, 1)
    else:
        rng = np.random.default_rng(seed)
        a, b = rng.integers(0, n, SAMPLE_PAIRS), rng.integers(0, n, SAMPLE_PAIRS)
    keep = (a != b) & ((same_group[a] < 0) | (same_group[a] != same_group[b]))
    a, b = a[keep], b[keep]
    out = np.empty(len(a), dtype=np.float32)
    for start in range(0, len(a), 1_000_000):
        stop = start + 1_000_000
        out[start:stop] = np.linalg.norm(points[a[start:stop]] - points[b[start:stop]], axis=1)
    return out


def cluster(points: np.ndarray, calibration: Calibration, min_cluster_size: int = 2,
            min_samples: int = 1) -> TierResult:
    """HDBSCAN over the k-NN graph cut at the calibrated threshold; nothing joins when the tier abstains."""
    n = len(points)
    labels = np.full(n, -1, dtype=np.int64)
    result = TierResult(labels, np.zeros(n), np.zeros(n), np.full(n, -1, dtype=np.int64), np.full(n, np.inf),
                        calibration)
    if calibration.threshold is None or n < 3:
        return result
    started = time.perf_counter()
    graph = grouping.knn_graph(points, K_NEIGHBOURS)
    graph.data[graph.data > calibration.threshold] = 0.0  # cut every edge longer than the calibration allows
    graph.eliminate_zeros()
    joined = np.flatnonzero(np.diff(graph.indptr) > 0)
    result.info = {"edges_within_threshold": int(graph.nnz // 2), "points_with_an_edge": int(len(joined)),
                   "knn_graph": "exact" if n <= grouping.EXACT_KNN_UP_TO else "hnsw",
                   "knn_s": round(time.perf_counter() - started, 2)}
    if len(joined) < 2:
        return result
    sub = graph[joined][:, joined].tocsr()
    sub_labels, probabilities, scores = _hdbscan(sub, min_cluster_size, min_samples)
    sub_labels = _connected_within(sub, sub_labels)
    result.labels[joined] = sub_labels
    result.probabilities[joined] = probabilities
    result.outlier_scores[joined] = scores
    _nearest_fellow(sub, sub_labels, joined, result)
    return result


def _hdbscan(graph: sparse.csr_matrix, min_cluster_size: int, min_samples: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hdbscan package's single-linkage tree, condensing, EOM selection and GLOSH over a sparse graph.

    Its own sparse entry point builds the mutual reachability element by element in a LIL matrix (minutes
    at 10^5 points); here it is one vectorised step, and components are linked by edges longer than any
    (HDBSCAN needs one tree), which no selected cluster spans (see ``_connected_within``)."""
    from hdbscan._hdbscan_linkage import label
    from hdbscan._hdbscan_tree import outlier_scores
    from hdbscan.hdbscan_ import _tree_to_labels

    coo = graph.tocoo()
    core = np.zeros(graph.shape[0])
    if min_samples > 1:
        rows = np.split(graph.data, graph.indptr[1:-1])
        core = np.array([np.sort(r)[min_samples - 2] if len(r) >= min_samples - 1 else np.inf for r in rows])
    reach = np.maximum(np.maximum(core[coo.row], core[coo.col]), coo.data)
    linked = grouping.connect(sparse.csr_matrix((np.maximum(reach, grouping.MIN_DISTANCE),
                                                  (coo.row, coo.col)), shape=graph.shape))
    tree = csgraph.minimum_spanning_tree(linked).tocoo()
    edges = np.column_stack([tree.row, tree.col, tree.data]).astype(np.float64)
    edges = edges[np.argsort(edges[:, 2], kind="stable")]
    single_linkage = label(edges)
    labels, probabilities, _stabilities, condensed, _ = _tree_to_labels(
        None, single_linkage, min_cluster_size=min_cluster_size)
    return labels.astype(np.int64), probabilities, outlier_scores(condensed)


def _connected_within(graph: sparse.csr_matrix, labels: np.ndarray) -> np.ndarray:
    """Split any cluster that is not connected by within-threshold edges between its own members."""
    coo = graph.tocoo()
    same = (labels[coo.row] == labels[coo.col]) & (labels[coo.row] >= 0)
    inner = sparse.csr_matrix((np.ones(int(same.sum())), (coo.row[same], coo.col[same])), shape=graph.shape)
    _, components = csgraph.connected_components(inner, directed=False)
    components = np.where(labels >= 0, components, -1)
    found, counts = np.unique(components[components >= 0], return_counts=True)
    return np.where(np.isin(components, found[counts >= 2]), components, -1)


def _nearest_fellow(graph: sparse.csr_matrix, labels: np.ndarray, index: np.ndarray, result: TierResult) -> None:
    coo = graph.tocoo()
    same = (labels[coo.row] == labels[coo.col]) & (labels[coo.row] >= 0)
    rows, cols, dists = coo.row[same], coo.col[same], coo.data[same]
    order = np.lexsort((dists, rows))
    first = order[np.flatnonzero(np.r_[True, np.diff(rows[order]) != 0])] if len(order) else order
    result.nearest[index[rows[first]]] = index[cols[first]]
    result.distance[index[rows[first]]] = dists[first]
