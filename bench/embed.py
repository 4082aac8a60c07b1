"""Benchmark: end-to-end indexing rate (PNG files -> vectors in Qdrant) against the model's own forward rate.

    .venv/bin/python bench/embed.py --device cpu --workers 0 1 2 --synthetic 96 --real 96
    .venv/bin/python bench/embed.py --device cuda --batch-size 256 --workers 4 8 --synthetic 4096 --real 3000

Where ../shared is absent (a lent GPU machine), import the real logos here first and carry the folder:

    .venv/bin/python bench/embed.py --real 3000 --keep-real .devdata/real
    python3 bench/embed.py --device cuda ... --real-data .devdata/real
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.datadir import DataDir  # noqa: E402
from common.errors import LogosimError  # noqa: E402
from convert.importer import import_folder  # noqa: E402
from indexer.model import Embedder  # noqa: E402
from indexer.runner import default_workers, index_data_dir  # noqa: E402
from indexer.store import StoreConfig  # noqa: E402
from indexer.synthetic import make_data_dir  # noqa: E402

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real-logos"


def model_rate(embedder: Embedder, batches: int) -> float:
    """Images/s of the forward pass alone (normalisation on the device included, as the indexer sends uint8
    pixels), on random pixels already in host memory."""
    batch = torch.randint(0, 256, (embedder.batch_size, 3, 224, 224), dtype=torch.uint8)
    if embedder.device.type == "cuda":
        batch = batch.pin_memory()
    embedder.embed_tensors(batch)  # warm-up: kernel selection, allocator
    started = time.perf_counter()
    for _ in range(batches):
        embedder.embed_tensors(batch)  # returns numpy: the device is synchronised
    return batches * embedder.batch_size / (time.perf_counter() - started)


def decode_ms(data_dir: DataDir, limit: int = 300) -> float:
    """Milliseconds per logo to decode and preprocess on one core (what each DataLoader worker does): with W
    workers the loader cannot deliver more than W * 1000 / this logos/s."""
    from common.manifest import iter_ok, read_manifest
    from indexer.dataset import read_one

    records = list(iter_ok(read_manifest(data_dir.manifest).records))[:limit]
    paths = [(r.domain, data_dir.root / r.logo_path) for r in records if r.logo_path]
    for _, path in paths:
        path.read_bytes()  # the page cache, as in a steady run
    started = time.perf_counter()
    for domain, path in paths:
        read_one(domain, path)
    return 1000 * (time.perf_counter() - started) / max(len(paths), 1)


def upsert_ms(batch_size: int, embedded: str, batches: int = 5) -> float:
    """Milliseconds to upsert one batch of unit vectors with full payloads into a fresh embedded store."""
    import numpy as np

    from indexer.store import LogoStore

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="bench-upsert-") as tmp, \
            LogoStore(StoreConfig(path=Path(tmp), embedded=embedded)) as store:
        store.ensure_collection()
        items = []
        for k in range(batches + 1):
            vectors = rng.standard_normal((batch_size, 2048)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            items.append([({"domain": f"site{k}-{i}.example", "logo_url": f"https://site{k}-{i}.example/logo.svg",
                            "source": "img", "sha256": "ab" * 32, "phash": "c3a5" * 4, "width": 512, "height": 170,
                            "logo_path": f"logos/site{k}-{i}.example.png", "fetched_at": "2026-11-24T00:00:00+00:00",
                            "model": "resnet50/random-seed0", "warning": None}, vector)
                          for i, vector in enumerate(vectors)])
        store.upsert(items[0])  # warm-up
        started = time.perf_counter()
        for batch in items[1:]:
            store.upsert(batch)
        return 1000 * (time.perf_counter() - started) / batches


def real_data_dir(root: Path, limit: int) -> DataDir | None:
    """The first ``limit`` shared real logo files (sorted), imported as a crawl would have written them."""
    if not REAL.is_dir():
        return None
    picked = root / "picked"
    picked.mkdir(parents=True)
    for path in sorted(p for p in (REAL / "logos").iterdir() if p.is_file())[:limit]:
        shutil.copyfile(path, picked / path.name)  # copies: import refuses links that leave its folder
    data_dir = DataDir(root / "data")
    import_folder(picked, data_dir)
    return data_dir


def end_to_end(data_dir: DataDir, args: argparse.Namespace, workers: int) -> tuple[float, float, int]:
    """(overall logos/s, steady logos/s after the first batch, logos indexed) through index_data_dir."""
    stamps: list[tuple[float, int]] = []
    with tempfile.TemporaryDirectory(prefix="bench-qdrant-") as tmp:
        started = time.perf_counter()
        config = StoreConfig(path=Path(tmp), embedded=args.embedded)
        summary = index_data_dir(data_dir, config, weights=args.weights, device=args.device,
                                 batch_size=args.batch_size, force=True, workers=workers,
                                 progress=lambda done, total: stamps.append((time.perf_counter(), done)))
        overall = summary.indexed / (time.perf_counter() - started)
    steady = overall
    if len(stamps) > 2:
        # Batch k is reported once stored: right after its own forward pass, or (with the writer thread of
        # a GPU) after batch k+1's, but the last one always right after its own. Either way, between the
        # first and the next-to-last report lie exactly as many forward passes as batches counted.
        (first_t, first_n), (last_t, last_n) = stamps[0], stamps[-2]
        steady = (last_n - first_n) / (last_t - first_t)
    return overall, steady, summary.indexed


def peak_memory(device: torch.device) -> str:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    text = f"peak RSS {own:.0f} MB (largest worker {children:.0f} MB)"
    if device.type == "cuda":
        text += f", peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MB"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--weights", default="random", help="random (default: offline machines), imagenet or PATH")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--workers", type=int, nargs="+", default=None, help="DataLoader workers to compare")
    parser.add_argument("--synthetic", type=int, default=96, help="synthetic logos (0 to skip)")
    parser.add_argument("--real", type=int, default=96, help="real logos from ../shared/data (0 to skip)")
    parser.add_argument("--real-data", type=Path, default=None,
                        help="an already imported data folder of real logos (a machine without ../shared), "
                             "used instead of --real; made here with --keep-real")
    parser.add_argument("--keep-real", type=Path, default=None,
                        help="import the --real logos into this data folder, keep it and stop")
    parser.add_argument("--embedded", default="edge", choices=["local", "edge"], help="embedded Qdrant backend")
    parser.add_argument("--model-batches", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the sweep, re-measuring the model each round (noisy shared machines)")
    args = parser.parse_args()

    if args.keep_real:
        with tempfile.TemporaryDirectory(prefix="bench-embed-") as tmp:
            kept = real_data_dir(Path(tmp), args.real)
            if kept is None:
                sys.exit(f"error: {REAL} absent")
            shutil.copytree(kept.root, args.keep_real)
        print(f"{args.keep_real}: {args.real} real logos imported")
        return

    embedder = Embedder(args.weights, args.device, args.batch_size)
    args.batch_size = embedder.batch_size
    print(f"device {embedder.device_label}, precision {embedder.precision}, batch {embedder.batch_size}, "
          f"torch threads {torch.get_num_threads()}, model {embedder.name}, load {os.getloadavg()[0]:.1f}")

    with tempfile.TemporaryDirectory(prefix="bench-embed-") as tmp:
        sets = {}
        if args.synthetic:
            sets["synthetic"] = make_data_dir(Path(tmp) / "synthetic", args.synthetic)[0]
        if args.real_data:
            sets["real"] = DataDir(args.real_data)
        elif args.real:
            real = real_data_dir(Path(tmp) / "real", args.real)
            if real is None:
                print(f"real logos: {REAL} absent, skipped")
            else:
                sets["real"] = real
        for round_ in range(1, args.rounds + 1):
            # The model rate is measured next to the runs it is compared with: others may share the machine.
            model = model_rate(embedder, args.model_batches)
            print(f"round {round_}: model only (random pixels) {model:.1f} img/s, load {os.getloadavg()[0]:.1f}")
            if round_ == 1:  # the parts beside the model: each caps the end-to-end rate on its own
                for label, data_dir in sets.items():
                    ms = decode_ms(data_dir)
                    print(f"  {label:9} decode+preprocess {ms:.2f} ms/logo on one core: at most "
                          f"{1000 / ms:.0f} logos/s per DataLoader worker")
                upsert = upsert_ms(embedder.batch_size, args.embedded)
                print(f"  upsert ({args.embedded}) {upsert:.1f} ms per batch of {embedder.batch_size}: at most "
                      f"{1000 * embedder.batch_size / upsert:.0f} logos/s (on a GPU, overlapped with the next forward pass)")
            for workers in args.workers or [default_workers(embedder.device)]:
                for label, data_dir in sets.items():
                    overall, steady, count = end_to_end(data_dir, args, workers)
                    # On a shared machine the model's own rate drifts by 10 % within minutes: compare each run
                    # with the mean of the model measured just before and just after it.
                    after = model_rate(embedder, args.model_batches)
                    reference = (model + after) / 2
                    print(f"  {label:9} workers={workers}: {count} logos, {overall:.1f} logos/s overall, "
                          f"{steady:.1f} steady = {100 * steady / reference:.0f}% of model-only "
                          f"({model:.1f} before, {after:.1f} after)", flush=True)
                    model = after
    print(peak_memory(embedder.device))


if __name__ == "__main__":
    try:
        main()
    except LogosimError as exc:
        sys.exit(f"error: {exc}")
