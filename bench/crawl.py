"""Crawl benchmark: the real spider over a generated web of 2,000 sites on 127.0.0.1 (speed, found %, right logo %, RSS).

    .venv/bin/python bench/crawl.py [--sites 2000] [--seed 11] [-s SETTING=VALUE ...]
    .venv/bin/python bench/crawl.py --processes 1 2 --baseline /tmp/r1 --seed 23

Without --processes: `scrapy crawl logos` (one process, the settings of -s). With --processes: `logosim crawl
--processes N` for each N. --baseline DIR: first the crawler of another checkout on the same web (e.g. round
one's: `git worktree add /tmp/r1 ff5e160`), so that both are measured in the same run on the same machine.
Each run reports domains/s over the whole run and steady, and the CPU time of all its processes per domain.

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
STARTED_AT = 0.0  # wall clock when the run being reported started
sys.path.insert(0, str(ROOT))

from common.manifest import read_manifest  # noqa: E402
from fixtureweb.web import FixtureWeb, mismatches  # noqa: E402


def crawl(web: FixtureWeb, data: Path, domains: Path, settings: list[str], processes: int | None = None,
          root: Path = ROOT) -> tuple[float, float, float, str]:
    """Seconds, peak RSS (MiB) of the largest crawler process, CPU seconds of all its processes, and its log."""
    env = {**os.environ, **web.proxy_env(), "LOGOSIM_DATA_DIR": str(data), "PYTHONPATH": str(root),
           "LOGOSIM_LOG_LEVEL": "WARNING"}
    if processes is None:
        cmd = [sys.executable, "-m", "scrapy.cmdline", "crawl", "logos", "-a", f"domains={domains}"]
        for setting in settings:
            cmd += ["-s", setting]
    else:
        cmd = [sys.executable, str(root / "cli.py"), "crawl", str(domains), "--processes", str(processes)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    global STARTED_AT
    STARTED_AT = time.time()
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(result.stderr[-3000:])
    # The fixture server is a child too, but it is still running: only the finished crawler is counted (with
    # the processes it waited for: its crawl processes and conversion workers).
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, after.ru_maxrss / 1024, cpu, result.stderr


def report(web: FixtureWeb, data: Path, seconds: float, peak_mib: float, cpu: float) -> None:
    records = read_manifest(data / "manifest.jsonl").records
    truth = web.truth
    have_logo = [d for d, t in truth.items() if t.status == "ok"]
    found = sum(records[d].status == "ok" for d in truth if d in records)
    right = sum(d in records and truth[d].matches(records[d].logo_url) for d in have_logo)
    wrong = mismatches(truth, records)
    print(f"sites               {len(truth)}")
    print(f"crawl time          {seconds:.1f} s  ({len(truth) / seconds:.1f} domains/s, start-up and tail included)")
    print(f"steady rate         {steady_rate(records):.1f} domains/s  (5th to 95th percentile of completions)")
    stamps = sorted(datetime.fromisoformat(r.fetched_at).timestamp() for r in records.values() if r.fetched_at)
    if stamps:
        print(f"records             first {stamps[0] - STARTED_AT:.0f} s, 5th pct {stamps[len(stamps) // 20] - STARTED_AT:.0f} s, "
              f"95th pct {stamps[len(stamps) * 19 // 20] - STARTED_AT:.0f} s, last {stamps[-1] - STARTED_AT:.0f} s "
              f"after the start (stamps in whole seconds)")
    print(f"found               {found} ({100 * found / len(truth):.1f} % of all sites)")
    print(f"right logo          {right}/{len(have_logo)} ({100 * right / len(have_logo):.1f} % of sites with a logo)")
    print(f"outcome == truth    {len(truth) - len(wrong)}/{len(truth)}")
    print(f"CPU                 {1000 * cpu / len(truth):.1f} ms a domain, all processes together")
    print(f"peak crawler RSS    {peak_mib:.0f} MiB (the largest process)")
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
    parser.add_argument("-s", dest="settings", action="append", default=[],
                        help="Scrapy setting NAME=VALUE (scrapy crawl and --baseline only)")
    parser.add_argument("--processes", type=int, nargs="+", default=None,
                        help="logosim crawl --processes N, for each N")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a checkout whose `scrapy crawl logos` runs first on the same web")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every configuration (noisy machines)")
    args = parser.parse_args()
    settings = ["LOG_LEVEL=WARNING", *args.settings]
    with FixtureWeb(sites=args.sites, seed=args.seed) as web, tempfile.TemporaryDirectory() as tmp:
        domains = web.write_domains(Path(tmp) / "domains.txt")
        runs: list[tuple[str, int | None, Path]] = []
        if args.baseline:
            runs.append((f"baseline {args.baseline}", None, args.baseline.resolve()))
        for processes in args.processes or [None]:
            label = "scrapy crawl logos" if processes is None else f"logosim crawl --processes {processes}"
            runs.append((label, processes, ROOT))
        for round_ in range(args.rounds):
            for k, (label, processes, root) in enumerate(runs):
                data = Path(tmp) / f"data-{round_}-{k}"
                print(f"== {label} (round {round_ + 1}, load {os.getloadavg()[0]:.1f})", flush=True)
                served = web.cpu_seconds()
                seconds, peak, cpu, _ = crawl(web, data, domains, settings, processes, root)
                report(web, data, seconds, peak, cpu)
                print(f"fixture server CPU  {1000 * (web.cpu_seconds() - served) / len(web.truth):.1f} ms a domain "
                      f"(the same cores)")


if __name__ == "__main__":
    main()
