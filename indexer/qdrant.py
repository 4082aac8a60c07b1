"""QdrantBackend: a StoreBackend over qdrant-client, for a Qdrant server or qdrant-client's local mode.

The one place that builds qdrant_client.models requests. The same class serves both because QdrantClient
already hides which it talks to; only ``keyword_indexes`` differs (local mode has no payload indexes: it
scans, and warns when asked for one).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models

from indexer.backend import Point, Row, Schema, StoreBackend, as_vector


class QdrantBackend(StoreBackend):
    def __init__(self, client: QdrantClient, collection: str, vector_name: str, where: str,
                 keyword_indexes: bool) -> None:
        super().__init__(collection, vector_name, where)
        self.client = client
        self.keyword_indexes = keyword_indexes

    @classmethod
    def server(cls, url: str, api_key: str | None, collection: str, vector_name: str) -> QdrantBackend:
        client = QdrantClient(url=url, api_key=api_key, timeout=30)
        client.get_collections()  # fail now, in one line, if the server is unreachable or refuses the key
        return cls(client, collection, vector_name, where=url, keyword_indexes=True)

    @classmethod
    def local(cls, path: str, collection: str, vector_name: str, where: str) -> QdrantBackend:
        return cls(QdrantClient(path=path), collection, vector_name, where, keyword_indexes=False)

    # -- schema ----------------------------------------------------------------------------------
    def exists(self) -> bool:
        return bool(self.client.collection_exists(self.collection))

    def describe(self) -> Schema:
        info = self.client.get_collection(self.collection)
        vectors = info.config.params.vectors
        sizes = {name: params.size for name, params in vectors.items()} if isinstance(vectors, dict) else {}
        return Schema(vectors=sizes, indexed=frozenset(info.payload_schema or {}))

    def create(self, size: int) -> None:
        self.client.create_collection(self.collection, vectors_config={
            self.vector_name: models.VectorParams(size=size, distance=models.Distance.COSINE)})

    def create_keyword_index(self, name: str) -> None:
        self.client.create_payload_index(self.collection, name, models.PayloadSchemaType.KEYWORD, wait=True)

    def drop(self) -> None:
        self.client.delete_collection(self.collection)

    def count(self) -> int:
        return int(self.client.count(self.collection, exact=True).count)

    # -- writes ----------------------------------------------------------------------------------
    def upsert(self, rows: Sequence[Row]) -> None:
        points = [models.PointStruct(id=id_, payload=payload,
                                     vector={self.vector_name: np.asarray(vector, dtype=np.float32).tolist()})
                  for id_, vector, payload in rows]
        self.client.upsert(self.collection, points=points, wait=True)

    def delete(self, ids: Sequence[str]) -> None:
        self.client.delete(self.collection, points_selector=models.PointIdsList(points=list(ids)), wait=True)

    def set_payload(self, ids: Sequence[str], values: dict[str, Any]) -> None:
        self.client.set_payload(self.collection, payload=values, points=list(ids), wait=True)

    # -- reads -----------------------------------------------------------------------------------
    def retrieve(self, ids: Sequence[str], with_vectors: bool = False) -> list[Point]:
        records = self.client.retrieve(self.collection, ids=list(ids), with_payload=True,
                                       with_vectors=self._vectors(with_vectors))
        return [self._point(record) for record in records]

    def scroll(self, batch: int, with_vectors: bool = True) -> Iterator[Point]:
        offset = None
        while True:
            records, offset = self.client.scroll(self.collection, limit=batch, offset=offset, with_payload=True,
                                                 with_vectors=self._vectors(with_vectors))
            yield from (self._point(record) for record in records)
            if offset is None:
                return

    def query(self, vector: np.ndarray, limit: int, exclude_id: str | None = None,
              min_score: float | None = None) -> list[Point]:
        query_filter = None
        if exclude_id is not None:
            query_filter = models.Filter(must_not=[models.HasIdCondition(has_id=[exclude_id])])
        result = self.client.query_points(self.collection, query=np.asarray(vector, dtype=np.float32).tolist(),
                                          using=self.vector_name, limit=limit, query_filter=query_filter,
                                          score_threshold=min_score, with_payload=True)
        return [self._point(point) for point in result.points]

    def close(self) -> None:
        self.client.close()

    def _vectors(self, wanted: bool) -> list[str] | bool:
        return [self.vector_name] if wanted else False

    def _point(self, record: models.Record | models.ScoredPoint) -> Point:
        vectors = record.vector if isinstance(record.vector, dict) else {}
        return Point(id=str(record.id), payload=dict(record.payload or {}),
                     vector=as_vector(vectors.get(self.vector_name)), score=getattr(record, "score", None))
