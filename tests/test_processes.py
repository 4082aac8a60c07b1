"""One crawl over several processes of one machine (crawler.processes): one manifest with exactly one record
per domain, one progress stream, one lock, and a kill -9 of the command that leaves nothing running and
nothing lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from test_reliability import alive, assert_consistent, children, manifest_lines, wait_for

from common.datadir import DataDir
from common.manifest import read_manifest
from crawler.processes import MIN_DOMAINS_PER_PROCESS, processes_for, shard_of
from crawler.runner import run_crawl
from fixtureweb.sites import PLACEMENT_KINDS
from fixtureweb.web import FixtureWeb

ROOT = Path(__file__).resolve().parents[1]
# Enough sites for two processes (crawler.processes.MIN_DOMAINS_PER_PROCESS each), of the kinds that answer fast.
KINDS = [kind for kind in PLACEMENT_KINDS if kind != "header_svg"] + ["no_logo", "http404", "dead"]
SITES = 2 * MIN_DOMAINS_PER_PROCESS + 40


def test_shards_are_stable_across_processes_and_even() -> None:
    domains = [f"site{i}.example" for i in range(8000)]
    counts = Counter(shard_of(domain, 4) for domain in domains)
    assert set(counts) == {0, 1, 2, 3} and all(1800 <= count <= 2200 for count in counts.values()), counts
    # The same shard in another interpreter (hash() is salted per process; the shard must not be).
    code = "from crawler.processes import shard_of; print([shard_of(f'site{i}.example', 4) for i in range(50)])"
    other = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": "123"}, check=True)
    assert json.loads(other.stdout) == [shard_of(f"site{i}.example", 4) for i in range(50)]


def test_a_short_list_keeps_one_process() -> None:
    assert processes_for(MIN_DOMAINS_PER_PROCESS - 1, 16) == 1
    assert processes_for(2 * MIN_DOMAINS_PER_PROCESS, 16) == 2
    assert processes_for(10**6, 2) == 2
    assert processes_for(10**6, 1) == 1


def test_two_processes_write_one_manifest_with_one_record_per_domain(tmp_path: Path) -> None:
    with FixtureWeb(sites=SITES, seed=9, kinds=KINDS) as web:
        domains = web.write_domains(tmp_path / "domains.csv")
        data = DataDir(tmp_path / "data")
        seen = []
        settings = {"LOGOSIM_PROXY": web.proxy_env()["http_proxy"], "LOG_LEVEL": "WARNING"}
        with data.locked("crawl"):  # as logosim's stage holds it: the processes run inside it
            summary = run_crawl(domains, data, settings=settings, processes=2, on_record=seen.append)
    assert summary.processes == 2
    assert summary.total == len(web.truth) and summary.ok + summary.no_logo + summary.failed == len(web.truth)
    # One progress stream: every record of every process, each once.
    assert Counter(record.domain for record in seen) == Counter(set(web.truth))
    assert_consistent(data.root, set(web.truth))
    records = read_manifest(data.manifest).records
    for domain, truth in web.truth.items():
        assert records[domain].status == truth.status, domain
        if truth.status == "ok":
            assert truth.matches(records[domain].logo_url), domain
    assert not (data.root / ".shards").exists()


def test_kill_9_of_a_crawl_over_two_processes_then_rerun(tmp_path: Path) -> None:
    with FixtureWeb(sites=SITES, seed=10, kinds=KINDS) as web:
        domains = web.write_domains(tmp_path / "domains.csv")
        data = tmp_path / "data"
        command = [sys.executable, "cli.py", "crawl", str(domains), "-d", str(data), "--processes", "2", "--json"]
        env = {**os.environ, **web.proxy_env()}
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert wait_for(lambda: manifest_lines(data / "manifest.jsonl") >= 40, 120)
            crawlers = children(proc.pid)
            workers = [pid for crawler in crawlers for pid in children(crawler)]
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert len(crawlers) == 2, "two crawl processes"
        assert workers, "each crawl process converts logos in a worker process"
        assert wait_for(lambda: not any(alive(pid) for pid in crawlers + workers), 10), \
            "a crawl process or its worker outlived the command"
        killed_at = len(read_manifest(data / "manifest.jsonl").records)
        assert 40 <= killed_at < len(web.truth), "the kill must land mid-crawl"
        rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
    report = json.loads(rerun.stdout)
    assert report["skipped"] == killed_at and report["total"] == len(web.truth)
    assert_consistent(data, set(web.truth))
    records = read_manifest(data / "manifest.jsonl").records
    for domain, truth in web.truth.items():
        assert records[domain].status == truth.status, domain
