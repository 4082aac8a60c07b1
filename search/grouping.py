"""The embedding tier's geometry: PCA of the vectors, and the k-NN graph (exact, or faiss HNSW at scale) that
search.embedtier runs HDBSCAN over."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from threadpoolctl import threadpool_limits

PCA_DIMS = 48
PCA_FIT_ROWS = 100_000
PCA_CHUNK = 2048  # rows normalised and projected at a time: 16 MB of 2048-d float32, reused by the allocator (50,000-row chunks spent most of PCA faulting in fresh memory: 73 s at 300k)
KNN_CHUNK = 1024
# Beyond this many points the k-NN graph comes from an HNSW index (faiss) instead of all n^2 distances.
# Measured with bench/search.py on this 2-core machine: docs/BENCHMARKS.md, grouping.
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
    return connect(graph)


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
    return connect(graph)


def connect(graph: sparse.csr_matrix) -> sparse.csr_matrix:
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
