"""Benchmark: clustering time, agreement (ARI) and peak memory, and `similar` latency, on synthetic logos.

Synthetic vectors with a known group structure: group centres in a 128-d latent space mapped into 2048-d
(real embeddings are far from isotropic) plus full-dimensional noise; groups of 2-20 members, 30% noise
points, a third of the groups reusing one file on several domains (same vector and sha256), phashes near
the group's own for members. Each measurement runs in its own subprocess so peak RSS is its own. Usage:

    .venv/bin/python bench/search.py --sizes 3400 100000 --what cluster similar
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


def synthetic(n: int, seed: int = 0) -> tuple[list[str], np.ndarray, list[str], list[str], np.ndarray]:
    """(domains, unit vectors, sha256s, phash hex, true labels with -1 for noise points)."""
    rng = np.random.default_rng(seed)
    sizes = _group_sizes(rng, int(n * (1 - NOISE_SHARE)))
    truth = np.full(n, -1, dtype=np.int64)
    truth[:sum(sizes)] = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(truth)
    mixing = rng.standard_normal((LATENT, DIM), dtype=np.float32) / np.sqrt(LATENT)
    latent = rng.standard_normal((n, LATENT), dtype=np.float32)
    centres = rng.standard_normal((len(sizes), LATENT), dtype=np.float32)
    spread = rng.uniform(0.15, 0.45, len(sizes)).astype(np.float32)  # some groups are tight, some loose
    grouped = truth >= 0
    latent[grouped] = centres[truth[grouped]] + spread[truth[grouped], None] * latent[grouped]
    vectors = latent @ mixing + 0.02 * rng.standard_normal((n, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sha256s = [hashlib.sha256(f"file{i}".encode()).hexdigest() for i in range(n)]
    phashes = _phashes(rng, truth, len(sizes))
    _reuse_files(rng, truth, vectors, sha256s, phashes)
    return [f"site{i}.example" for i in range(n)], vectors, sha256s, phashes, truth


def _group_sizes(rng: np.random.Generator, budget: int) -> list[int]:
    sizes = []
    while budget >= 2:
        size = int(min(2 + rng.geometric(0.3) - 1, 20, budget))
        sizes.append(size)
        budget -= size
    return sizes


def _random_hashes(rng: np.random.Generator, count: int) -> np.ndarray:
    """64-bit values with exactly 32 bits set, like a real phash (thresholded at the median)."""
    bits = np.argsort(rng.random((count, 64)), axis=1)[:, :32]
    return (np.uint64(1) << bits.astype(np.uint64)).sum(axis=1, dtype=np.uint64)


def _phashes(rng: np.random.Generator, truth: np.ndarray, groups: int) -> list[str]:
    own = _random_hashes(rng, len(truth))
    base = _random_hashes(rng, groups)
    values = own.copy()
    # half the members of a group are near-identical renderings (2-4 bits off the group's hash)
    near = (truth >= 0) & (rng.random(len(truth)) < 0.5)
    for i in np.flatnonzero(near):
        flips = rng.choice(64, size=int(rng.integers(2, 5)), replace=False).astype(np.uint64)
        values[i] = base[truth[i]] ^ (np.uint64(1) << flips).sum(dtype=np.uint64)
    return [f"{int(v):016x}" for v in values]


def _reuse_files(rng: np.random.Generator, truth: np.ndarray, vectors: np.ndarray, sha256s: list[str],
                 phashes: list[str]) -> None:
    """A third of the groups serve one file on several of their domains: same vector, sha256 and phash."""
    for label in range(0, int(truth.max()) + 1, 3):
        members = np.flatnonzero(truth == label)
        if len(members) < 2:
            continue
        copies = members[: max(2, len(members) // 2)]
        for i in copies[1:]:
            vectors[i] = vectors[copies[0]]
            sha256s[i] = sha256s[copies[0]]
            phashes[i] = phashes[copies[0]]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_cluster(size: int, tune: bool) -> dict:
    from sklearn.metrics import adjusted_rand_score

    from search.cluster import cluster_vectors

    domains, vectors, sha256s, phashes, truth = synthetic(size)
    # the near tier's evidence: the synthetic phash stands for both hashes of the trimmed logo, so the
    # near-identical renderings (2-4 bits off) are proven pairs that calibrate the embedding tier
    features = [{"pixels": sha, "nhash": ph + ph, "shash": "", "aspect": 1.0}
                for sha, ph in zip(sha256s, phashes, strict=True)]
    before = _peak_mb()
    result = cluster_vectors(domains, vectors, sha256s, phashes, tune=tune, features=features,
                             model="synthetic/latent128")
    predicted = np.array([result.labels[d] for d in domains])
    # noise / outliers as singletons, so "all noise" does not score as one big agreeing cluster
    singletons = np.arange(size) + size + 1
    ari = adjusted_rand_score(np.where(truth >= 0, truth, singletons), np.where(predicted >= 0, predicted, singletons))
    return {"seconds": result.seconds, "ari": ari, "groups": len(result.groups), "true_groups": int(truth.max()) + 1,
            "outliers": len(result.outliers), "peak_mb": _peak_mb(), "data_mb": before,
            "params": {k: v for k, v in result.params.items() if not isinstance(v, float)},
            "stages": result.params.get("stages")}


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


def _child(what: str, size: int, tune: bool) -> dict:
    command = [sys.executable, __file__, "--child", what, str(size), str(int(tune))]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3400, 100_000])
    parser.add_argument("--what", nargs="+", default=["cluster", "similar"], choices=["cluster", "similar"])
    parser.add_argument("--tune", action="store_true", help="also time cluster --tune")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        what, size, tune = args.child
        result = bench_cluster(int(size), tune == "1") if what == "cluster" else bench_similar(int(size))
        print(json.dumps(result, default=str))
        return
    for size in args.sizes:
        if "cluster" in args.what:
            for tune in (False, True) if args.tune else (False,):
                r = _child("cluster", size, tune)
                print(f"cluster{' --tune' if tune else ''} {size:>7}: {r['seconds']:.1f} s, ARI {r['ari']:.3f}, "
                      f"{r['groups']} groups (true {r['true_groups']}), {r['outliers']} outliers, "
                      f"peak {r['peak_mb']:.0f} MB (data alone {r['data_mb']:.0f} MB) {r['params']}", flush=True)
        if "similar" in args.what:
            r = _child("similar", size, False)
            print(f"similar {size:>7}: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms; upsert {r['upsert_s']:.0f} s, "
                  f"reopen {r['reopen_s']:.1f} s, peak {r['peak_mb']:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
