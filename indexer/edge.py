"""EdgeBackend: a StoreBackend over Qdrant Edge, the default embedded store (one Edge shard per collection).

The shard lives under ``<path>/edge/<collection>``. Edge is pre-1.0 (qdrant-edge-py 0.9): every call into
``qdrant_edge`` lives in this module, so an API change touches one file.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexer.backend import Point, Row, Schema, StoreBackend, as_vector

CONFIG_FILE = "edge_config.json"  # written by Edge itself; the only place it states each vector's size


class EdgeBackend(StoreBackend):
    """Holds the opened shard, which locks its folder: a second process fails at open, in one line."""

    def __init__(self, path: Path, collection: str, vector_name: str, where: str) -> None:
        import qdrant_edge  # noqa: F401  (fail here, where LogoStore's opener turns it into one StoreError line)

        super().__init__(collection, vector_name, where)
        self.folder = path / "edge" / collection
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        self._opened: Any = None
        if self.exists():
            self._shard()  # take the lock now rather than at the first read

    def _shard(self) -> Any:
        import qdrant_edge as qe

        if self._opened is None:
            if not self.exists():
                raise ValueError(f"collection {self.collection} does not exist")
            self._opened = qe.EdgeShard.load(str(self.folder))
        return self._opened

    def _update(self, operation: Any) -> None:
        self._shard().update(operation)

    # -- schema ----------------------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.folder / CONFIG_FILE).is_file()

    def describe(self) -> Schema:
        stored = json.loads((self.folder / CONFIG_FILE).read_text(encoding="utf-8"))
        sizes = {name: int(params["size"]) for name, params in stored.get("vectors", {}).items()}
        return Schema(vectors=sizes, indexed=frozenset(self._shard().info().payload_schema))

    def create(self, size: int) -> None:
        import qdrant_edge as qe

        vectors = {self.vector_name: qe.EdgeVectorParams(size=size, distance=qe.Distance.Cosine)}
        self._opened = qe.EdgeShard.create(str(self.folder), qe.EdgeConfig(vectors=vectors))

    def create_keyword_index(self, name: str) -> None:
        import qdrant_edge as qe

        # Filters on an indexed field stop scanning every payload (the README's by-domain lookups).
        self._update(qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Keyword))

    def drop(self) -> None:
        if self._opened is not None:
            self._opened.close()
            self._opened = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def count(self) -> int:
        import qdrant_edge as qe

        return int(self._shard().count(qe.CountRequest(exact=True)))

    # -- writes ----------------------------------------------------------------------------------
    def upsert(self, rows: Sequence[Row]) -> None:
        import qdrant_edge as qe

        # Plain lists straight into Edge's points, no pydantic models in between: for 256 points of 2048-d
        # that skips ~15 ms of validation per batch.
        points = [qe.Point(id_, {self.vector_name: np.asarray(vector, dtype=np.float32).tolist()}, payload)
                  for id_, vector, payload in rows]
        self._update(qe.UpdateOperation.upsert_points(points))

    def delete(self, ids: Sequence[str]) -> None:
        import qdrant_edge as qe

        self._update(qe.UpdateOperation.delete_points(list(ids)))

    def set_payload(self, ids: Sequence[str], values: dict[str, Any]) -> None:
        import qdrant_edge as qe

        self._update(qe.UpdateOperation.set_payload(list(ids), values))

    # -- reads -----------------------------------------------------------------------------------
    def retrieve(self, ids: Sequence[str], with_vectors: bool = False) -> list[Point]:
        records = self._shard().retrieve(list(ids), with_payload=True, with_vector=self._vectors(with_vectors))
        return [self._point(record) for record in records]

    def scroll(self, batch: int, with_vectors: bool = True) -> Iterator[Point]:
        import qdrant_edge as qe

        offset = None
        while True:
            request = qe.ScrollRequest(offset=offset, limit=batch, with_payload=True,
                                       with_vector=self._vectors(with_vectors))
            records, offset = self._shard().scroll(request)
            yield from (self._point(record) for record in records)
            if offset is None:
                return

    def query(self, vector: np.ndarray, limit: int, exclude_id: str | None = None,
              min_score: float | None = None) -> list[Point]:
        import qdrant_edge as qe

        exclude = qe.Filter(must_not=[qe.HasIdCondition({exclude_id})]) if exclude_id is not None else None
        # Exact search: a logo set is small enough to scan, and the answer then equals local mode's.
        request = qe.QueryRequest(limit=limit, filter=exclude, score_threshold=min_score, with_payload=True,
                                  query=qe.Query.Nearest(np.asarray(vector, dtype=np.float32).tolist(),
                                                         using=self.vector_name),
                                  params=qe.SearchParams(exact=True))
        return [self._point(point) for point in self._shard().query(request)]

    def close(self) -> None:
        if self._opened is not None:
            self._opened.flush()
            self._opened.close()
            self._opened = None

    def _vectors(self, wanted: bool) -> list[str] | bool:
        return [self.vector_name] if wanted else False

    def _point(self, record: Any) -> Point:
        vectors = record.vector if isinstance(record.vector, dict) else {}
        return Point(id=str(record.id), payload=dict(record.payload or {}),
                     vector=as_vector(vectors.get(self.vector_name)), score=getattr(record, "score", None))
