"""Grouping: the identical / near-identical tiers, HDBSCAN on embeddings, tuning, write-back to a real Qdrant."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from common.datadir import DataDir
from indexer.store import LogoStore, StoreConfig
from pipeline.clusters import write_clusters
from search.cluster import cluster_store, cluster_vectors
from search.evidence import degenerate, parse_phashes
from search.hashing import near_pairs

DIM = 2048


def _hash32(rng: np.random.Generator) -> int:
    """A realistic phash: 32 of 64 bits set."""
    return int(sum(1 << int(b) for b in rng.choice(64, 32, replace=False)))


def _flip(value: int, bits: list[int]) -> int:
    for bit in bits:
        value ^= 1 << int(bit)
    return value


def corpus(seed: int = 0) -> dict:
    """Six embedding groups (sizes 2-7) + 20 unrelated logos; files reused and near-identical renderings inside.

    Group 0 shares one file on 3 domains plus 2 re-rendered copies (phash 2-4 bits off); the other groups
    only look alike in embedding space (random phashes, distinct files). Two 'blank' logos have identical
    vectors and the degenerate phash of an empty image but different files: they must not be grouped.
    """
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((32, DIM)).astype(np.float32)
    domains, vectors, shas, phashes, truth = [], [], [], [], []
    for group, size in enumerate([7, 5, 4, 3, 2, 2]):
        centre = rng.standard_normal(32)
        _hash32(rng)  # keeps the seeded stream (and so the fixture) as the assertions were written for
        for member in range(size):
            domains.append(f"brand{group}-{member}.com")
            vectors.append((centre + 0.08 * rng.standard_normal(32)) @ basis)
            shas.append(f"sha-{group}-{member}")
            phashes.append(f"{_hash32(rng):016x}")
            truth.append(group)
        if group == 0:
            first = len(domains) - size
            for i in (first + 1, first + 2):  # same file on three domains
                vectors[i], shas[i], phashes[i] = vectors[first], shas[first], phashes[first]
            phashes[first + 3] = f"{_flip(int(phashes[first], 16), [3, 40]):016x}"
            phashes[first + 4] = f"{_flip(int(phashes[first], 16), [1, 9, 17, 60]):016x}"
    for i in range(20):
        domains.append(f"lonely{i}.org")
        vectors.append(rng.standard_normal(32) @ basis)
        shas.append(f"sha-lonely-{i}")
        phashes.append(f"{_hash32(rng):016x}")
        truth.append(100 + i)
    blank = rng.standard_normal(32) @ basis
    for i in range(2):
        domains.append(f"blank{i}.net")
        vectors.append(blank.copy())
        shas.append(f"sha-blank-{i}")
        phashes.append("8000000000000000")
        truth.append(200 + i)
    vectors = np.asarray(vectors, dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return {"domains": domains, "vectors": vectors, "shas": shas, "phashes": phashes, "truth": np.array(truth)}


@pytest.fixture(scope="module")
def data() -> dict:
    return corpus()


def _run(data: dict, **kwargs):
    return cluster_vectors(data["domains"], data["vectors"], data["shas"], data["phashes"], **kwargs)


def test_flagged_logos_join_nothing_even_as_identical_files(data: dict) -> None:
    """Two blank favicons kept by `logosim import` are the same file, not a shared logo."""
    domains = data["domains"] + ["white-a.org", "white-b.org"]
    vectors = np.vstack([data["vectors"], data["vectors"][:1], data["vectors"][:1]])
    shas = data["shas"] + ["sha-white", "sha-white"]
    phashes = data["phashes"] + [data["phashes"][0]] * 2  # even brand0's hash and vector
    flagged = [False] * len(data["domains"]) + [True, True]
    result = cluster_vectors(domains, vectors, shas, phashes, flagged=flagged)
    assert result.labels["white-a.org"] == result.labels["white-b.org"] == -1
    assert result.tier["white-a.org"] == result.tier["white-b.org"] == "placeholder"
    assert result.params.flagged == 2
    unflagged = cluster_vectors(domains, vectors, shas, phashes)
    assert unflagged.labels["white-a.org"] == unflagged.labels["brand0-0.com"] != -1  # the flag is what kept them out


def _ari(data: dict, result) -> float:
    predicted = [result.labels[d] for d in data["domains"]]
    return adjusted_rand_score(data["truth"], [1000 + i if label < 0 else label for i, label in enumerate(predicted)])


def test_labels_follow_domains_not_positions(data: dict) -> None:
    order = np.random.default_rng(5).permutation(len(data["domains"]))
    shuffled = {key: [data[key][i] for i in order] for key in ("domains", "shas", "phashes")}
    shuffled["vectors"] = data["vectors"][order]
    first, second = _run(data), _run(shuffled)
    assert first.groups == second.groups and first.labels == second.labels


def test_near_pairs_equal_brute_force() -> None:
    rng = np.random.default_rng(3)
    base = np.array([_hash32(rng) for _ in range(150)], dtype=np.uint64)
    close = np.array([_flip(int(v), list(rng.choice(64, int(rng.integers(1, 9)), replace=False)))
                      for v in base[:60]], dtype=np.uint64)
    values = np.unique(np.concatenate([base, close]))
    for distance in (2, 6, 9):
        expected = {(i, j) for i in range(len(values)) for j in range(i + 1, len(values))
                    if bin(int(values[i]) ^ int(values[j])).count("1") <= distance}
        assert set(near_pairs(values, distance)) == expected


def test_degenerate_hashes() -> None:
    hashes = parse_phashes(["8000000000000000", "ffffffffffffffff", None, "zz", "aaaaaaaaaaaaaaaa"])
    assert degenerate(hashes).tolist() == [True, True, True, True, False]


def test_mismatched_inputs_are_rejected(data: dict) -> None:
    with pytest.raises(ValueError):
        cluster_vectors(data["domains"][:-1], data["vectors"], data["shas"], data["phashes"])


def _store(tmp_path, data: dict) -> LogoStore:
    store = LogoStore(StoreConfig(path=tmp_path / "qdrant"))
    store.ensure_collection()
    store.upsert([({"domain": d, "sha256": s, "phash": p, "model": "resnet50/random-seed0",
                    "logo_path": f"logos/{d}.png"}, v)
                  for d, v, s, p in zip(data["domains"], data["vectors"], data["shas"], data["phashes"], strict=True)])
    return store


def test_cluster_store_writes_labels_back_and_outputs(tmp_path, data: dict) -> None:
    with _store(tmp_path, data) as store:
        result = cluster_store(store)
        stored = store.get(data["domains"])
    assert {d: p.payload["cluster"] for d, p in stored.items()} == result.labels
    assert result.params.points == len(data["domains"])
    data_dir = DataDir(tmp_path)
    write_clusters(result, data_dir)
    written = json.loads(data_dir.clusters.read_text())
    assert written["-1"] == result.outliers
    assert {int(k): v for k, v in written.items() if k != "-1"} == result.groups


def test_cluster_store_on_empty_collection(tmp_path) -> None:
    with LogoStore(StoreConfig(path=tmp_path / "qdrant")) as store:
        store.ensure_collection()
        result = cluster_store(store)
    assert result.groups == {} and result.outliers == []
