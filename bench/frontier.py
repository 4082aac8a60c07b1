"""Shared-frontier benchmark: N crawl workers on one Redis frontier over the generated web (domains/s), and the
frontier's own cost per domain (Redis time and memory).

    .venv/bin/python bench/frontier.py [--workers 1 2] [--sites 1000] [--seed 11] [--synthetic 100000]

Each worker is a `scrapy crawl logos -s LOGOSIM_FRONTIER=...` process with its own data folder (as on separate
machines); the folders are merged afterwards and checked against the web's truth. The frontier's cost is
measured apart, in this process, on synthetic domains: load, take (batches of LOGOSIM_FRONTIER_BATCH), commit
and finish each one, and Redis's used_memory after loading and after finishing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from crawl import steady_rate  # noqa: E402

from common.domains import read_domains  # noqa: E402
from common.manifest import read_manifest  # noqa: E402
from crawler.frontier import Frontier  # noqa: E402
from fixtureweb.redisserver import RedisServer  # noqa: E402
from fixtureweb.web import FixtureWeb, mismatches  # noqa: E402
from pipeline.merge import merge_folders  # noqa: E402


def crawl(web: FixtureWeb, url: str, domains: Path, workers: int, tmp: Path) -> None:
    frontier = Frontier.connect(url)
    frontier.server.flushdb()
    frontier.load(read_domains(domains).domains)
    folders = [tmp / f"w{workers}-{i}" for i in range(workers)]
    env = {**os.environ, **web.proxy_env(), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "scrapy.cmdline", "crawl", "logos", "-s", f"LOGOSIM_FRONTIER={url}",
           "-s", "LOG_LEVEL=WARNING"]
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, cwd=ROOT, env={**env, "LOGOSIM_DATA_DIR": str(folder)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for folder in folders]
    for proc in procs:
        _, stderr = proc.communicate()
        if proc.returncode != 0:
            sys.exit(stderr[-3000:])
    seconds = time.perf_counter() - start
    summary = merge_folders(folders, tmp / f"merged-{workers}")
    records = read_manifest(tmp / f"merged-{workers}" / "manifest.jsonl").records
    wrong = mismatches(web.truth, records)
    print(f"workers {workers}: {len(web.truth)} sites in {seconds:.1f} s = {len(web.truth) / seconds:.1f} domains/s "
          f"(start-up and tail included); steady {steady_rate(records):.1f} domains/s; "
          f"merged {summary.domains} domains ({summary.duplicates} recorded twice), outcome == truth "
          f"{len(web.truth) - len(wrong)}/{len(web.truth)}; per worker {sorted(summary.by_folder.values())}")


def frontier_cost(url: str, count: int, batch: int = 16) -> None:
    frontier = Frontier.connect(url)
    frontier.server.flushdb()
    base = int(frontier.server.info("memory")["used_memory"])
    domains = [f"site-{i:07d}-example.com" for i in range(count)]
    start = time.perf_counter()
    frontier.load(domains)
    loaded = time.perf_counter()
    queued = int(frontier.server.info("memory")["used_memory"]) - base
    done, committing = 0, 0.0
    while True:
        taken = frontier.take("bench", batch, lease=60)
        if not taken:
            break
        frontier.renew(taken, lease=60)
        for domain in taken:
            before = time.perf_counter()
            assert frontier.commit(domain, "bench")
            committing += time.perf_counter() - before
            done += frontier.finish(domain, "ok", "bench")
    finished = time.perf_counter()
    after = int(frontier.server.info("memory")["used_memory"]) - base
    assert done == count
    per_load = (loaded - start) / count * 1e6
    per_rest = (finished - loaded) / count * 1e6
    print(f"frontier cost ({count} synthetic domains, batches of {batch}): load {per_load:.1f} us, "
          f"take+renew+commit+finish {per_rest:.1f} us per domain, of which commit {committing / count * 1e6:.1f} us "
          f"(one client, loopback); Redis memory "
          f"{queued / count:.0f} B/domain queued, {after / count:.0f} B/domain done "
          f"= {queued / count:.0f} / {after / count:.0f} MB per million domains")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--synthetic", type=int, default=100_000)
    args = parser.parse_args()
    with RedisServer() as server, tempfile.TemporaryDirectory() as tmp:
        frontier_cost(server.url(1), args.synthetic)
        with FixtureWeb(sites=args.sites, seed=args.seed) as web:
            domains = web.write_domains(Path(tmp) / "domains.txt")
            for workers in args.workers:
                crawl(web, server.url(0), domains, workers, Path(tmp))


if __name__ == "__main__":
    main()
