"""Browser pass benchmark: a web of script-built sites and ordinary ones, crawled with the pass (auto) and without.

    .venv/bin/python bench/browser.py [--scripted 22] [--ordinary 19] [--seed 31]

Reports per run: wall time, right logo (overall and on the script-built sites), pages rendered, pages/s of the
pass, requests the browser refused, the crawl's peak RSS and Chromium's processes' peak RSS (sampled), and the
fixture server's log of requests that reached a private address (must be empty). Target (issue 22): a 41-site
crawl with the pass under 120 s on a 2-core machine, >= 90 % right on script-built sites.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.manifest import read_manifest  # noqa: E402
from fixtureweb.scripted import SCRIPTED_KINDS  # noqa: E402
from fixtureweb.sites import PLACEMENT_KINDS  # noqa: E402
from fixtureweb.web import FixtureWeb  # noqa: E402


def chromium_rss_mib() -> float:
    """RSS of every Chromium process now (Linux /proc), MiB."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if re.search(r"^Name:\s*(chrom|headless)", text, re.M) and (m := re.search(r"^VmRSS:\s*(\d+)", text, re.M)):
            total += int(m.group(1))
    return total / 1024


def run(web: FixtureWeb, tmp: Path, mode: str, canary: Path) -> None:
    domains = web.write_domains(tmp / "domains.csv")
    env = {**os.environ, **web.proxy_env(), "LOGOSIM_DATA_DIR": str(tmp / f"data-{mode}")}
    cmd = [sys.executable, "-m", "scrapy.cmdline", "crawl", "logos", "-a", f"domains={domains}",
           "-s", "LOG_LEVEL=INFO", "-s", f"LOGOSIM_BROWSER={mode}"]
    peak, done = [0.0], threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], chromium_rss_mib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    done.set()
    if result.returncode != 0:
        sys.exit(result.stderr[-3000:])
    records = read_manifest(tmp / f"data-{mode}" / "manifest.jsonl").records
    right = {d: d in records and t.status == records[d].status and (t.status != "ok" or t.matches(records[d].logo_url))
             for d, t in web.truth.items()}
    scripted = [d for d, t in web.truth.items() if t.kind in SCRIPTED_KINDS]
    stat = dict(re.findall(r"'(playwright/page_count|playwright/request_count/aborted|logosim/browser/rendered)': (\d+)",
                           result.stderr))
    pages = int(stat.get("playwright/page_count", 0))
    print(f"== LOGOSIM_BROWSER={mode}: {len(web.truth)} sites in {seconds:.1f} s")
    print(f"  right logo        {sum(right.values())}/{len(right)}; script-built {sum(right[d] for d in scripted)}/"
          f"{len(scripted)}; ordinary {sum(v for d, v in right.items() if d not in scripted)}/"
          f"{len(right) - len(scripted)}")
    print(f"  pages rendered    {pages} ({pages / seconds:.2f} pages/s over the whole crawl), "
          f"browser requests refused {stat.get('playwright/request_count/aborted', 0)}")
    print(f"  Chromium peak RSS {peak[0]:.0f} MiB (all its processes, sampled every 0.2 s)"
          + (f", {peak[0] / min(pages, 4):.0f} MiB a page at the 4 pages' bound" if pages else ""))
    hits = canary.read_text() if canary.exists() else ""
    print(f"  private addresses reached: {len(hits.splitlines())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scripted", type=int, default=22)
    parser.add_argument("--ordinary", type=int, default=19)
    parser.add_argument("--seed", type=int, default=31)
    args = parser.parse_args()
    kinds = [SCRIPTED_KINDS[i % len(SCRIPTED_KINDS)] for i in range(args.scripted)]
    kinds += [PLACEMENT_KINDS[i % len(PLACEMENT_KINDS)] for i in range(args.ordinary)]
    with tempfile.TemporaryDirectory() as tmp:
        canary = Path(tmp) / "canary.log"
        with FixtureWeb(sites=len(kinds), seed=args.seed, kinds=kinds, canary=canary) as web:
            for mode in ("auto", "never"):
                run(web, Path(tmp), mode, canary)


if __name__ == "__main__":
    main()
