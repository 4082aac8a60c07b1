"""Nothing lost or duplicated when a run is killed with SIGKILL mid-way and then run again."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from common.manifest import read_manifest
from fixtureweb.sites import PLACEMENT_KINDS
from fixtureweb.web import FixtureWeb
from indexer.model import Embedder
from indexer.preprocess import load_logo
from indexer.store import LogoStore, StoreConfig
from indexer.synthetic import make_data_dir

ROOT = Path(__file__).resolve().parents[1]


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def bytes_under(folder: Path) -> int:
    """The size of the files under ``folder`` now, while another process writes there: a file or a folder
    removed during the walk (Qdrant Edge's atomic writes rename and drop their temporaries) counts nothing,
    where rglob and stat raised FileNotFoundError."""
    total = 0
    for parent, _folders, files in os.walk(folder):  # os.walk skips a folder that vanished under it
        for name in files:
            try:
                total += os.stat(os.path.join(parent, name)).st_size
            except FileNotFoundError:
                continue
    return total


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """Running, i.e. neither gone nor a zombie waiting to be reaped."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def manifest_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def assert_consistent(data: Path, domains: set[str]) -> None:
    """Each domain exactly once in the manifest, every ok logo a whole PNG with the recorded hash, no temp files."""
    lines = [json.loads(line) for line in (data / "manifest.jsonl").read_text().splitlines() if line.strip()]
    counts = Counter(record["domain"] for record in lines)
    assert set(counts) == domains and set(counts.values()) == {1}
    for record in lines:
        if record["status"] == "ok":
            png = (data / record["logo_path"]).read_bytes()
            assert hashlib.sha256(png).hexdigest() == record["sha256"]
            Image.open(data / record["logo_path"]).load()
    assert not [p for p in data.rglob("*.tmp")], "a killed writer's temporary file was left behind"


def test_kill_9_during_a_crawl_then_rerun(tmp_path) -> None:
    kinds = [kind for kind in PLACEMENT_KINDS if kind != "header_svg"] + ["no_logo", "http404"]
    with FixtureWeb(sites=150, seed=5, kinds=kinds) as web:
        domains = web.write_domains(tmp_path / "domains.csv")
        data = tmp_path / "data"
        env = {**os.environ, **web.proxy_env(), "LOGOSIM_DATA_DIR": str(data)}
        command = [sys.executable, "-m", "scrapy.cmdline", "crawl", "logos", "-a", f"domains={domains}",
                   "-s", "CONCURRENT_REQUESTS=4", "-s", "LOG_LEVEL=WARNING"]
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert wait_for(lambda: manifest_lines(data / "manifest.jsonl") >= 25, 120)
            workers = children(proc.pid)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert workers, "the crawler converts logos in a worker process"
        assert wait_for(lambda: not any(alive(pid) for pid in workers), 10), "an orphaned worker outlived the crawl"
        killed_at = len(read_manifest(data / "manifest.jsonl").records)
        assert 25 <= killed_at < len(web.truth), "the kill must land mid-crawl"
        rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert_consistent(data, set(web.truth))
    for domain, truth in web.truth.items():
        assert read_manifest(data / "manifest.jsonl").records[domain].status == truth.status


def test_kill_9_during_an_index_then_rerun(tmp_path) -> None:
    data_dir, _ = make_data_dir(tmp_path / "data", count=48, seed=3)
    command = [sys.executable, str(ROOT / "cli.py"), "index", "--data-dir", str(data_dir.root), "--weights", "random",
               "--batch-size", "4", "--json"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    edge = data_dir.root / "qdrant"
    # Kill once the store has received data, i.e. mid-run, whatever this machine's speed. Qdrant Edge
    # preallocates ~100 MB when the collection is created; its first upsert adds a segment beyond that.
    wait_for(lambda: bytes_under(edge) > 120_000_000, 120)
    assert proc.poll() is None, "the kill must land mid-run"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    summary = json.loads(rerun.stdout)
    records = read_manifest(data_dir.manifest).records
    assert summary["indexed"] + summary["unchanged"] == len(records) and summary["failed"] == 0
    assert 0 < summary["unchanged"] < len(records), summary  # the killed run's batches were kept, not redone
    with LogoStore(StoreConfig.resolve(data_dir.root)) as store:
        assert store.count() == len(records)
        stored = store.get(sorted(records), with_vectors=True)
    assert set(stored) == set(records)
    # Keyed by domain: each stored vector is its own logo's embedding, however the run was interrupted.
    embedder = Embedder(weights="random", device="cpu")
    sample = sorted(records)[::8]
    alone = embedder.embed_images([load_logo(data_dir.root / records[d].logo_path) for d in sample])
    for domain, vector in zip(sample, alone, strict=True):
        assert float(np.dot(stored[domain].vector, vector)) > 0.999
