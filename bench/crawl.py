"""Crawl benchmark: the real spider over a generated web of 2,000 sites on 127.0.0.1 (speed, found %, right logo %, RSS).

    .venv/bin/python bench/crawl.py [--sites 2000] [--seed 11] [-s SETTING=VALUE ...]

Targets on a 2-core machine: >= 40 domains/s, peak crawler RSS < 1 GiB, right logo >= 97 % of the sites that
have one. The web mixes every site kind (dead, slow, huge, broken logos, ...) in broad-crawl proportions.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.manifest import read_manifest  # noqa: E402
from fixtureweb.web import FixtureWeb, mismatches  # noqa: E402


def crawl(web: FixtureWeb, data: Path, domains: Path, settings: list[str]) -> tuple[float, float, str]:
    """Seconds, peak RSS (MiB) of the crawler process, and its log."""
    env = {**os.environ, **web.proxy_env(), "LOGOSIM_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "scrapy.cmdline", "crawl", "logos", "-a", f"domains={domains}"]
    for setting in settings:
        cmd += ["-s", setting]
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(result.stderr[-3000:])
    # The fixture server is a child too, but it is still running: only the finished crawler is counted.
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, peak_mib, result.stderr


def report(web: FixtureWeb, data: Path, seconds: float, peak_mib: float) -> None:
    records = read_manifest(data / "manifest.jsonl").records
    truth = web.truth
    have_logo = [d for d, t in truth.items() if t.status == "ok"]
    found = sum(records[d].status == "ok" for d in truth if d in records)
    right = sum(d in records and truth[d].matches(records[d].logo_url) for d in have_logo)
    wrong = mismatches(truth, records)
    print(f"sites               {len(truth)}")
    print(f"crawl time          {seconds:.1f} s  ({len(truth) / seconds:.1f} domains/s, start-up and tail included)")
    print(f"steady rate         {steady_rate(records):.1f} domains/s  (5th to 95th percentile of completions)")
    print(f"found               {found} ({100 * found / len(truth):.1f} % of all sites)")
    print(f"right logo          {right}/{len(have_logo)} ({100 * right / len(have_logo):.1f} % of sites with a logo)")
    print(f"outcome == truth    {len(truth) - len(wrong)}/{len(truth)}")
    print(f"peak crawler RSS    {peak_mib:.0f} MiB")
    for line in wrong[:15]:
        print("  mismatch:", line)


def steady_rate(records: dict) -> float:
    """What a long crawl sustains: a 2,000-site run ends on a fixed tail (the last slow site's timeouts, up
    to DOWNLOAD_TIMEOUT + LOGOSIM_FALLBACK_TIMEOUT) that a million-domain crawl pays once, not per domain."""
    stamps = sorted(datetime.fromisoformat(r.fetched_at).timestamp() for r in records.values() if r.fetched_at)
    if len(stamps) < 20:
        return float("nan")
    low, high = int(0.05 * len(stamps)), int(0.95 * len(stamps))
    return (high - low) / max(stamps[high] - stamps[low], 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("-s", dest="settings", action="append", default=[], help="Scrapy setting NAME=VALUE")
    args = parser.parse_args()
    with FixtureWeb(sites=args.sites, seed=args.seed) as web, tempfile.TemporaryDirectory() as tmp:
        domains = web.write_domains(Path(tmp) / "domains.txt")
        seconds, peak, _ = crawl(web, Path(tmp) / "data", domains, ["LOG_LEVEL=WARNING", *args.settings])
        report(web, Path(tmp) / "data", seconds, peak)


if __name__ == "__main__":
    main()
