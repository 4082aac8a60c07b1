"""The index run end to end: real files, real torch (seeded random weights), real embedded Qdrant."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from common.config import Config
from common.datadir import DataDir
from common.errors import DataDirLocked, ManifestError
from common.manifest import NO_LOGO, ManifestRecord, rewrite_manifest
from indexer.model import Embedder
from indexer.preprocess import load_logo, phash_hex
from indexer.runner import index_data_dir
from indexer.store import LogoStore, StoreConfig
from indexer.synthetic import append_records, draw_logo, make_data_dir, png_bytes, write_logo
from pipeline import stages

RUN = {"weights": "random", "device": "cpu", "batch_size": 3}


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder("random", "cpu", batch_size=3)


def _config(data_dir: DataDir) -> StoreConfig:
    return StoreConfig(path=data_dir.qdrant)


def _stored(data_dir: DataDir) -> dict:
    with LogoStore(_config(data_dir)) as store:
        return {point.domain: point for point in store.scroll(with_vectors=True)}


def _alone(embedder: Embedder, data_dir: DataDir, domain: str) -> np.ndarray:
    return embedder.embed_images([load_logo(data_dir.logo_path(domain))])[0]


def test_index_stores_every_logo_keyed_by_domain_and_rerun_is_a_no_op(tmp_path, embedder) -> None:
    data_dir, logos = make_data_dir(tmp_path, 5)
    calls: list[tuple[int, int]] = []
    summary = index_data_dir(data_dir, _config(data_dir), progress=lambda done, total: calls.append((done, total)),
                             workers=0, **RUN)
    assert (summary.indexed, summary.unchanged, summary.failed) == (5, 0, 0)
    assert summary.model == "resnet50/random-seed0" and summary.device == "cpu"
    assert calls == [(3, 5), (5, 5)]
    stored = _stored(data_dir)
    assert sorted(stored) == sorted(logos)
    payload = stored["site002.example"].payload
    assert payload["logo_path"] == "logos/site002.example.png" and payload["model"] == summary.model
    assert payload["phash"] == phash_hex(logos["site002.example"])
    assert set(payload) >= {"domain", "logo_url", "source", "sha256", "width", "height", "fetched_at"}
    assert np.allclose(stored["site002.example"].vector, _alone(embedder, data_dir, "site002.example"), atol=1e-5)

    again = index_data_dir(data_dir, _config(data_dir), workers=0, **RUN)
    assert (again.indexed, again.unchanged, again.failed) == (0, 5, 0)
    forced = index_data_dir(data_dir, _config(data_dir), workers=0, force=True, **RUN)
    assert forced.indexed == 5
    with LogoStore(_config(data_dir)) as store:
        assert store.count() == 5  # ids derive from the domain: nothing duplicated


def test_changed_logo_is_re_embedded_and_only_it(tmp_path, embedder) -> None:
    data_dir, _ = make_data_dir(tmp_path, 4)
    index_data_dir(data_dir, _config(data_dir), workers=0, **RUN)
    before = _stored(data_dir)
    append_records(data_dir, [write_logo(data_dir, "site001.example", draw_logo(999, transparent=True))])
    summary = index_data_dir(data_dir, _config(data_dir), workers=0, **RUN)
    assert (summary.indexed, summary.unchanged) == (1, 3)
    after = _stored(data_dir)
    assert after["site001.example"].payload["sha256"] != before["site001.example"].payload["sha256"]
    assert np.allclose(after["site001.example"].vector, _alone(embedder, data_dir, "site001.example"), atol=1e-5)
    assert np.array_equal(after["site000.example"].vector, before["site000.example"].vector)


def test_a_feature_field_added_since_indexing_is_filled_in_without_re_embedding(tmp_path) -> None:
    """A store indexed before ``colour`` existed: the next index run sets it from the file; vectors stay."""
    data_dir, _ = make_data_dir(tmp_path, 3)
    index_data_dir(data_dir, _config(data_dir), workers=0, **RUN)
    before = _stored(data_dir)
    with LogoStore(_config(data_dir)) as store:  # what an older logosim wrote: no colour layout in the payload
        store.upsert([({key: value for key, value in point.payload.items() if key != "colour"}, point.vector)
                      for point in before.values()])
    assert all("colour" not in point.payload for point in _stored(data_dir).values())
    summary = index_data_dir(data_dir, _config(data_dir), workers=0, **RUN)
    assert (summary.indexed, summary.unchanged, summary.refreshed) == (0, 3, 3)
    after = _stored(data_dir)
    for domain, point in after.items():
        assert point.payload["colour"] == before[domain].payload["colour"]
        assert np.array_equal(point.vector, before[domain].vector)
    assert index_data_dir(data_dir, _config(data_dir), workers=0, **RUN).refreshed == 0


def test_prune_deletes_domains_no_longer_ok_and_only_with_prune(tmp_path) -> None:
    data_dir, _ = make_data_dir(tmp_path, 5)
    index_data_dir(data_dir, _config(data_dir), workers=0, **RUN)
    append_records(data_dir, [ManifestRecord(domain="site000.example", status=NO_LOGO, reason="none_found")])
    from common.manifest import read_manifest

    kept = [r for r in read_manifest(data_dir.manifest).records.values() if r.domain != "site004.example"]
    rewrite_manifest(data_dir.manifest, kept)  # site004 vanishes from the manifest entirely
    summary = index_data_dir(data_dir, _config(data_dir), workers=0, **RUN)
    assert summary.pruned == 0 and len(_stored(data_dir)) == 5
    summary = index_data_dir(data_dir, _config(data_dir), workers=0, prune=True, **RUN)
    assert summary.pruned == 2 and summary.unchanged == 3
    assert sorted(_stored(data_dir)) == ["site001.example", "site002.example", "site003.example"]


@pytest.mark.parametrize("workers", [0, 1])
def test_a_bad_file_never_shifts_another_domains_vector(tmp_path, embedder, workers) -> None:
    data_dir, _ = make_data_dir(tmp_path, 7)
    truncated = data_dir.logo_path("site003.example")
    data = png_bytes(draw_logo(3, size=(300, 200)))
    truncated.write_bytes(data[: len(data) // 2])  # the middle of the middle batch
    data_dir.logo_path("site004.example").write_bytes(b"<html>oops</html>")
    data_dir.logo_path("site001.example").unlink()  # vanished after the crawl
    # workers=1 also runs the GPU's arrangement: upserts in a writer thread beside the model
    summary = index_data_dir(data_dir, _config(data_dir), workers=workers, overlap=workers > 0, **RUN)
    assert summary.indexed == 4 and summary.failed == 3
    assert summary.failures["site001.example"] == "file_missing"
    assert summary.failures["site004.example"] == "not_an_image"
    assert summary.failures["site003.example"].startswith("decode_failed")
    assert summary.reasons == {"file_missing": 1, "not_an_image": 1, "decode_failed": 1}
    stored = _stored(data_dir)
    assert sorted(stored) == ["site000.example", "site002.example", "site005.example", "site006.example"]
    own = {domain: _alone(embedder, data_dir, domain) for domain in stored}
    for domain, point in stored.items():
        assert np.allclose(point.vector, own[domain], atol=1e-5), domain
        for other in own:  # the check above could not pass for a shifted vector
            assert other == domain or not np.allclose(point.vector, own[other], atol=1e-5)


def test_missing_or_empty_manifest_stops_the_run(tmp_path) -> None:
    data_dir = DataDir(tmp_path).ensure()
    with pytest.raises(ManifestError, match="no manifest"):
        index_data_dir(data_dir, _config(data_dir), **RUN)
    data_dir.manifest.write_text("\n")
    with pytest.raises(ManifestError, match="holds no records"):
        index_data_dir(data_dir, _config(data_dir), **RUN)


def test_bad_manifest_line_is_reported_not_fatal(tmp_path) -> None:
    data_dir, _ = make_data_dir(tmp_path, 2)
    with data_dir.manifest.open("a") as handle:
        handle.write('{"domain": "torn.example", "sta\n')
    append_records(data_dir, [write_logo(data_dir, "late.example", draw_logo(42))])
    summary = index_data_dir(data_dir, _config(data_dir), workers=0, **RUN)
    assert summary.indexed == 3 and summary.reasons == {"bad_manifest_line": 1}
    assert [number for number, _ in summary.bad_lines] == [3]


def test_the_index_stage_holds_the_data_folder_lock(tmp_path) -> None:
    data_dir, _ = make_data_dir(tmp_path, 1)
    holder = textwrap.dedent(f"""
        import sys, time
        from common.datadir import DataDir
        with DataDir.at({str(tmp_path)!r}).locked():
            print("locked", flush=True)
            sys.stdin.read()
    """)
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen([sys.executable, "-c", holder], cwd=root, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "locked"
        with pytest.raises(DataDirLocked):  # the stage takes the lock (pipeline.stages), the runner runs inside it
            stages.index(Config(data_dir=data_dir.root), stages.IndexOptions(weights="random", device="cpu"))
    finally:
        process.communicate("")
    assert not data_dir.qdrant.exists()  # nothing was touched while locked out


@pytest.mark.parametrize("overlap", [True, False])
def test_a_store_that_fails_mid_run_stops_it_with_the_stores_error_and_loses_nothing(tmp_path, monkeypatch,
                                                                                      overlap) -> None:
    """Upserts run in a writer thread beside the model (GPU default): its error must still stop the run."""
    from common.errors import StoreError

    data_dir, logos = make_data_dir(tmp_path, 8)  # batches of 3: 3 + 3 + 2
    real_upsert, calls = LogoStore.upsert, []

    def failing_second_upsert(self, items):
        calls.append(len(items))
        if len(calls) == 2:
            raise StoreError("the Qdrant server went away")
        return real_upsert(self, items)

    monkeypatch.setattr(LogoStore, "upsert", failing_second_upsert)
    with pytest.raises(StoreError, match="went away"):
        index_data_dir(data_dir, _config(data_dir), workers=0, overlap=overlap, **RUN)
    assert len(_stored(data_dir)) == 3 and len(calls) == 2  # the first batch is kept; nothing after the failure
    monkeypatch.setattr(LogoStore, "upsert", real_upsert)
    again = index_data_dir(data_dir, _config(data_dir), workers=0, **RUN)
    assert (again.indexed, again.unchanged) == (5, 3) and sorted(_stored(data_dir)) == sorted(logos)


def test_loader_workers_fit_the_shared_memory_they_hand_batches_through() -> None:
    from indexer.runner import fit_workers

    batch = 256 * 3 * 224 * 224  # bytes of one GPU batch of uint8 pixels
    assert fit_workers(15, 256, 64 * 2**20) == 0  # docker's default 64 MB /dev/shm: no room for one worker
    assert fit_workers(15, 256, 10 * 4 * batch) == 10
    assert fit_workers(15, 256, 2**40) == 15 and fit_workers(15, 256, None) == 15  # unknown: as asked
    assert fit_workers(0, 256, 0) == 0
