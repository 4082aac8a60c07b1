"""Many crawl workers on one shared Redis frontier (crawler/frontier.py, crawler/frontier_worker.py,
pipeline/merge.py): a real redis-server on a free loopback port, the real spider on the fixture web."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from common.datadir import DataDir, update_state
from common.domains import read_domains
from common.errors import LogosimError
from common.manifest import ManifestRecord, ManifestWriter, read_manifest
from crawler.frontier import Frontier, FrontierUnreachable
from fixtureweb.redisserver import RedisServer, free_port
from fixtureweb.web import FixtureWeb, mismatches
from pipeline.merge import merge_folders

ROOT = Path(__file__).resolve().parents[1]
# The test's crawl: the 1,000 sites of every kind in broad-crawl proportions (this file: ~66 s on
# the idle 2-core machine, 2026-12-01). Few concurrent requests per worker, so
# that the three workers share the list and one can be killed mid-crawl; 5 s leases, so its domains come
# back quickly.
SITES = 1000
WORKER = ["-s", "DOWNLOAD_TIMEOUT=3", "-s", "LOGOSIM_RETRY_AFTER_MAX=1", "-s", "LOG_LEVEL=INFO",
          "-s", "CONCURRENT_REQUESTS=12", "-s", "LOGOSIM_FRONTIER_LEASE=5", "-s", "LOGOSIM_FRONTIER_BATCH=4"]


@pytest.fixture
def frontier_url(redis_server, request):
    """A fresh database per test (16 of them; the test's index picks one)."""
    db = abs(hash(request.node.name)) % 15 + 1
    url = redis_server.url(db)
    Frontier.connect(url).server.flushdb()
    return url


@pytest.fixture(scope="module")
def web():
    with FixtureWeb(sites=SITES, seed=5) as fixture:
        yield fixture


def _worker(web: FixtureWeb, data: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, **web.proxy_env(), "LOGOSIM_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    env.pop("LOGOSIM_FRONTIER", None)
    cmd = [sys.executable, "-m", "scrapy.cmdline", "crawl", "logos", *WORKER, *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _lines(data: Path) -> int:
    path = data / "manifest.jsonl"
    return len(path.read_bytes().splitlines()) if path.exists() else 0


# -- the frontier alone ----------------------------------------------------------------------------------
def test_load_is_idempotent_and_skips_done_domains(frontier_url):
    frontier = Frontier.connect(frontier_url)
    frontier.mark_known_done({"done.example": "ok"})
    assert frontier.load(["a.example", "b.example", "done.example", "a.example"]) == 2
    assert frontier.load(["b.example", "c.example"]) == 1
    assert frontier.remaining() == (3, 0)
    assert sorted(frontier.take("w1", 10, lease=30)) == ["a.example", "b.example", "c.example"]
    assert frontier.remaining() == (0, 3)


def test_an_expired_lease_goes_back_and_the_first_finish_wins(frontier_url):
    frontier = Frontier.connect(frontier_url)
    frontier.load(["a.example", "b.example"])
    assert frontier.take("dead", 1, lease=0.3) == ["a.example"]
    assert frontier.take("alive", 1, lease=30) == ["b.example"]
    frontier.renew(["b.example"], lease=30)
    time.sleep(0.4)
    assert frontier.take("alive", 5, lease=30) == ["a.example"]  # dead's lease expired; b's was renewed
    assert frontier.finish("a.example", "ok", "alive") is True
    assert frontier.finish("a.example", "ok", "dead") is False  # a late second completion is not counted
    assert frontier.take("other", 5, lease=30) == []
    status = frontier.status()
    assert (status.queued, status.in_flight, status.done) == (0, 1, 1)
    assert status.counts == {"ok": 1, "duplicate": 1}


def test_a_committed_domain_is_never_leased_again_and_a_stale_owner_is_refused(frontier_url):
    frontier = Frontier.connect(frontier_url)
    frontier.load(["a.example", "b.example"])
    assert frontier.take("w1", 2, lease=0.2) == ["a.example", "b.example"]
    assert frontier.commit("a.example", "w1") is True  # a's record is being written
    time.sleep(0.3)  # both leases expire; w1 is killed before it finishes a (it never calls finish)
    assert frontier.take("w2", 5, lease=30) == ["b.example"]  # b's lease came back, a (committing) did not
    assert frontier.commit("b.example", "w1") is False  # w1 lost b to w2: it must drop its result
    assert frontier.commit("b.example", "w2") is True and frontier.finish("b.example", "ok", "w2") is True
    status = frontier.status()
    assert (status.queued, status.in_flight, status.committing, status.done) == (0, 1, 1, 1)
    assert frontier.remaining() == (0, 1)  # a worker waits for a committing domain: it may come back


@pytest.mark.parametrize("recorded", [True, False])
def test_a_restarted_worker_reconciles_its_committing_domains(frontier_url, recorded):
    frontier = Frontier.connect(frontier_url)
    frontier.load(["a.example", "b.example", "c.example"])
    assert frontier.take("w1", 2, lease=30) == ["a.example", "b.example"]
    assert frontier.commit("a.example", "w1")  # then killed: a committing (its record written or not), b leased
    folder = {"a.example": "no_logo"} if recorded else {}
    assert frontier.reconcile("w1", folder) == ((1, 1) if recorded else (0, 2))
    status = frontier.status()
    assert (status.in_flight, status.committing) == (0, 0)
    if recorded:  # done with the folder's status; b (a lease of the killed process) back at the queue's head
        assert status.done == 1 and status.counts == {"no_logo": 1}
        assert frontier.take("w2", 5, lease=30) == ["b.example", "c.example"]
    else:  # both back at the head, nothing done twice
        assert status.done == 0
        assert sorted(frontier.take("w2", 5, lease=30)[:2]) == ["a.example", "b.example"]
    assert frontier.reconcile("w1", folder) == (0, 0)  # w2's leases are not w1's to give back


def test_a_committing_domain_of_a_gone_worker_returns_after_the_grace(frontier_url):
    frontier = Frontier.connect(frontier_url)
    frontier.load(["a.example"])
    assert frontier.take("gone", 1, lease=30) == ["a.example"] and frontier.commit("a.example", "gone")
    assert frontier.take("w2", 5, lease=30, grace=0.3) == []  # within the grace: it may still come back
    time.sleep(0.4)
    assert frontier.take("w2", 5, lease=30, grace=0.3) == ["a.example"]
    assert frontier.commit("a.example", "gone") is False  # too late for the gone worker
    assert frontier.commit("a.example", "w2") and frontier.finish("a.example", "ok", "w2")
    assert frontier.status().counts == {"ok": 1}


def test_an_unreachable_frontier_is_one_line_within_seconds(tmp_path):
    from cli import app

    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    start = time.monotonic()
    with pytest.raises(FrontierUnreachable, match="not reachable"):
        Frontier.connect(url)
    result = CliRunner().invoke(app, ["crawl", "--frontier", url, "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "not reachable" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert time.monotonic() - start < 15


def test_a_worker_refuses_a_frontier_without_a_list(web, frontier_url, tmp_path):
    worker = _worker(web, tmp_path / "w", "-s", f"LOGOSIM_FRONTIER={frontier_url}")
    _, stderr = worker.communicate(timeout=60)
    assert "holds no list yet" in stderr and "'finish_reason': 'frontier_unreachable'" in stderr
    assert worker.returncode == 1


def test_merge_refuses_folders_of_other_frontiers(tmp_path):
    for name, frontier_id in (("a", "f1"), ("b", "f2"), ("c", None)):
        data = DataDir.at(tmp_path / name).ensure()
        with ManifestWriter(data.manifest) as writer:
            writer.write(ManifestRecord(f"{name}.example", "failed", "timeout"))
        if frontier_id:
            update_state(data, "frontier", id=frontier_id)
    with pytest.raises(LogosimError, match="not from one frontier"):
        merge_folders([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    with pytest.raises(LogosimError, match="not a frontier worker's folder"):
        merge_folders([tmp_path / "a", tmp_path / "c"], tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.jsonl").exists()


# -- three workers, one killed, through the real spider --------------------------------------------------
@pytest.fixture(scope="module")
def single(web, tmp_path_factory):
    """What a single-process crawl picks for the same web."""
    data = tmp_path_factory.mktemp("single")
    domains = web.write_domains(data.parent / "single-domains.txt")
    env = {**os.environ, **web.proxy_env(), "LOGOSIM_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    env.pop("LOGOSIM_FRONTIER", None)
    result = subprocess.run([sys.executable, "-m", "scrapy.cmdline", "crawl", "logos", "-a", f"domains={domains}",
                             "-s", "DOWNLOAD_TIMEOUT=3", "-s", "LOGOSIM_RETRY_AFTER_MAX=1"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return read_manifest(data / "manifest.jsonl").records


def test_three_workers_one_killed_lose_nothing(web, single, frontier_url, tmp_path):
    domains = web.write_domains(tmp_path / "domains.txt")
    folders = [tmp_path / f"w{i}" for i in (1, 2, 3)]
    frontier = ["-s", f"LOGOSIM_FRONTIER={frontier_url}"]
    # Queued first (what a worker started with the file does at once, before its slow start-up is over), so
    # that the three start together; the first worker is given the file again: nothing more is queued.
    assert Frontier.connect(frontier_url).load(read_domains(domains).domains) == SITES
    workers = [_worker(web, folders[0], "-a", f"domains={domains}", *frontier)]
    workers += [_worker(web, folder, *frontier) for folder in folders[1:]]
    # The victim: the first worker to have written 5 records (start-ups differ by seconds on a loaded machine,
    # so which one is not known in advance); it holds leases and is writing when it is killed.
    deadline, victim = time.monotonic() + 90, None
    while victim is None and time.monotonic() < deadline:
        victim = next((i for i, folder in enumerate(folders) if _lines(folder) >= 5 and workers[i].poll() is None), None)
        time.sleep(0.02)
    assert victim is not None, "no worker was caught mid-crawl"
    os.kill(workers[victim].pid, signal.SIGKILL)  # mid-crawl: it holds leases and perhaps a half-written file
    workers[victim].wait()
    assert Frontier.connect(frontier_url).status().done < SITES, "the crawl was over before the kill"
    workers.append(_worker(web, folders[victim], *frontier))  # its replacement, on the same machine and folder
    for worker in (w for i, w in enumerate(workers) if i != victim):
        _, stderr = worker.communicate(timeout=150)
        assert worker.returncode == 0, stderr[-3000:]

    from cli import app

    shown = CliRunner().invoke(app, ["status", "--frontier", frontier_url, "--json"])
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.stdout)
    assert (status["queued"], status["in_flight"], status["done"]) == (0, 0, SITES)
    # The replacement is the same worker (the folder's identity in state.json): three workers.
    assert status["ok"] + status["no_logo"] + status["failed"] == SITES and len(status["workers"]) == 3
    assert status["committing"] == 0
    out = tmp_path / "merged"
    merged_run = CliRunner().invoke(app, ["merge", *map(str, folders), "--data-dir", str(out), "--json"])
    assert merged_run.exit_code == 0, merged_run.output
    summary = json.loads(merged_run.stdout)
    lines = [json.loads(line)["domain"] for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(lines) == sorted(web.truth)  # every domain, exactly once
    merged = read_manifest(out / "manifest.jsonl").records
    assert mismatches(web.truth, merged) == []
    # The same logos as one process picks. On a loaded machine the single crawl (3 s timeouts) can lose a
    # slow site that the workers got (seen at load 3): then the comparison is over the sites it crawled right.
    right = set(web.truth) - {line.split(" ", 1)[0] for line in mismatches(web.truth, single)}
    assert len(right) >= 0.98 * SITES, mismatches(web.truth, single)[:5]
    assert ({d: (merged[d].status, merged[d].sha256) for d in right}
            == {d: (single[d].status, single[d].sha256) for d in right})
    # No domain completed twice, before the merge: a record is written only after its commit (refused to a worker
    # whose lease expired), and the killed worker's committing domains were reconciled by its replacement.
    holders: dict[str, list[str]] = {}
    for folder in folders:
        for domain in read_manifest(folder / "manifest.jsonl").records:
            holders.setdefault(domain, []).append(folder.name)
    twice = {domain: names for domain, names in holders.items() if len(names) > 1}
    assert twice == {} and summary["duplicates"] == 0 and status["duplicate"] == 0, (victim, twice, status)
    assert sum(_lines(folder) for folder in folders) >= SITES
    logos = sorted(p.name for p in (out / "logos").iterdir())
    assert logos == sorted(f"{d}.png" for d, r in merged.items() if r.status == "ok")
    assert [p for folder in (*folders, out) for p in folder.rglob("*.tmp")] == []


def _logosim_crawl(web: FixtureWeb, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, **web.proxy_env(), "PYTHONPATH": str(ROOT)}
    env.pop("LOGOSIM_FRONTIER", None)
    cmd = [sys.executable, "-c", "from cli import app; app()", "crawl", *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_redis_dying_mid_crawl_is_one_line_and_exit_1_and_an_empty_restart_is_refused(web, tmp_path):
    """Redis killed under a working `logosim crawl`: exit 1 within seconds, one line, the records written stay;
    a Redis that comes back empty (no persistence) is refused by that folder instead of starting over."""
    domains, data = web.write_domains(tmp_path / "domains.txt"), tmp_path / "w"
    with RedisServer() as redis_server:
        worker = _logosim_crawl(web, str(domains), "--frontier", redis_server.url(0), "--data-dir", str(data))
        deadline = time.monotonic() + 90
        while _lines(data) < 5 and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert worker.poll() is None, worker.communicate()
        assert redis_server.process is not None
        os.kill(redis_server.process.pid, signal.SIGKILL)
        killed = time.monotonic()
        stdout, stderr = worker.communicate(timeout=60)
        stopped = time.monotonic() - killed
    assert worker.returncode == 1 and stdout == "", (worker.returncode, stdout, stderr[-3000:])
    # The crawl's own log (WARNING and up) comes before; the error is its last line, and said once.
    lines = stderr.strip().splitlines()
    assert "lost mid-crawl" in lines[-1] and sum("lost mid-crawl" in line for line in lines) == 1, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert stopped < 15, stopped  # 3.0-3.1 s (2026-12-01): the connection's retries (1.4 s), then the close
    read = read_manifest(data / "manifest.jsonl")
    assert read.bad_lines == [] and 5 <= len(read.records) == _lines(data) < SITES
    assert mismatches({d: web.truth[d] for d in read.records}, read.records) == []
    assert all((data / str(r.logo_path)).is_file() for r in read.records.values() if r.status == "ok")
    assert list(data.rglob("*.tmp")) == []
    with RedisServer() as empty:  # Redis back without its data: the folder's frontier id is not there
        again = _logosim_crawl(web, str(domains), "--frontier", empty.url(0), "--data-dir", str(data))
        stdout, stderr = again.communicate(timeout=60)
        assert again.returncode == 1 and "Redis lost its data" in stderr.strip().splitlines()[-1], stderr[-3000:]
        assert sum("Redis lost its data" in line for line in stderr.splitlines()) == 1, stderr[-3000:]
        assert Frontier.connect(empty.url(0)).server.keys() == []  # nothing was queued on the empty one


def test_logosim_crawl_loads_the_file_once_and_a_second_worker_finds_it_done(frontier_url, tmp_path):
    """`logosim crawl FILE --frontier URL`, then `logosim crawl --frontier URL` elsewhere: nothing is left."""
    with FixtureWeb(sites=20, seed=2, kinds=["header_png", "jsonld_org", "no_logo", "dead"]) as small:
        domains = small.write_domains(tmp_path / "domains.txt")
        env = {**os.environ, **small.proxy_env(), "PYTHONPATH": str(ROOT)}
        env.pop("LOGOSIM_FRONTIER", None)

        def logosim(*args: str) -> dict:
            cmd = [sys.executable, "-c", "from cli import app; app()", "crawl", *args, "--frontier", frontier_url,
                   "--json"]
            result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stderr[-3000:]
            return json.loads(result.stdout)

        first = logosim(str(domains), "--data-dir", str(tmp_path / "a"))
        second = logosim("--data-dir", str(tmp_path / "b"))
        again = logosim(str(domains), "--data-dir", str(tmp_path / "a"))  # the file again: nothing re-queued
    assert first["total"] == len(small.truth) and second["total"] == 0 and again["total"] == len(small.truth)
    assert mismatches(small.truth, read_manifest(tmp_path / "a" / "manifest.jsonl").records) == []
    assert Frontier.connect(frontier_url).status().done == len(small.truth)
