"""Write every stored vector with its domain for other tools: npy (+ domains.json) or one parquet file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.datadir import atomic_write_bytes, atomic_write_text
from common.errors import LogosimError
from indexer.store import VECTOR_SIZE, LogoStore

FORMATS = ("npy", "parquet")
PARQUET_BATCH = 4096


def export_vectors(store: LogoStore, out: Path, fmt: str) -> int:
    """npy: ``out`` is a folder receiving vectors.npy (float32, N x 2048) and domains.json (same order).
    parquet: ``out`` is the file (``.parquet`` added when it has no suffix), columns domain, vector
    (list<float32>), cluster, sha256, model. Rows are sorted by domain. Returns the number of rows."""
    if fmt not in FORMATS:
        raise LogosimError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    return _npy(store, Path(out)) if fmt == "npy" else _parquet(store, Path(out))


def _rows(store: LogoStore) -> tuple[list[str], np.ndarray, list[dict]]:
    points = sorted((p for p in store.scroll(with_vectors=True) if p.vector is not None), key=lambda p: p.domain)
    dim = points[0].vector.shape[0] if points else VECTOR_SIZE  # type: ignore[union-attr]
    vectors = np.empty((len(points), dim), dtype=np.float32)
    for i, point in enumerate(points):
        vectors[i] = point.vector
    return [p.domain for p in points], vectors, [p.payload for p in points]


def _npy(store: LogoStore, folder: Path) -> int:
    if folder.exists() and not folder.is_dir():
        raise LogosimError(f"{folder} is a file; --format npy writes a folder (vectors.npy + domains.json)")
    domains, vectors, _ = _rows(store)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = _npy_bytes(vectors)
    atomic_write_bytes(folder / "vectors.npy", buffer)
    atomic_write_text(folder / "domains.json", json.dumps(domains, ensure_ascii=False) + "\n")
    return len(domains)


def _npy_bytes(vectors: np.ndarray) -> bytes:
    import io

    handle = io.BytesIO()
    np.save(handle, vectors, allow_pickle=False)
    return handle.getvalue()


def _parquet(store: LogoStore, path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.is_dir():
        path = path / "vectors.parquet"
    elif not path.suffix:
        path = path.with_suffix(".parquet")
    domains, vectors, payloads = _rows(store)
    dim = vectors.shape[1] if len(vectors) else VECTOR_SIZE
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    table = pa.table({
        "domain": pa.array(domains, type=pa.string()),
        "vector": pa.FixedSizeListArray.from_arrays(flat, dim).cast(pa.list_(pa.float32())),
        "cluster": pa.array([_int_or_none(p.get("cluster")) for p in payloads], type=pa.int64()),
        "sha256": pa.array([p.get("sha256") for p in payloads], type=pa.string()),
        "model": pa.array([p.get("model") for p in payloads], type=pa.string()),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, row_group_size=PARQUET_BATCH)
    tmp.replace(path)  # readers never see a half-written file
    return len(domains)


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
