"""How the embedding tier is computed: PCA, a distance graph (dense or k-NN), sklearn HDBSCAN and its tuning."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import product

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from threadpoolctl import threadpool_limits

from common.errors import LogosimError

PCA_DIMS = 48
PCA_FIT_ROWS = 100_000
PCA_CHUNK = 2048  # rows normalised and projected at a time: 16 MB of 2048-d float32, reused by the allocator (50,000-row chunks spent most of PCA faulting in fresh memory: 73 s at 300k)
# Up to this many points the full distance matrix (n^2 float64, ~290 MB at 6,000) is cheap and HDBSCAN is
# exact; beyond it a k-NN graph keeps memory linear and the MST near-linear (sklearn's tree algorithms are
# Prim's over all pairs, O(n^2 d): 900 s at 100k on this machine).
DENSE_LIMIT = 6000
K_NEIGHBOURS = 10
SEPARATION = 0.9  # chosen on synthetic data: ARI 0.891 without the test, 0.927 at 0.8, 0.928 at 0.9
KNN_CHUNK = 1024
# Beyond this many points the k-NN graph comes from an HNSW index (faiss) instead of all n^2 distances.
# Measured (bench/search.py, this 2-core machine): see README's Measured section.
EXACT_KNN_UP_TO = 20_000
# HNSW parameters, measured on the PCA-48 points of bench/search.py's 100k synthetic logos (2,000 queries
# against the exact 10 neighbours, 2 threads, a loaded machine): M=16 efConstruction=100 efSearch=32 built in
# 27 s, searched in 6 s, recall 0.919 (0.953 for grouped points); efConstruction=40: 5.5 s + 5.2 s, recall
# 0.763; M=32: 21 s + 37 s, 0.874 at efConstruction=40; hnswlib at the same settings 30 s + 11 s, 0.914;
# faiss IVF-flat (1024 lists, 16 probed) 8 s + 6 s, only 0.598. End to end (`bench/search.py --sizes 100000
# --what cluster`) efConstruction 40 and 100 gave the same ARI against the truth (0.923; the exact graph
# 0.931), k-NN + HDBSCAN 14 s against 34 s: 40 it is.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 32
HNSW_QUERY_CHUNK = 100_000
MIN_DISTANCE = 1e-9  # a sparse matrix drops zeros, so identical vectors keep a tiny positive distance

# Tuning grid: small on purpose (each fit on a precomputed graph takes well under a second at 3,400 points).
# No cluster_selection_epsilon in the grid: sklearn <= 1.9 raises TypeError with it on NumPy >= 2.4
# (scikit-learn issue #33219, fix pending), so tuning would crash exactly where it is installed.
GRID_MIN_CLUSTER_SIZE = (2, 3)
GRID_MIN_SAMPLES = (1, 2, 3, 4)


@dataclass
class Graph:
    """Distances between the PCA points: a dense matrix, or a symmetric connected k-NN CSR matrix."""

    matrix: np.ndarray | sparse.csr_matrix
    dense: bool

    @property
    def size(self) -> int:
        return int(self.matrix.shape[0])


@dataclass(frozen=True)
class HdbscanParams:
    min_cluster_size: int = 2
    min_samples: int | None = None
    epsilon: float = 0.0


@dataclass(frozen=True)
class Projection:
    """The fitted PCA (no whitening): point = (normalised vector - mean) @ components.T."""

    mean: np.ndarray  # (d,) float32
    components: np.ndarray  # (dims, d) float32

    def apply(self, vectors: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Project (L2-normalised, chunk by chunk) ``vectors[rows]``: memory is the output plus one chunk."""
        rows = np.arange(len(vectors)) if rows is None else np.asarray(rows)
        out = np.empty((len(rows), len(self.components)), dtype=np.float32)
        with threadpool_limits(limits=1, user_api="blas"):
            for start in range(0, len(rows), PCA_CHUNK):
                part = _normalised(vectors, rows[start:start + PCA_CHUNK])
                part -= self.mean
                out[start:start + PCA_CHUNK] = part @ self.components.T
        return out


def fit_projection(vectors: np.ndarray, dims: int = PCA_DIMS, seed: int = 0,
                   rows: np.ndarray | None = None) -> Projection | None:
    """PCA of the L2-normalised ``vectors[rows]``, fitted on at most PCA_FIT_ROWS of them (a seeded sample
    beyond that: 48 directions of a 2048-d cloud are pinned down long before 10^5 points; up to it the fit
    uses every row, as before). None when there are too few rows for one component."""
    from sklearn.decomposition import PCA

    rows = np.arange(len(vectors)) if rows is None else np.asarray(rows)
    dims = min(dims, len(rows) - 1, vectors.shape[1] if vectors.ndim == 2 else 0)
    if dims < 1:
        return None
    if len(rows) > PCA_FIT_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, PCA_FIT_ROWS, replace=False))
    # Three power iterations suffice for clustering input (sklearn's auto picks 7). One BLAS thread: the many
    # small products of a randomized SVD ran 8x slower with 2 threads on a busy 2-core machine.
    pca = PCA(n_components=dims, svd_solver="randomized", iterated_power=3, random_state=seed)
    with threadpool_limits(limits=1, user_api="blas"):
        pca.fit(_normalised(vectors, rows))
    return Projection(pca.mean_.astype(np.float32), pca.components_.astype(np.float32))


def project(vectors: np.ndarray, dims: int = PCA_DIMS, seed: int = 0, rows: np.ndarray | None = None
            ) -> tuple[Projection | None, np.ndarray]:
    """``fit_projection`` then ``Projection.apply``: the fit and the rows' PCA points (one zero column when
    there are too few rows to fit)."""
    projection = fit_projection(vectors, dims, seed, rows)
    count = len(vectors) if rows is None else len(rows)
    if projection is None:
        return None, np.zeros((count, 1), dtype=np.float32)
    return projection, projection.apply(vectors, rows)


def reduce(vectors: np.ndarray, dims: int = PCA_DIMS, seed: int = 0, rows: np.ndarray | None = None) -> np.ndarray:
    """The rows' PCA points (``project`` without the fit)."""
    return project(vectors, dims, seed, rows)[1]


def _normalised(vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    part = np.asarray(vectors[rows], dtype=np.float32)
    part /= np.maximum(np.sqrt(np.einsum("ij,ij->i", part, part)), 1e-12)[:, None]
    return part


def distance_graph(points: np.ndarray, dense_limit: int = DENSE_LIMIT, k: int = K_NEIGHBOURS) -> Graph:
    if len(points) <= dense_limit:
        from sklearn.metrics import pairwise_distances

        return Graph(pairwise_distances(points, metric="euclidean").astype(np.float64), dense=True)
    return Graph(_knn_graph(points, k), dense=False)


def knn_graph(points: np.ndarray, k: int, exact_up_to: int | None = None) -> sparse.csr_matrix:
    """The symmetric k-NN graph of ``points`` (distances in their own space), components linked by long edges:
    exact up to ``exact_up_to`` points (default EXACT_KNN_UP_TO), from an HNSW index (faiss) beyond."""
    if len(points) <= (EXACT_KNN_UP_TO if exact_up_to is None else exact_up_to):
        return _knn_graph(points, k)
    return _approximate_knn_graph(points, k)


def _approximate_knn_graph(points: np.ndarray, k: int) -> sparse.csr_matrix:
    """k approximate nearest neighbours from faiss's HNSW index over the points themselves.

    The neighbours are approximate (some true ones are missed, the list is then filled by the next nearest),
    but every kept edge's distance is re-measured exactly, in float64, in the points' own space: the
    threshold cut that follows compares true distances, so no edge longer than the threshold survives.
    faiss inserts points from several threads, so at this size two runs may differ in a few edges."""
    import faiss

    n, dims = points.shape
    k = min(k, n - 1)
    data = np.ascontiguousarray(points, dtype=np.float32)
    index = faiss.IndexHNSWFlat(dims, HNSW_M)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.add(data)
    index.hnsw.efSearch = max(HNSW_EF_SEARCH, k + 1)
    rows_parts, cols_parts = [], []
    for start in range(0, n, HNSW_QUERY_CHUNK):
        stop = min(start + HNSW_QUERY_CHUNK, n)
        _, found = index.search(data[start:stop], k + 1)
        own = np.arange(start, stop)[:, None]
        keep = (found >= 0) & (found != own)
        keep &= np.cumsum(keep, axis=1) <= k  # the k nearest others (the point itself is usually first)
        rows_parts.append(np.broadcast_to(own, found.shape)[keep])
        cols_parts.append(found[keep])
    del index
    rows, cols = np.concatenate(rows_parts), np.concatenate(cols_parts)
    dists = np.empty(len(rows), dtype=np.float64)
    for start in range(0, len(rows), KNN_CHUNK * 256):
        part = slice(start, start + KNN_CHUNK * 256)
        delta = points[rows[part]].astype(np.float64) - points[cols[part]]
        dists[part] = np.sqrt(np.einsum("ij,ij->i", delta, delta))
    graph = sparse.csr_matrix((np.maximum(dists, MIN_DISTANCE), (rows, cols)), shape=(n, n))
    graph = graph.maximum(graph.T).tocsr()
    return _connect(graph)


def _knn_graph(points: np.ndarray, k: int) -> sparse.csr_matrix:
    """Exact k nearest neighbours by chunked BLAS, symmetrised, with components linked by long edges."""
    n = len(points)
    k = min(k, n - 1)
    squared = np.einsum("ij,ij->i", points, points)
    rows = np.repeat(np.arange(n), k)
    cols = np.empty(n * k, dtype=np.int64)
    dists = np.empty(n * k, dtype=np.float64)
    for start in range(0, n, KNN_CHUNK):
        stop = min(start + KNN_CHUNK, n)
        block = squared[start:stop, None] + squared[None, :] - 2.0 * (points[start:stop] @ points.T)
        block[np.arange(stop - start), np.arange(start, stop)] = np.inf  # not its own neighbour
        nearest = np.argpartition(block, k - 1, axis=1)[:, :k]
        cols[start * k:stop * k] = nearest.ravel()
        near = np.take_along_axis(block, nearest, axis=1)
        dists[start * k:stop * k] = np.sqrt(np.maximum(near, 0.0)).ravel()
    graph = sparse.csr_matrix((np.maximum(dists, MIN_DISTANCE), (rows, cols)), shape=(n, n))
    graph = graph.maximum(graph.T).tocsr()
    return _connect(graph)


def _connect(graph: sparse.csr_matrix) -> sparse.csr_matrix:
    """HDBSCAN needs one connected graph: join each extra component to the first by an edge longer than any."""
    count, labels = csgraph.connected_components(graph, directed=False)
    if count == 1:
        return graph
    firsts = np.unique(labels, return_index=True)[1]
    far = float(graph.data.max()) * 2.0 + 1.0
    anchor = firsts[0]
    others = firsts[1:]
    links = sparse.csr_matrix((np.full(len(others), far), (np.full(len(others), anchor), others)),
                              shape=graph.shape)
    return graph.maximum(links).maximum(links.T).tocsr()


def hdbscan_labels(graph: Graph, params: HdbscanParams) -> np.ndarray:
    """Labels per point (-1 noise) for one parameter set on a precomputed graph."""
    from sklearn.cluster import HDBSCAN

    if graph.size < 3:
        return np.full(graph.size, -1, dtype=np.int64)
    min_samples = params.min_samples or params.min_cluster_size
    if not graph.dense:
        # sparse rows hold no self-distance, so the k-th stored neighbour is the (k+1)-th point counting itself
        min_samples = max(1, min_samples - 1)
    model = HDBSCAN(min_cluster_size=params.min_cluster_size, min_samples=min(min_samples, graph.size - 1),
                    cluster_selection_epsilon=params.epsilon, metric="precomputed", copy=True,
                    allow_single_cluster=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # long linking edges are intended, not "missing"
        try:
            return model.fit_predict(graph.matrix).astype(np.int64)
        except TypeError as exc:  # scikit-learn #33219: epsilon > 0 breaks on NumPy >= 2.4
            raise LogosimError(f"HDBSCAN with cluster_selection_epsilon={params.epsilon} fails with this "
                             f"scikit-learn/NumPy pair ({exc}); use epsilon 0") from None


def keep_separated(graph: Graph, labels: np.ndarray, ratio: float = SEPARATION) -> tuple[np.ndarray, int]:
    """Keep clusters whose members are much closer to each other than to everything else.

    HDBSCAN has no absolute scale: with min_cluster_size=2 it also pairs up unrelated logos that merely sit
    in a slightly denser patch. A real group is separated: for its median member, the nearest fellow member
    is at most ``ratio`` times as far as the nearest outsider (a scale-free, silhouette-like test; among
    unrelated logos the two distances are about equal). A failing cluster whose outsiders belong to one
    other cluster is merged into it when the union passes (HDBSCAN splits a group around a dense core of
    reused files); otherwise its points become noise. Returns (labels, clusters dropped).
    """
    labels = labels.copy()
    dropped = 0
    for _ in range(3):  # merges can make a neighbour pass; a few rounds settle it
        changed = False
        inside, outside, nearest = _nearest_inside_outside(graph, labels)
        for label in np.unique(labels[labels >= 0]):
            members = labels == label
            if not members.any() or _passes(inside, outside, members, ratio):
                continue
            target = _majority(labels[nearest[members]])
            if target >= 0 and target != label and _passes_merged(graph, labels, label, target, ratio):
                labels[members] = target
            else:
                labels[members] = -1
                dropped += 1
            changed = True
        if not changed:
            break
    return _prune_members(graph, labels, ratio), dropped


def _passes(inside: np.ndarray, outside: np.ndarray, members: np.ndarray, ratio: float) -> bool:
    return bool(np.median(inside[members] / np.maximum(outside[members], 1e-12)) <= ratio)


def _passes_merged(graph: Graph, labels: np.ndarray, label: int, target: int, ratio: float) -> bool:
    """The merged cluster must pass, and so must the joining part on its own (no riding on a good group).

    Computed on the two clusters' rows only: a full pass per candidate made 3,400 points take 15 s."""
    rows = np.flatnonzero((labels == label) | (labels == target))
    joined = np.isin(labels, (label, target))
    if graph.dense:
        block = graph.matrix[rows].copy()
        block[np.arange(len(rows)), rows] = np.inf
        inside = np.where(joined[None, :], block, np.inf).min(axis=1)
        outside = np.where(joined[None, :], np.inf, block).min(axis=1)
    else:
        block = graph.matrix[rows].tocoo()
        same = joined[block.col] & (block.col != rows[block.row])
        inside, outside = np.full(len(rows), np.inf), np.full(len(rows), np.inf)
        np.minimum.at(inside, block.row[same], block.data[same])
        np.minimum.at(outside, block.row[~same], block.data[~same])
        farthest = np.zeros(len(rows))
        np.maximum.at(farthest, block.row, block.data)  # all listed neighbours joined: outsiders are farther
        outside = np.where(np.isinf(outside), farthest, outside)
    ratios = inside / np.maximum(outside, 1e-12)
    return bool(np.median(ratios) <= ratio and np.median(ratios[labels[rows] == label]) <= ratio)


def _prune_members(graph: Graph, labels: np.ndarray, ratio: float) -> np.ndarray:
    """Members nearer an outsider than ``1/ratio`` times their nearest fellow leave; pairs left alone go too."""
    inside, outside, _ = _nearest_inside_outside(graph, labels)
    labels = np.where(inside / np.maximum(outside, 1e-12) > ratio, -1, labels)
    found, counts = np.unique(labels[labels >= 0], return_counts=True)
    return np.where(np.isin(labels, found[counts < 2]), -1, labels)


def _majority(values: np.ndarray) -> int:
    found, counts = np.unique(values, return_counts=True)
    return int(found[np.argmax(counts)])


def _nearest_inside_outside(graph: Graph, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point: distance to the nearest fellow member, to the nearest outsider, and that outsider's index."""
    n = graph.size
    if graph.dense:
        matrix = graph.matrix.copy()
        np.fill_diagonal(matrix, np.inf)
        same = (labels[:, None] == labels[None, :]) & (labels[:, None] >= 0)
        others = np.where(same, np.inf, matrix)
        nearest = others.argmin(axis=1)
        return np.where(same, matrix, np.inf).min(axis=1), others[np.arange(n), nearest], nearest
    coo = graph.matrix.tocoo()
    same = (labels[coo.row] == labels[coo.col]) & (labels[coo.row] >= 0)
    inside = np.full(n, np.inf)
    np.minimum.at(inside, coo.row[same], coo.data[same])
    rows, cols, dists = coo.row[~same], coo.col[~same], coo.data[~same]
    order = np.lexsort((dists, rows))
    first = order[np.flatnonzero(np.r_[True, np.diff(rows[order]) != 0])]
    # when every listed neighbour is a fellow member, the nearest outsider is at least the farthest listed
    outside = np.maximum.reduceat(graph.matrix.data, graph.matrix.indptr[:-1]).astype(np.float64)
    nearest = np.arange(n)
    outside[rows[first]] = dists[first]
    nearest[rows[first]] = cols[first]
    return inside, outside, nearest


def pair_scores(labels: np.ndarray, weak: np.ndarray) -> tuple[float, float, float]:
    """Pair precision, recall and F1 of ``labels`` against weak labels, over pairs touching a weak group.

    ``weak`` holds a pre-group id per point, or -1 for points in no pre-group; noise in ``labels`` is -1.
    Recall: known-identical pairs placed together. Precision: of the pairs placed together that involve a
    pre-group member, the share that are known-identical (merging a pre-group with anything else costs).
    """
    n = len(labels)
    own = np.arange(n) + n + 1  # unique ids: noise / no-group points are singletons
    found = np.where(labels >= 0, labels, own)
    known = np.where(weak >= 0, weak, -own)
    in_weak = weak >= 0
    if not in_weak.any():
        return 0.0, 0.0, 0.0
    touched = np.isin(found, np.unique(found[in_weak]))  # clusters holding at least one pre-group member
    _, cluster_sizes = np.unique(found[touched], return_counts=True)
    _, joint_sizes = np.unique(np.stack([found[touched], known[touched]]), axis=1, return_counts=True)
    _, weak_sizes = np.unique(known[in_weak], return_counts=True)
    together = _pairs(joint_sizes)
    precision = together / max(_pairs(cluster_sizes), 1)
    recall = together / max(_pairs(weak_sizes), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return float(precision), float(recall), float(f1)


def _pairs(sizes: np.ndarray) -> int:
    sizes = sizes.astype(np.int64)
    return int((sizes * (sizes - 1) // 2).sum())


def tune(graph: Graph, weak: np.ndarray) -> tuple[HdbscanParams, dict[str, float]]:
    """Pick the grid point whose HDBSCAN labels best recover the sha256/phash pre-groups (pair F1).

    The pre-groups are the only labels we get for free: logos known to be the same file or near-identical
    image. Parameters that keep them together without pulling unrelated logos in are the ones to trust on
    the rest. Ties go to the earlier (more conservative) grid point.
    """
    best: tuple[float, HdbscanParams, dict[str, float]] | None = None
    for size, samples in product(GRID_MIN_CLUSTER_SIZE, GRID_MIN_SAMPLES):
        params = HdbscanParams(size, samples)
        precision, recall, f1 = pair_scores(hdbscan_labels(graph, params), weak)
        if best is None or f1 > best[0] + 1e-12:
            best = (f1, params, {"pair_f1": f1, "pair_precision": precision, "pair_recall": recall})
    if best is None:
        return HdbscanParams(), {}
    return best[1], best[2]
