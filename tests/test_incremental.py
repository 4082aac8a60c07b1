"""`logosim cluster --incremental`: brand families indexed in two parts (real import, index, embedded Qdrant);
the second part placed into the first part's groups agrees with a full clustering of both parts."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.config import Config
from common.datadir import DataDir
from common.errors import LogosimError
from convert.importer import import_folder
from fixtureweb.families import write_families
from indexer.preprocess import load_logo, prepare
from indexer.runner import index_data_dir
from indexer.store import LogoStore, StoreConfig
from pipeline import stages
from pipeline.clusters import projection_path

STAND_IN = "stand-in/pixels"


def _second(domain: str) -> bool:
    """About a third of the domains, chosen by name (never by position) for the second part."""
    return hashlib.sha256(domain.encode()).digest()[0] % 3 == 0


def _stand_in(path: Path) -> np.ndarray:
    """A picture's own pixels as its vector (as in test_families): vectors whose distances mean something,
    so that the embedding tier calibrates instead of abstaining as it does with random weights."""
    square = prepare(load_logo(path)).convert("L").resize((24, 24), Image.Resampling.BILINEAR)
    vector = np.asarray(square, dtype=np.float32).ravel()
    vector -= vector.mean()
    padded = np.zeros(2048, dtype=np.float32)  # the collection's 2048 dimensions; zeros leave cosines alone
    padded[:vector.size] = vector / max(float(np.linalg.norm(vector)), 1e-6)
    return padded


def _index(root: Path, folder: Path, stand_in: bool) -> None:
    data = DataDir(root / "data")
    with data.locked("import"):
        import_folder(folder, data, workers=1)
    config = StoreConfig(path=data.qdrant)
    index_data_dir(data, config, weights="random", device="cpu", workers=0)
    if stand_in:  # the same points with stand-in vectors (upsert replaces by domain)
        with LogoStore(config) as store:
            points = list(store.scroll(with_vectors=False))
            store.upsert([({**p.payload, "model": STAND_IN}, _stand_in(data.root / p.payload["logo_path"]))
                          for p in points])


def _two_parts(root: Path, stand_in: bool, seed: int) -> tuple[dict[str, str], Config]:
    truth = write_families(root / "files", brands=4, loners=12, seed=seed)
    for name in ("first", "second"):
        (root / name).mkdir()
    for path in sorted((root / "files").iterdir()):
        domain = path.name.rsplit(".", 1)[0]
        shutil.copy(path, root / ("second" if _second(domain) else "first") / path.name)
    _index(root, root / "first", stand_in)
    # the words' check (OCR) runs in one of the two variants: its cost is the families' logos read once
    config = Config.from_env({}, data_dir=root / "data", read_text=not stand_in)
    stages.cluster(config)
    _index(root, root / "second", stand_in)
    return truth, config


def _pairs(labels: dict[str, int], second: set[str]) -> set[frozenset[str]]:
    """Pairs put together that touch a domain of the second part."""
    groups: dict[int, list[str]] = {}
    for domain, label in labels.items():
        if label >= 0:
            groups.setdefault(label, []).append(domain)
    return {frozenset((a, b)) for members in groups.values() for a in members for b in members
            if a < b and (a in second or b in second)}


def _agreement(config: Config, truth: dict[str, str]) -> tuple[float, float, dict]:
    second = {d for d in truth if _second(d)}
    placed, _ = stages.cluster(config, stages.ClusterOptions(incremental=True))
    with LogoStore(StoreConfig(path=DataDir(config.data_dir).qdrant)) as store:
        stored = store.get(sorted(second))
    assert all(stored[d].payload["cluster"] == placed.labels[d] for d in second)  # written back
    written = json.loads((Path(config.data_dir) / "clusters.json").read_text())
    assert sum(len(v) for v in written.values()) == len(truth)
    full, _ = stages.cluster(config)
    got, want = _pairs(placed.labels, second), _pairs(full.labels, second)
    precision = len(got & want) / max(len(got), 1)
    recall = len(got & want) / max(len(want), 1)
    return precision, recall, {"placed": placed, "full": full, "second": second}


@pytest.mark.parametrize("stand_in", [False, True], ids=["random-weights", "stand-in-embedder"])
def test_second_part_placed_like_a_full_run(tmp_path, stand_in: bool) -> None:
    truth, config = _two_parts(tmp_path, stand_in, seed=3)
    precision, recall, runs = _agreement(config, truth)
    placed, second = runs["placed"], runs["second"]
    # Measured: 1.000 / 1.000 with random weights (strong tiers only) and with the stand-in embedder (whose
    # tier calibrates here, but neither run joins any of these logos by embeddings: the next test does)
    assert precision >= 0.98 and recall >= 0.95, (precision, recall)
    assert placed.params.incremental["new"] == len(second)
    for domain in second:
        if placed.labels[domain] >= 0:
            explained = placed.evidence[domain]
            assert set(explained) >= {"tier", "distance", "via"}
            assert placed.labels[explained["via"]] == placed.labels[domain]  # the evidence is within the group
    tiers = {placed.evidence[d]["tier"] for d in second if d in placed.evidence}
    calibration = placed.params.calibration
    if stand_in:
        assert calibration["threshold"] is not None and projection_path(DataDir(config.data_dir)).exists()
        assert all(placed.evidence[d]["distance"] <= calibration["threshold"]
                   for d in second if placed.evidence.get(d, {}).get("tier") == "hdbscan")
    else:
        assert calibration["threshold"] is None and "hdbscan" not in tiers
    assert tiers & {"sha256", "near", "shape"}
    print(f"incremental vs full on the second part: precision {precision:.3f}, recall {recall:.3f}, "
          f"{len(second)} new, tiers {sorted(tiers)}")


def test_incremental_without_a_previous_run_says_so(tmp_path) -> None:
    truth = write_families(tmp_path / "files", brands=1, loners=2, seed=4)
    assert truth
    _index(tmp_path, tmp_path / "files", stand_in=False)
    with pytest.raises(LogosimError, match="run `logosim cluster` once without --incremental"):
        stages.cluster(Config.from_env({}, data_dir=tmp_path / "data"), stages.ClusterOptions(incremental=True))


def test_embedding_tier_places_like_a_full_run(tmp_path) -> None:
    """Synthetic vectors with known groups (bench/search.py's generator), half of each group's members near
    renderings that calibrate the tier: the embedding tier does the placing here."""
    from bench.search import synthetic
    from search.cluster import cluster_store
    from search.incremental import Previous, place_new

    domains, vectors, sha256s, phashes, _truth = synthetic(1500, seed=5)
    rows = [({"domain": d, "sha256": s, "phash": p, "model": "synthetic", "pixels": s, "nhash": p + p,
              "shash": "", "aspect": 1.0}, v) for d, v, s, p in zip(domains, vectors, sha256s, phashes, strict=True)]
    second = {d for d in domains if _second(d)}
    with LogoStore(StoreConfig(path=tmp_path / "qdrant")) as store:
        store.ensure_collection()
        store.upsert([row for row in rows if row[0]["domain"] not in second])
        first = cluster_store(store)
        assert first.params.calibration["threshold"] is not None, first.params.calibration
        previous = Previous(first.labels, first.evidence, first.params, first.projection)
        store.upsert([row for row in rows if row[0]["domain"] in second])
        placed, changed = place_new(store, previous)
        full = cluster_store(store, write_back=False)
    assert set(changed) >= second
    got, want = _pairs(placed.labels, second), _pairs(full.labels, second)
    precision, recall = len(got & want) / max(len(got), 1), len(got & want) / max(len(want), 1)
    joined = [d for d in second if placed.evidence.get(d, {}).get("tier") == "hdbscan"]
    print(f"embedding placement vs full: precision {precision:.3f}, recall {recall:.3f}, "
          f"{len(joined)} of {len(second)} joined by the embedding tier")
    assert joined and all(placed.evidence[d]["distance"] <= first.params.calibration["threshold"] for d in joined)
    # Measured (1,500 synthetic logos, 506 placed): precision 0.913, recall 0.745 against the full run. The
    # pairs it misses are mostly new logos that a full run's HDBSCAN groups among themselves or with former
    # outliers by embeddings alone (placement joins by embeddings only to existing groups); with the
    # calibrated threshold as the only test it gave 0.870 / 0.901, and the group's linkage distance instead
    # of the member's nearest fellow 0.896 / 0.801 but 0.873 precision on the brand families.
    assert precision >= 0.9 and recall >= 0.7, (precision, recall)
