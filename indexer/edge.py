"""Qdrant Edge as LogoStore's second embedded backend: the slice of QdrantClient's API that LogoStore uses.

One Edge shard per collection under ``<path>/edge/<collection>``. Edge is pre-1.0 (qdrant-edge-py 0.9): every
call into it lives in this module, so an API change touches one file. Requests take qdrant_client.models
objects (what LogoStore builds) and answers mimic qdrant_client's (``.points``, ``.count``, ``.config``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

CONFIG_FILE = "edge_config.json"


class EdgeClient:
    """Holds the opened shards (each locks its folder: a second process gets a clear error)."""

    def __init__(self, path: Path, collection: str | None = None) -> None:
        import qdrant_edge  # noqa: F401  (fail here, where LogoStore turns it into one StoreError line)

        self.root = path / "edge"
        self.root.mkdir(parents=True, exist_ok=True)
        self._shards: dict[str, Any] = {}
        if collection and self.collection_exists(collection):
            self._shard(collection)  # take the shard's lock now: a folder in use fails at open, in one line

    # -- shards ---------------------------------------------------------------------------------
    def _folder(self, name: str) -> Path:
        return self.root / name

    def _shard(self, name: str) -> Any:
        import qdrant_edge as qe

        if name not in self._shards:
            if not self.collection_exists(name):
                raise ValueError(f"collection {name} does not exist")
            self._shards[name] = qe.EdgeShard.load(str(self._folder(name)))
        return self._shards[name]

    def close(self) -> None:
        for shard in self._shards.values():
            shard.flush()
            shard.close()
        self._shards.clear()

    # -- collections ----------------------------------------------------------------------------
    def collection_exists(self, name: str) -> bool:
        return (self._folder(name) / CONFIG_FILE).is_file()

    def create_collection(self, name: str, vectors_config: dict[str, Any]) -> None:
        import qdrant_edge as qe

        vectors = {key: qe.EdgeVectorParams(size=params.size, distance=qe.Distance.Cosine)
                   for key, params in vectors_config.items()}
        self._shards[name] = qe.EdgeShard.create(str(self._folder(name)), qe.EdgeConfig(vectors=vectors))

    def get_collection(self, name: str) -> SimpleNamespace:
        """Only what LogoStore checks: the named vectors' sizes (from the shard's own config file) and which
        payload fields are indexed."""
        stored = json.loads((self._folder(name) / CONFIG_FILE).read_text(encoding="utf-8"))
        vectors = {key: SimpleNamespace(size=value["size"], distance=value.get("distance"))
                   for key, value in stored.get("vectors", {}).items()}
        return SimpleNamespace(config=SimpleNamespace(params=SimpleNamespace(vectors=vectors)),
                               payload_schema=dict(self._shard(name).info().payload_schema))

    def create_payload_index(self, name: str, field_name: str, field_schema: Any = None, wait: bool = True) -> None:
        """A keyword index (the only kind LogoStore asks for): filters on it stop scanning every payload."""
        import qdrant_edge as qe

        self._shard(name).update(qe.UpdateOperation.create_field_index(field_name, qe.PayloadSchemaType.Keyword))

    def delete_collection(self, name: str) -> None:
        shard = self._shards.pop(name, None)
        if shard is not None:
            shard.close()
        shutil.rmtree(self._folder(name), ignore_errors=True)

    def count(self, name: str, exact: bool = True) -> SimpleNamespace:
        import qdrant_edge as qe

        return SimpleNamespace(count=self._shard(name).count(qe.CountRequest(exact=exact)))

    # -- writes ---------------------------------------------------------------------------------
    def upsert_rows(self, name: str, rows: list[tuple[str, dict[str, list[float]], dict[str, Any]]]) -> None:
        """(id, {vector name: list of floats}, payload) rows, without pydantic models in between: for 256
        points of 2048-d that skips ~15 ms of validation (LogoStore.upsert uses this directly)."""
        import qdrant_edge as qe

        self._shard(name).update(qe.UpdateOperation.upsert_points([qe.Point(*row) for row in rows]))

    def delete(self, name: str, points_selector: Any, wait: bool = True) -> None:
        import qdrant_edge as qe

        self._shard(name).update(qe.UpdateOperation.delete_points(list(points_selector.points)))

    def set_payload(self, name: str, payload: dict[str, Any], points: list[Any], wait: bool = True) -> None:
        import qdrant_edge as qe

        self._shard(name).update(qe.UpdateOperation.set_payload(list(points), payload))

    # -- reads ----------------------------------------------------------------------------------
    def retrieve(self, name: str, ids: list[Any], with_payload: bool = True,
                 with_vectors: bool | list[str] = False) -> list[Any]:
        return self._shard(name).retrieve(list(ids), with_payload=with_payload, with_vector=with_vectors)

    def scroll(self, name: str, limit: int = 10, offset: Any = None, with_payload: bool = True,
               with_vectors: bool | list[str] = False) -> tuple[list[Any], Any]:
        import qdrant_edge as qe

        request = qe.ScrollRequest(offset=offset, limit=limit, with_payload=with_payload, with_vector=with_vectors)
        return self._shard(name).scroll(request)

    def query_points(self, name: str, query: list[float], using: str, limit: int = 10,
                     query_filter: Any = None, score_threshold: float | None = None,
                     with_payload: bool = True) -> SimpleNamespace:
        import qdrant_edge as qe

        request = qe.QueryRequest(limit=limit, query=qe.Query.Nearest(list(query), using=using),
                                  filter=_filter(query_filter), score_threshold=score_threshold,
                                  with_payload=with_payload, params=qe.SearchParams(exact=True))
        return SimpleNamespace(points=self._shard(name).query(request))


def _filter(query_filter: Any) -> Any:
    """Translate the one filter shape LogoStore builds: must_not HasIdCondition (exclude a domain)."""
    import qdrant_edge as qe

    if query_filter is None:
        return None
    excluded: set[Any] = set()
    for condition in query_filter.must_not or []:
        if not hasattr(condition, "has_id") or query_filter.must or query_filter.should:
            raise NotImplementedError("the Edge backend translates only must_not has_id filters")
        excluded.update(condition.has_id)
    return qe.Filter(must_not=[qe.HasIdCondition(excluded)])
