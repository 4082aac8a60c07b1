"""Benchmark: clustering time, agreement (ARI) and peak memory, and `similar` latency, on synthetic logos.

Synthetic vectors with a known group structure: group centres in a 128-d latent space mapped into 2048-d
(real embeddings are far from isotropic) plus full-dimensional noise; groups of 2-20 members, 30% noise
points, a third of the groups reusing one file on several domains (same vector and sha256), phashes near
the group's own for members. Each measurement runs in its own subprocess so peak RSS is its own. Usage:

    .venv/bin/python bench/search.py --sizes 3400 100000 --what cluster similar
    .venv/bin/python bench/search.py --sizes 1000000 --what cluster       # the 15-minute, 16 GiB target
    .venv/bin/python bench/search.py --sizes 100000 --what cluster --compare-exact   # HNSW vs exact graph
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DIM = 2048
LATENT = 128
NOISE_SHARE = 0.3
QUERIES = 200


GENERATE_CHUNK = 50_000  # rows generated at a time: the float32 output is the only full-size array


def synthetic(n: int, seed: int = 0) -> tuple[list[str], np.ndarray, list[str], list[str], np.ndarray]:
    """(domains, unit vectors, sha256s, phash hex, true labels with -1 for noise points).

    Generated in chunks of rows straight into one float32 array (1M x 2048 is 8 GiB: no temporaries of
    that size), everything else vectorised."""
    rng = np.random.default_rng(seed)
    sizes = _group_sizes(rng, int(n * (1 - NOISE_SHARE)))
    truth = np.full(n, -1, dtype=np.int64)
    truth[:sum(sizes)] = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(truth)
    mixing = rng.standard_normal((LATENT, DIM), dtype=np.float32) / np.float32(np.sqrt(LATENT))  # float32 BLAS
    centres = rng.standard_normal((len(sizes), LATENT), dtype=np.float32)
    spread = rng.uniform(0.15, 0.45, len(sizes)).astype(np.float32)  # some groups are tight, some loose
    vectors = np.empty((n, DIM), dtype=np.float32)
    # one noise buffer, reused: freshly allocated memory is slow to touch the first time on this VM
    noise = np.empty((min(GENERATE_CHUNK, n), DIM), dtype=np.float32)
    for start in range(0, n, GENERATE_CHUNK):
        stop = min(start + GENERATE_CHUNK, n)
        part, block, buffer = truth[start:stop], vectors[start:stop], noise[:stop - start]
        latent = rng.standard_normal((stop - start, LATENT), dtype=np.float32)
        grouped = part >= 0
        latent[grouped] = centres[part[grouped]] + spread[part[grouped], None] * latent[grouped]
        np.matmul(latent, mixing, out=block)
        rng.standard_normal(out=buffer, dtype=np.float32)
        buffer *= 0.02
        block += buffer
        block /= np.sqrt(np.einsum("ij,ij->i", block, block))[:, None]  # no temporary of the block's size
    sha256s = [hashlib.sha256(f"file{i}".encode()).hexdigest() for i in range(n)]
    hashes = _phashes(rng, truth, len(sizes))
    _reuse_files(truth, vectors, sha256s, hashes)
    return [f"site{i}.example" for i in range(n)], vectors, sha256s, [f"{int(v):016x}" for v in hashes], truth


def _group_sizes(rng: np.random.Generator, budget: int) -> list[int]:
    sizes = []
    while budget >= 2:
        size = int(min(2 + rng.geometric(0.3) - 1, 20, budget))
        sizes.append(size)
        budget -= size
    return sizes


def _random_hashes(rng: np.random.Generator, count: int) -> np.ndarray:
    """64-bit values with exactly 32 bits set, like a real phash (thresholded at the median)."""
    out = np.empty(count, dtype=np.uint64)
    for start in range(0, count, GENERATE_CHUNK):
        stop = min(start + GENERATE_CHUNK, count)
        out[start:stop] = _bits(np.argsort(rng.random((stop - start, 64)), axis=1)[:, :32])
    return out


def _bits(positions: np.ndarray) -> np.ndarray:
    return (np.uint64(1) << positions.astype(np.uint64)).sum(axis=1, dtype=np.uint64)


def _phashes(rng: np.random.Generator, truth: np.ndarray, groups: int) -> np.ndarray:
    values = _random_hashes(rng, len(truth))
    base = _random_hashes(rng, groups)
    # half the members of a group are near-identical renderings (2-4 bits off the group's hash)
    near = np.flatnonzero((truth >= 0) & (rng.random(len(truth)) < 0.5))
    positions = np.argsort(rng.random((len(near), 64)), axis=1)[:, :4].astype(np.uint64)
    flipped = (np.uint64(1) << positions) * (np.arange(4) < rng.integers(2, 5, len(near))[:, None])
    values[near] = base[truth[near]] ^ flipped.sum(axis=1, dtype=np.uint64)
    return values


def _reuse_files(truth: np.ndarray, vectors: np.ndarray, sha256s: list[str], hashes: np.ndarray) -> None:
    """A third of the groups serve one file on several of their domains: same vector, sha256 and phash."""
    order = np.argsort(truth, kind="stable")
    labels = truth[order]
    starts = np.searchsorted(labels, labels, side="left")  # first position of each member's label
    rank = np.arange(len(order)) - starts
    size = np.searchsorted(labels, labels, side="right") - starts
    copy = (labels >= 0) & (labels % 3 == 0) & (size >= 2) & (rank > 0) & (rank < np.maximum(2, size // 2))
    targets, sources = order[copy], order[starts[copy]]
    for start in range(0, len(targets), GENERATE_CHUNK):
        part = slice(start, start + GENERATE_CHUNK)
        vectors[targets[part]] = vectors[sources[part]]
    hashes[targets] = hashes[sources]
    for target, source in zip(targets.tolist(), sources.tolist(), strict=True):
        sha256s[target] = sha256s[source]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_cluster(size: int, exact_knn: bool = False, labels_out: str = "") -> dict:
    from sklearn.metrics import adjusted_rand_score

    from search import grouping
    from search.cluster import cluster_vectors

    if exact_knn:
        grouping.EXACT_KNN_UP_TO = size  # the exact n^2 graph, to measure the approximate one against

    domains, vectors, sha256s, phashes, truth = synthetic(size)
    # the near tier's evidence: the synthetic phash stands for both hashes of the trimmed logo, so the
    # near-identical renderings (2-4 bits off) are proven pairs that calibrate the embedding tier; one colour
    # layout for all, so that the near tier's colour check costs what it costs and refuses nothing
    features = [{"pixels": sha, "nhash": ph + ph, "shash": "", "aspect": 1.0, "colour": "b3db45" * 16, "on_white": None}
                for sha, ph in zip(sha256s, phashes, strict=True)]
    before = _peak_mb()
    result = cluster_vectors(domains, vectors, sha256s, phashes, features=features,
                             model="synthetic/latent128")
    predicted = np.array([result.labels[d] for d in domains])
    # noise / outliers as singletons, so "all noise" does not score as one big agreeing cluster
    singletons = np.arange(size) + size + 1
    ari = adjusted_rand_score(np.where(truth >= 0, truth, singletons), np.where(predicted >= 0, predicted, singletons))
    if labels_out:
        np.save(labels_out, np.where(predicted >= 0, predicted, singletons))
    return {"seconds": result.seconds, "ari": ari, "groups": len(result.groups), "true_groups": int(truth.max()) + 1,
            "outliers": len(result.outliers), "peak_mb": _peak_mb(), "data_mb": before,
            "params": {"calibration": result.params.calibration, "embedding": result.params.embedding},
            "stages": result.params.stages}


def bench_similar(size: int) -> dict:
    from indexer.store import LogoStore, StoreConfig  # noqa: I001 (this file's own name shadows `search`)
    from search.similar import similar

    domains, vectors, sha256s, phashes, _ = synthetic(size)
    with tempfile.TemporaryDirectory(prefix="bench-similar-") as tmp:
        config = StoreConfig(path=Path(tmp) / "qdrant")
        started = time.perf_counter()
        with LogoStore(config) as store:
            store.ensure_collection()
            store.upsert([({"domain": d, "sha256": s, "phash": p, "model": "resnet50-random"}, v)
                          for d, v, s, p in zip(domains, vectors, sha256s, phashes, strict=True)])
        upsert_s = time.perf_counter() - started
        started = time.perf_counter()
        store = LogoStore(config)
        store.count()
        reopen_s = time.perf_counter() - started
        rng = np.random.default_rng(1)
        latencies = []
        for i in rng.choice(size, QUERIES, replace=False):
            started = time.perf_counter()
            similar(domains[i], store, top=10)
            latencies.append(time.perf_counter() - started)
        store.close()
    return {"upsert_s": upsert_s, "reopen_s": reopen_s, "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * float(np.percentile(latencies, 99)), "peak_mb": _peak_mb()}


def _child(what: str, size: int, exact: bool = False, labels_out: str = "") -> dict:
    command = [sys.executable, __file__, "--child", what, str(size), str(int(exact)), labels_out or "-"]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _report_cluster(size: int, compare_exact: bool) -> None:
    from sklearn.metrics import adjusted_rand_score

    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        runs = [("", False)] + ([(" exact k-NN", True)] if compare_exact else [])
        labels = []
        for name, exact in runs:
            path = str(Path(tmp) / f"labels{int(exact)}.npy")
            r = _child("cluster", size, exact, path)
            labels.append(np.load(path))
            print(f"cluster{name} {size:>7}: {r['seconds']:.1f} s, ARI {r['ari']:.3f}, "
                  f"{r['groups']} groups (true {r['true_groups']}), {r['outliers']} outliers, "
                  f"peak {r['peak_mb']:.0f} MB (data alone {r['data_mb']:.0f} MB) stages {r['stages']} "
                  f"{r['params']}", flush=True)
        if compare_exact:
            print(f"approximate vs exact k-NN graph, {size}: ARI {adjusted_rand_score(labels[0], labels[1]):.4f}",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3400, 100_000])
    parser.add_argument("--what", nargs="+", default=["cluster", "similar"], choices=["cluster", "similar"])
    parser.add_argument("--compare-exact", action="store_true",
                        help="also cluster with the exact k-NN graph and print the two labellings' agreement (ARI)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        what, size, exact, labels_out = args.child
        result = bench_cluster(int(size), exact == "1", "" if labels_out == "-" else labels_out) \
            if what == "cluster" else bench_similar(int(size))
        print(json.dumps(result, default=str))
        return
    for size in args.sizes:
        if "cluster" in args.what:
            _report_cluster(size, args.compare_exact)
        if "similar" in args.what:
            r = _child("similar", size)
            print(f"similar {size:>7}: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms; upsert {r['upsert_s']:.0f} s, "
                  f"reopen {r['reopen_s']:.1f} s, peak {r['peak_mb']:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
