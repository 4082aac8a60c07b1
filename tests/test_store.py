"""LogoStore against every real backend (Edge, local mode, and a server when QDRANT_URL is set): same checks."""

from __future__ import annotations

import os
import socket
import uuid

import numpy as np
import pytest

from common.errors import StoreError
from indexer.ids import point_id
from indexer.runner import index_data_dir
from indexer.store import LogoStore, StoreConfig
from indexer.synthetic import make_data_dir

SERVER = os.environ.get("QDRANT_URL")


def _unit(seed: int, dim: int = 2048) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


EMBEDDED = ["local", "edge"]


@pytest.fixture(params=[*EMBEDDED, pytest.param("server", marks=[
    pytest.mark.server, pytest.mark.skipif(not SERVER, reason="QDRANT_URL not set")])])
def config(request, tmp_path):
    if request.param in EMBEDDED:
        yield StoreConfig(path=tmp_path / "qdrant", embedded=request.param)
        return
    config = StoreConfig(url=SERVER, api_key=os.environ.get("QDRANT_API_KEY"),
                         collection=f"test_{uuid.uuid4().hex[:12]}")
    yield config
    with LogoStore(config) as store:
        if store.exists():
            store.backend.drop()


def _fill(store: LogoStore, domains: list[str]) -> None:
    store.ensure_collection()
    store.upsert([({"domain": domain, "sha256": f"h{index}"}, _unit(index)) for index, domain in enumerate(domains)])


def test_points_are_keyed_by_domain_and_upsert_replaces(config) -> None:
    domains = ["a.example", "b.example", "c.example"]
    with LogoStore(config) as store:
        _fill(store, domains)
        store.upsert([({"domain": "b.example", "sha256": "new"}, _unit(99))])
        assert store.count() == 3
        got = store.get(["b.example", "zzz.example"], with_vectors=True)
        assert list(got) == ["b.example"] and got["b.example"].payload["sha256"] == "new"
        assert np.allclose(got["b.example"].vector, _unit(99), atol=1e-6)
        assert sorted(point.domain for point in store.scroll(with_vectors=False)) == domains
        ids = store.backend.retrieve([point_id("a.example")])
        assert ids and ids[0].payload["domain"] == "a.example"  # the public id scheme
        assert ids[0].id == point_id("a.example")


def test_search_delete_and_set_payload(config) -> None:
    with LogoStore(config) as store:
        _fill(store, ["a.example", "b.example", "c.example"])
        hits = store.search(_unit(1), limit=2)
        assert hits[0].domain == "b.example" and hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert "b.example" not in [hit.domain for hit in store.search(_unit(1), exclude="b.example")]
        store.set_payload(["a.example", "c.example"], {"cluster": 7})
        assert {d: p.payload.get("cluster") for d, p in store.get(["a.example", "b.example", "c.example"]).items()} \
            == {"a.example": 7, "b.example": None, "c.example": 7}
        store.delete(["a.example"])
        assert store.count() == 2 and store.get(["a.example"]) == {}


@pytest.mark.parametrize("embedded", EMBEDDED)
def test_embedded_store_survives_reopen(tmp_path, embedded) -> None:
    config = StoreConfig(path=tmp_path / "qdrant", embedded=embedded)
    with LogoStore(config) as store:
        _fill(store, ["a.example", "b.example"])
    with LogoStore(config) as store:
        assert store.count() == 2


def test_collection_with_another_vector_size_is_one_line_error(config, tmp_path) -> None:
    with LogoStore(config) as store:
        store.ensure_collection(("resnet50", 512))
    with LogoStore(config) as store, pytest.raises(StoreError, match="512-d") as info:
        store.ensure_collection()
    assert "\n" not in str(info.value)
    data_dir, _ = make_data_dir(tmp_path / "data", 1)
    with pytest.raises(StoreError, match="512-d"):
        index_data_dir(data_dir, config, weights="random", device="cpu", workers=0)


def test_each_model_has_its_vector_and_a_collection_never_mixes_two(config, tmp_path) -> None:
    """Indexed with EfficientNet-Lite0 (the ImageNet weights its package ships), the collection holds the
    1280-d vector 'efficientnet_lite0'; a reader takes it as it is, and ResNet50's vectors are refused."""
    data_dir, _ = make_data_dir(tmp_path / "data", 3)
    summary = index_data_dir(data_dir, config, weights="efficientnet-lite0", device="cpu", workers=0)
    assert summary.model == "efficientnet-lite0/imagenet" and summary.failed == 0
    with LogoStore(config) as store:
        assert store.vector_name == "efficientnet_lite0"
        vectors = [p.vector for p in store.scroll()]
        assert len(vectors) == 3 and all(v.shape == (1280,) for v in vectors)
        assert store.search(vectors[0], limit=1)[0].score == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(StoreError, match="holds efficientnet_lite0 vectors, not resnet50") as info:
        index_data_dir(data_dir, config, weights="random", device="cpu", workers=0)
    assert "\n" not in str(info.value)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_unreachable_server_is_one_line_error(tmp_path) -> None:
    config = StoreConfig(url=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(StoreError, match="cannot open http://127.0.0.1") as info:
        LogoStore(config)
    assert "\n" not in str(info.value)
    data_dir, _ = make_data_dir(tmp_path, 1)
    with pytest.raises(StoreError, match="cannot open"):
        index_data_dir(data_dir, config, weights="random", device="cpu")


@pytest.mark.parametrize("embedded", EMBEDDED)
def test_second_embedded_client_on_same_folder_is_one_line_error(tmp_path, embedded) -> None:
    config = StoreConfig(path=tmp_path / "qdrant", embedded=embedded)
    with LogoStore(config) as store:
        store.ensure_collection()
        with pytest.raises(StoreError, match="cannot open embedded Qdrant") as info:
            LogoStore(config)
    assert "\n" not in str(info.value)


def test_unknown_embedded_backend_is_one_line_error(tmp_path) -> None:
    with pytest.raises(StoreError, match="unknown embedded backend 'sqlite'"):
        StoreConfig.resolve(tmp_path, embedded="sqlite")
    with pytest.raises(StoreError, match="unknown embedded backend 'sqlite'"):
        LogoStore(StoreConfig(path=tmp_path / "qdrant", embedded="sqlite"))
    assert StoreConfig.resolve(tmp_path, embedded="edge").embedded == "edge"
    assert StoreConfig.resolve(tmp_path).embedded == "edge"  # the default, whatever the environment says


def test_api_key_without_url_is_one_line_error(tmp_path) -> None:
    with pytest.raises(StoreError, match="no Qdrant URL"):
        StoreConfig.resolve(tmp_path, api_key="secret")
    config = StoreConfig.resolve(tmp_path, url="http://qdrant:6333", api_key="secret")
    assert (config.url, config.api_key, config.path) == ("http://qdrant:6333", "secret", None)


def test_both_embedded_backends_give_the_same_index_and_neighbours(tmp_path) -> None:
    """Congruence: the same run into local mode and into Edge stores the same vectors and ranks alike."""
    data_dir, _ = make_data_dir(tmp_path / "data", 4)
    results = {}
    for embedded in EMBEDDED:
        config = StoreConfig(path=tmp_path / embedded, embedded=embedded)
        summary = index_data_dir(data_dir, config, weights="random", device="cpu", workers=0)
        again = index_data_dir(data_dir, config, weights="random", device="cpu", workers=0)
        assert (summary.indexed, again.unchanged) == (4, 4)
        with LogoStore(config) as store:
            vectors = {point.domain: point.vector for point in store.scroll()}
            hits = store.search(vectors["site000.example"], limit=4, exclude="site000.example")
            results[embedded] = (vectors, [hit.domain for hit in hits], [hit.score for hit in hits])
    (local_vectors, local_order, local_scores), (edge_vectors, edge_order, edge_scores) = results.values()
    assert sorted(local_vectors) == sorted(edge_vectors)
    for domain, vector in local_vectors.items():
        assert np.allclose(vector, edge_vectors[domain], atol=1e-6)
    assert local_order == edge_order and len(local_order) == 3
    assert np.allclose(local_scores, edge_scores, atol=1e-5)


@pytest.mark.parametrize("backend", ["edge", pytest.param("server", marks=[
    pytest.mark.server, pytest.mark.skipif(not SERVER, reason="QDRANT_URL not set")])])
def test_domain_and_sha256_are_keyword_indexed_also_on_an_older_collection(tmp_path, backend) -> None:
    if backend == "edge":
        config = StoreConfig(path=tmp_path / "qdrant", embedded="edge")
    else:
        config = StoreConfig(url=SERVER, api_key=os.environ.get("QDRANT_API_KEY"),
                             collection=f"test_{uuid.uuid4().hex[:12]}")
    with LogoStore(config) as store:
        store.backend.create(2048)  # as a version without indexes made it
        assert not store.backend.describe().indexed
        _fill(store, ["a.com", "b.org"])
        assert {"domain", "sha256"} <= store.backend.describe().indexed
        if backend == "server":
            store.backend.drop()
