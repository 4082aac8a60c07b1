"""Benchmark: import the real logo corpus (../shared/data/real-logos/logos) into a temporary data folder.

Prints files/s, the ok share and the failure reasons, for each worker count asked for. Usage:

    .venv/bin/python bench/convert.py --workers 1 2 [--limit 500] [--src DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.datadir import DataDir  # noqa: E402
from common.manifest import read_manifest  # noqa: E402
from convert.importer import import_folder  # noqa: E402

DEFAULT_SRC = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real-logos" / "logos"


def _limited(src: Path, limit: int | None, into: Path) -> Path:
    """A folder of symlinks to the first ``limit`` files (sorted), so a quick run stays comparable."""
    if not limit:
        return src
    into.mkdir()
    for path in sorted(p for p in src.iterdir() if p.is_file())[:limit]:
        (into / path.name).symlink_to(path)
    return into


def run(src: Path, workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="logosim-bench-") as tmp:
        data = DataDir(Path(tmp) / "data")
        started = time.perf_counter()
        summary = import_folder(src, data, workers=workers)
        elapsed = time.perf_counter() - started
        records = read_manifest(data.manifest).records
        failed = sorted((r.domain, r.reason) for r in records.values() if r.status != "ok")
    return {
        "workers": workers, "files": summary.total, "seconds": round(elapsed, 1),
        "files_per_s": round(summary.total / elapsed, 1), "ok": summary.ok,
        "ok_pct": round(100 * summary.ok / max(summary.total, 1), 2), "failed": summary.failed,
        "reasons": summary.reasons, "warnings": summary.warnings,
        "failed_domains": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC)
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--limit", type=int, default=None, help="only the first N files (sorted)")
    args = parser.parse_args()
    if not args.src.is_dir():
        sys.exit(f"corpus not found: {args.src}")
    with tempfile.TemporaryDirectory(prefix="logosim-bench-src-") as tmp:
        src = _limited(args.src, args.limit, Path(tmp) / "src")
        for workers in args.workers:
            result = run(src, workers)
            print(f"workers={workers}: {result['files']} files in {result['seconds']} s = "
                  f"{result['files_per_s']} files/s; ok {result['ok']} ({result['ok_pct']} %); "
                  f"failed {result['failed']} {result['reasons']}")
            print(json.dumps(result["failed_domains"]))


if __name__ == "__main__":
    main()
