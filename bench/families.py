"""Brand families through the real pipeline: `logosim import` of the generated files, `index` with the given
weights, `cluster`; pairwise precision and recall against the families' truth, and each wrong pair's evidence.

    python bench/families.py --brands 12 --loners 30 --weights random
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.datadir import DataDir  # noqa: E402
from convert.importer import import_folder  # noqa: E402
from fixtureweb.families import pair_scores, write_families  # noqa: E402
from indexer.runner import index_data_dir  # noqa: E402
from indexer.store import LogoStore, StoreConfig  # noqa: E402
from search.cluster import cluster_store  # noqa: E402


def import_and_index(root: Path, weights: str) -> tuple[DataDir, StoreConfig]:
    """`logosim import` of ROOT/files into ROOT/data, then `index` with ``weights`` on the CPU."""
    data = DataDir(root / "data")
    with data.locked("import"):
        import_folder(root / "files", data, workers=1)
    config = StoreConfig(path=data.qdrant)
    index_data_dir(data, config, weights=weights, device="cpu", workers=0)
    return data, config


def run(root: Path, brands: int, loners: int, weights: str, seed: int = 0):
    truth = write_families(root / "files", brands, loners, seed)
    _data, config = import_and_index(root, weights)
    with LogoStore(config) as store:
        result = cluster_store(store)
    return truth, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--brands", type=int, default=12)
    parser.add_argument("--loners", type=int, default=30)
    parser.add_argument("--weights", default="random")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        truth, result = run(Path(tmp), args.brands, args.loners, args.weights, args.seed)
    precision, recall, found, wanted = pair_scores(truth, result.groups)
    print(f"{len(truth)} domains: pairwise precision {precision:.3f}, recall {recall:.3f} "
          f"({found} pairs put together, {wanted} belong together) in {time.perf_counter() - started:.0f} s")
    print("embedding tier:", result.params.calibration)
    for domain in sorted(truth):
        if result.labels.get(domain, -1) < 0 and not domain.startswith("solo"):
            print("  left out:", domain)
    by_brand: dict[str, set[int]] = {}
    for domain, brand in truth.items():
        by_brand.setdefault(brand, set()).add(result.labels.get(domain, -1))
    for brand, labels in sorted(by_brand.items()):
        if len(labels) > 1:
            parts = {label: [d for d in truth if truth[d] == brand and result.labels.get(d) == label]
                     for label in sorted(labels)}
            print(f"  split {brand}: {parts}")
    for label, members in result.groups.items():
        brands = {truth[d] for d in members}
        if len(brands) > 1:
            print(f"  mixed group {label}: " + ", ".join(f"{d} ({result.evidence.get(d)})" for d in members))


if __name__ == "__main__":
    main()
