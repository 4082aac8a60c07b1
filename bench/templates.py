"""Template families through the real pipeline: `logosim import` of the generated files (fixtureweb.templates: one
generator, many companies' names and colours, each company in several variants), `index`, `cluster` with and
without the words' check; pairwise precision and recall against the companies, the OCR's cost, and the
normalised texts' similarity of the near pairs within a company and across companies (what calibrates
search.tiers' TEXT_* thresholds).

    python bench/templates.py --templates 6 --companies 6 --seed 0     # the calibration fixture
    python bench/templates.py --templates 6 --companies 6 --seed 1     # held out
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.families import import_and_index  # noqa: E402
from fixtureweb.families import pair_scores  # noqa: E402
from fixtureweb.templates import VARIANTS, write_templates  # noqa: E402
from indexer.store import LogoStore  # noqa: E402
from pipeline.stages import text_reader  # noqa: E402
from search import tiers  # noqa: E402
from search.cluster import cluster_store  # noqa: E402


def run(root: Path, templates: int, companies: int, seed: int = 0, variants: tuple[str, ...] = VARIANTS,
        read: bool = True, weights: str = "random"):
    """(truth, the clustering) of one template web; ``read``: with the words' check."""
    truth = write_templates(root / "files", templates, companies, seed, variants)
    data, config = import_and_index(root, weights)
    with LogoStore(config) as store:
        result = cluster_store(store, read_text=text_reader(data) if read else None)
    return truth, result


def text_similarities(truth: dict[str, str], result) -> tuple[list[float], list[float]]:
    """The normalised texts' similarity of each near-tier pair: within one company, across companies."""
    payloads = {p.domain: {**p.payload, **({"text": result.readings[p.domain]} if p.domain in result.readings
                                           else {})} for p in result.points}
    texts = {d: re.sub(r"[^0-9a-z]", "", str((p.get("text") or {}).get("text", "")).lower())
             for d, p in payloads.items()}
    same, other = [], []
    for a, b in itertools.combinations(sorted(payloads), 2):
        if tiers.NEAR.pair(payloads[a], payloads[b]) is None or not texts[a] or not texts[b]:
            continue
        ratio = difflib.SequenceMatcher(None, texts[a], texts[b], autojunk=False).ratio()
        (same if truth[a] == truth[b] else other).append(ratio)
    return same, other


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--templates", type=int, default=6)
    parser.add_argument("--companies", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", default="random")
    args = parser.parse_args()
    for read in (False, True):
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            truth, result = run(Path(tmp), args.templates, args.companies, args.seed, read=read,
                                weights=args.weights)
        precision, recall, found, wanted = pair_scores(truth, result.groups)
        print(f"{'with' if read else 'without'} the words' check: {len(truth)} domains, pairwise precision "
              f"{precision:.3f}, recall {recall:.3f} ({found} pairs put together, {wanted} belong together) in "
              f"{time.perf_counter() - started:.0f} s")
        if read:
            text = result.params.text
            print(f"  OCR: {text['read']} logos read in {text['seconds']:.1f} s "
                  f"({text['read'] / max(text['seconds'], 1e-9):.2f} logos/s), {text['vetoed']} pairs vetoed")
            same, other = text_similarities(truth, result)
            if same:
                print(f"  near pairs within a company: {len(same)}, text similarity min {min(same):.3f}")
            if other:
                print(f"  near pairs across companies: {len(other)}, text similarity max {max(other):.3f}")


if __name__ == "__main__":
    main()
