"""similar(): domain, file and URL queries against a real embedded Qdrant; export keyed by domain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from helpers_http import serve_files
from PIL import Image, ImageDraw

from common.errors import LogosimError
from indexer.store import LogoStore, StoreConfig
from search.cluster import cluster_store
from search.export import export_vectors
from search.similar import fetch_image, similar

DIM = 2048


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[LogoStore]:
    """Ten domains; acme.com's closest neighbours are, in order, acme.de, acme.fr, acme.it."""
    base = _vectors(10)
    for i, weight in ((1, 0.05), (2, 0.1), (3, 0.2)):
        mixed = base[0] + weight * base[i]
        base[i] = mixed / np.linalg.norm(mixed)
    names = ["acme.com", "acme.de", "acme.fr", "acme.it"] + [f"other{i}.org" for i in range(6)]
    with LogoStore(StoreConfig(path=tmp_path / "qdrant")) as opened:
        opened.ensure_collection()
        opened.upsert([({"domain": d, "sha256": f"s{i}", "phash": None, "model": "resnet50/random-seed0"}, base[i])
                       for i, d in enumerate(names)])
        yield opened


def test_domain_query_excludes_itself_best_first(store: LogoStore) -> None:
    result = similar(" HTTPS://www.ACME.com/ ", store, top=3)
    assert result.kind == "domain" and result.query == "acme.com"
    assert [n.domain for n in result.results] == ["acme.de", "acme.fr", "acme.it"]
    scores = [n.score for n in result.results]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.99
    assert all(n.cluster is None for n in result.results)  # not clustered yet


def test_min_score_and_cluster_labels(store: LogoStore) -> None:
    cluster_store(store)
    result = similar("acme.com", store, top=10, min_score=0.9)
    assert {n.domain for n in result.results} == {"acme.de", "acme.fr", "acme.it"}
    assert all(isinstance(n.cluster, int) for n in result.results)


def test_unknown_domain_suggests_spellings(store: LogoStore) -> None:
    with pytest.raises(LogosimError, match=r"acme\.co is not indexed; did you mean acme\.com"):
        similar("acme.co", store)
    with pytest.raises(LogosimError, match="not indexed$"):
        similar("zzzzzz.example", store)


def test_missing_file_is_one_clear_error(store: LogoStore, tmp_path: Path) -> None:
    with pytest.raises(LogosimError, match="cannot read"):
        similar(str(tmp_path / "nope.png"), store)


# -- image queries with the real (random-weight) model ------------------------------------------------------
def _logo(path: Path, colour: str, shape: str) -> Path:
    image = Image.new("RGBA", (160, 90), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    if shape == "ellipse":
        draw.ellipse((10, 10, 80, 80), fill=colour)
    else:
        draw.rectangle((20, 15, 150, 70), fill=colour)
    draw.text((90, 40), shape[:3].upper(), fill="black")
    image.save(path)
    return path


@pytest.fixture(scope="module")
def embedder():
    model = pytest.importorskip("indexer.model")
    return model.Embedder(weights="random", device="cpu")


@pytest.fixture()
def image_store(tmp_path: Path, embedder) -> Iterator[tuple[LogoStore, dict[str, Path]]]:
    from indexer.preprocess import load_logo

    files = {"red.com": _logo(tmp_path / "red.png", "red", "ellipse"),
             "blue.com": _logo(tmp_path / "blue.png", "blue", "rectangle"),
             "green.com": _logo(tmp_path / "green.png", "green", "ellipse")}
    vectors = embedder.embed_images([load_logo(p) for p in files.values()])
    with LogoStore(StoreConfig(path=tmp_path / "qdrant")) as opened:
        opened.ensure_collection()
        opened.upsert([({"domain": d, "model": embedder.name}, v) for d, v in zip(files, vectors, strict=True)])
        yield opened, files


def test_file_query_finds_its_own_logo(image_store, embedder) -> None:
    store, files = image_store
    result = similar(str(files["blue.com"]), store, top=3, embedder_factory=lambda weights: embedder)
    assert result.kind == "file"
    assert result.results[0].domain == "blue.com" and result.results[0].score > 0.99


def test_model_mismatch_is_refused(image_store, embedder) -> None:
    store, files = image_store
    store.set_payload(["red.com", "blue.com", "green.com"], {"model": "resnet50/imagenet-v2"})
    seen = []

    def factory(weights):
        seen.append(str(weights))
        return embedder

    with pytest.raises(LogosimError, match="model mismatch"):
        similar(str(files["red.com"]), store, embedder_factory=factory)
    assert seen == ["imagenet"]


@pytest.fixture()
def server(image_store) -> Iterator[str]:
    _, files = image_store
    with serve_files({"/logo.png": files["green.com"].read_bytes(), "/big": b"x" * 5000}) as (base, _):
        yield base


def test_url_query_over_loopback(image_store, server: str, embedder) -> None:
    store, _ = image_store
    result = similar(f"{server}/logo.png", store, top=1, embedder_factory=lambda weights: embedder,
                     allow_private=True)
    assert result.kind == "url" and result.results[0].domain == "green.com"


def test_url_failures_are_one_line(server: str) -> None:
    with pytest.raises(LogosimError, match="HTTP 404"):
        fetch_image(f"{server}/missing.png", allow_private=True)
    with pytest.raises(LogosimError, match="larger than"):
        fetch_image(f"{server}/big", max_bytes=1000, allow_private=True)


# -- export -------------------------------------------------------------------------------------------------
def test_export_npy_rows_follow_domains(store: LogoStore, tmp_path: Path) -> None:
    assert export_vectors(store, tmp_path / "out", "npy") == 10
    domains = json.loads((tmp_path / "out" / "domains.json").read_text())
    vectors = np.load(tmp_path / "out" / "vectors.npy")
    assert vectors.shape == (10, DIM) and vectors.dtype == np.float32
    stored = store.get(domains, with_vectors=True)
    for i, domain in enumerate(domains):
        np.testing.assert_allclose(vectors[i], stored[domain].vector, atol=1e-6)


def test_export_parquet_rows_follow_domains(store: LogoStore, tmp_path: Path) -> None:
    cluster_store(store)
    assert export_vectors(store, tmp_path / "vectors.parquet", "parquet") == 10
    table = pq.read_table(tmp_path / "vectors.parquet").to_pydict()
    assert set(table) == {"domain", "vector", "cluster", "sha256", "model"}
    stored = store.get(table["domain"], with_vectors=True)
    for domain, vector, label in zip(table["domain"], table["vector"], table["cluster"], strict=True):
        np.testing.assert_allclose(np.asarray(vector, dtype=np.float32), stored[domain].vector, atol=1e-6)
        assert label == stored[domain].payload["cluster"]
    with pytest.raises(LogosimError):
        export_vectors(store, tmp_path / "x", "csv")


def test_hits_carry_the_tiers_evidence(tmp_path: Path) -> None:
    """A hit that is the same file, or a near-identical picture, says so; its group evidence comes along."""
    base = _vectors(4, seed=3)
    rows = [("brand.com", "s1", "p1", "0f" * 16), ("brand.de", "s1", "p1", "0f" * 16),
            ("brand.fr", "s2", "p2", "0f" * 15 + "0e"), ("other.org", "s3", "p3", "a5" * 16)]
    with LogoStore(StoreConfig(path=tmp_path / "qdrant")) as opened:
        opened.ensure_collection()
        opened.upsert([({"domain": d, "sha256": sha, "pixels": px, "nhash": nh, "shash": "", "aspect": 1.0,
                         "phash": None, "model": "resnet50/random-seed0"}, base[i])
                       for i, (d, sha, px, nh) in enumerate(rows)])
        cluster_store(opened)
        result = similar("brand.com", opened, top=3)
    evidence = {n.domain: n.evidence for n in result.results}
    assert evidence == {"brand.de": {"tier": "sha256", "distance": 0.0}, "brand.fr": {"tier": "near", "distance": 1.0},
                        "other.org": None}
    groups = {n.domain: n.group_evidence for n in result.results}
    assert groups["brand.fr"]["tier"] == "near" and groups["other.org"] is None


def _brands_store(path: Path) -> LogoStore:
    """brand.com's group: brand.de (the same file) and brand.fr (joined through brand.de's near-identical
    picture, no tier to brand.com directly); look1-3.org, another logo each, are its nearest vectors."""
    rng = np.random.default_rng(5)
    query = _vectors(1, seed=9)[0]
    near = [query + 0.003 * rng.standard_normal(DIM).astype(np.float32) for _ in range(3)]  # cosine ~0.99
    far = [_vectors(1, seed=20 + i)[0] for i in range(3)]  # cosine ~0
    rows = [("brand.com", query, "s1", "f0" * 16), ("brand.de", far[0], "s1", "0f" * 16),
            ("brand.fr", far[1], "s2", "0f" * 15 + "0e"), ("look1.org", near[0], "s3", "a5" * 16),
            ("look2.org", near[1], "s4", "5a" * 16), ("look3.org", near[2], "s5", "c3" * 16),
            ("stray.org", far[2], "s6", "3c" * 16)]
    store = LogoStore(StoreConfig(path=path))
    store.ensure_collection()
    store.upsert([({"domain": d, "sha256": sha, "pixels": sha, "nhash": nh, "shash": "", "aspect": 1.0, "phash": None,
                    "model": "resnet50/random-seed0"}, v / np.linalg.norm(v)) for d, v, sha, nh in rows])
    return store


def test_evidence_outranks_embedding_hints_the_clustering_refused(tmp_path: Path) -> None:
    """The tiers group brand.com, .de, .fr; the embedding tier abstained (random weights), so the three
    look-alike vectors (cosine 0.99) are hints, after the group, marked as such; min_score bounds only them."""
    from search.similar import Grouping

    with _brands_store(tmp_path / "qdrant") as store:
        result = cluster_store(store)
        assert result.params.calibration["threshold"] is None  # abstained
        grouping = Grouping.of(result.groups, result.params.calibration)
        answer = similar("brand.com", store, top=4, grouping=grouping)
        limited = similar("brand.com", store, top=10, grouping=grouping, min_score=0.5)
    assert [(n.domain, n.reason) for n in answer.results][:2] == [("brand.de", "evidence"), ("brand.fr", "group")]
    assert [n.reason for n in answer.results][2:] == ["embedding_only"] * 2
    assert answer.results[2].score > 0.98 > answer.results[0].score  # ranked by evidence, not by cosine
    assert {n.domain for n in limited.results} == {"brand.de", "brand.fr", "look1.org", "look2.org", "look3.org"}


def test_a_calibrated_embedding_tier_vouches_within_its_threshold(tmp_path: Path) -> None:
    """With a threshold for this model (measured in its PCA space), hits within it are 'embedding' and rank
    above the hints beyond it; a threshold for another model vouches for nothing."""
    from search.grouping import Projection
    from search.similar import Grouping

    identity = Projection(np.zeros(DIM, dtype=np.float32), np.eye(DIM, dtype=np.float32)[:64])
    with _brands_store(tmp_path / "qdrant") as store:
        result = cluster_store(store)
        calibrated = Grouping.of(result.groups, {"model": "resnet50/random-seed0", "threshold": 0.1}, identity)
        other = Grouping.of(result.groups, {"model": "efficientnet-lite0", "threshold": 0.1}, identity)
        trusted = similar("brand.com", store, top=7, grouping=calibrated)
        untrusted = similar("brand.com", store, top=7, grouping=other)
    reasons = {n.domain: n.reason for n in trusted.results}
    assert reasons["look1.org"] == reasons["look2.org"] == reasons["look3.org"] == "embedding"
    assert reasons["stray.org"] == "embedding_only" and [n.domain for n in trusted.results][-1] == "stray.org"
    assert {n.reason for n in untrusted.results if n.domain.startswith("look")} == {"embedding_only"}
