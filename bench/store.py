"""Benchmark: qdrant-client local mode vs Qdrant Edge as the embedded store (upserts/s, query p50, reopen).

Each (backend, size) runs in its own subprocess so RSS after reopen is that process's own, not the sum of
everything measured before it. Usage:

    .venv/bin/python bench/store.py --sizes 10000 50000 --backends local edge
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

DIM = 2048
BATCH = 256
QUERIES = 30
NAME = "resnet50"


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _ids(n: int) -> list[str]:
    return [str(uuid.uuid5(uuid.NAMESPACE_DNS, f"site{i}.example")) for i in range(n)]


def _rss_mb() -> float:
    """Current resident set size (not the peak), from /proc."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


# -- qdrant-client local mode ---------------------------------------------------------------------
def local_write(path: Path, vectors: np.ndarray, ids: list[str]) -> None:
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=str(path))
    client.create_collection("logos", vectors_config={
        NAME: models.VectorParams(size=DIM, distance=models.Distance.COSINE)})
    for start in range(0, len(ids), BATCH):
        points = [models.PointStruct(id=ids[i], vector={NAME: vectors[i].tolist()}, payload={"domain": f"site{i}"})
                  for i in range(start, min(start + BATCH, len(ids)))]
        client.upsert("logos", points=points, wait=True)
    client.close()


def local_reopen_query(path: Path, queries: np.ndarray) -> tuple[float, list[float]]:
    from qdrant_client import QdrantClient

    started = time.perf_counter()
    client = QdrantClient(path=str(path))
    client.count("logos", exact=True)
    reopen = time.perf_counter() - started
    latencies = []
    for query in queries:
        started = time.perf_counter()
        client.query_points("logos", query=query.tolist(), using=NAME, limit=10, with_payload=True)
        latencies.append(time.perf_counter() - started)
    client.close()
    return reopen, latencies


# -- Qdrant Edge ----------------------------------------------------------------------------------
def edge_write(path: Path, vectors: np.ndarray, ids: list[str]) -> None:
    import qdrant_edge as qe

    config = qe.EdgeConfig(vectors={NAME: qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Cosine)})
    shard = qe.EdgeShard.create(str(path), config)
    for start in range(0, len(ids), BATCH):
        points = [qe.Point(ids[i], {NAME: vectors[i].tolist()}, {"domain": f"site{i}"})
                  for i in range(start, min(start + BATCH, len(ids)))]
        shard.update(qe.UpdateOperation.upsert_points(points))
    shard.flush()
    shard.close()


def edge_reopen_query(path: Path, queries: np.ndarray) -> tuple[float, list[float]]:
    import qdrant_edge as qe

    started = time.perf_counter()
    shard = qe.EdgeShard.load(str(path))
    shard.count(qe.CountRequest(exact=True))
    reopen = time.perf_counter() - started
    latencies = []
    params = qe.SearchParams(exact=True)
    for query in queries:
        started = time.perf_counter()
        shard.query(qe.QueryRequest(limit=10, query=qe.Query.Nearest(query.tolist(), using=NAME),
                                    with_payload=True, params=params))
        latencies.append(time.perf_counter() - started)
    shard.close()
    return reopen, latencies


BACKENDS = {"local": (local_write, local_reopen_query), "edge": (edge_write, edge_reopen_query)}


def run_one(backend: str, size: int, phase: str, path: Path) -> dict:
    """One phase in this process: 'write' (upserts, persisted) or 'read' (reopen, then queries)."""
    write, reopen_query = BACKENDS[backend]
    if phase == "write":
        vectors, ids = _vectors(size), _ids(size)
        started = time.perf_counter()
        write(path, vectors, ids)
        seconds = time.perf_counter() - started
        return {"upserts_per_s": size / seconds, "write_s": seconds}
    queries = _vectors(QUERIES, seed=1)
    reopen, latencies = reopen_query(path, queries)
    return {"reopen_s": reopen, "query_p50_ms": 1000 * statistics.median(latencies),
            "query_p95_ms": 1000 * float(np.percentile(latencies, 95)), "rss_after_reopen_mb": _rss_mb()}


def _child(backend: str, size: int, phase: str, path: Path) -> dict:
    command = [sys.executable, __file__, "--child", backend, str(size), phase, str(path)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--backends", nargs="+", default=["local", "edge"], choices=sorted(BACKENDS))
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        backend, size, phase, path = args.child
        print(json.dumps(run_one(backend, int(size), phase, Path(path))))
        return
    print(f"{'backend':8} {'points':>7} {'upserts/s':>10} {'query p50':>10} {'p95':>8} {'reopen':>8} {'RSS':>9}")
    for size in args.sizes:
        for backend in args.backends:
            with tempfile.TemporaryDirectory(prefix=f"bench-{backend}-") as tmp:
                result = _child(backend, size, "write", Path(tmp) / "db")
                result.update(_child(backend, size, "read", Path(tmp) / "db"))
            print(f"{backend:8} {size:>7} {result['upserts_per_s']:>10.0f} {result['query_p50_ms']:>8.1f}ms "
                  f"{result['query_p95_ms']:>6.1f}ms {result['reopen_s']:>7.2f}s "
                  f"{result['rss_after_reopen_mb']:>7.0f}MB", flush=True)


if __name__ == "__main__":
    main()
