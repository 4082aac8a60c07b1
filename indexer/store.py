"""LogoStore: one facade over Qdrant, embedded on disk by default or a server when a URL is given.

The collection is a public interface (users query it over HTTP): named vector ``resnet50`` (2048-d,
cosine), point id = UUIDv5 of the domain (see ``indexer.ids``), payload fields listed in PAYLOAD_FIELDS.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import StoreError
from indexer.edge import EdgeClient
from indexer.ids import point_id

VECTOR_NAME = "resnet50"
VECTOR_SIZE = 2048
DEFAULT_COLLECTION = "logos"
PAYLOAD_FIELDS = (
    "domain", "logo_url", "source", "sha256", "phash", "width", "height", "logo_path", "fetched_at", "model",
    "warning",
)
KEYWORD_INDEXES = ("domain", "sha256")
UPSERT_BATCH = 256
EMBEDDED_ENV = "LOGOSIM_EMBEDDED"
EMBEDDED_BACKENDS = ("local", "edge")  # qdrant-client's local mode, or Qdrant Edge (indexer/edge.py)


@dataclass
class StoreConfig:
    """Where the vectors live. ``url`` (or env QDRANT_URL) selects a server; else embedded under ``path``."""

    path: Path | None = None
    url: str | None = None
    api_key: str | None = None
    collection: str = DEFAULT_COLLECTION
    vector_size: int = VECTOR_SIZE
    extra: dict[str, Any] = field(default_factory=dict)
    embedded: str = "edge"  # which embedded backend when there is no url: one of EMBEDDED_BACKENDS

    @classmethod
    def resolve(cls, data_root: Path, url: str | None = None, collection: str = DEFAULT_COLLECTION,
                api_key: str | None = None, embedded: str | None = None) -> StoreConfig:
        url = url or os.environ.get("QDRANT_URL") or None
        api_key = api_key or os.environ.get("QDRANT_API_KEY") or None
        embedded = embedded or os.environ.get(EMBEDDED_ENV) or "edge"
        if api_key and not url:
            raise StoreError("QDRANT_API_KEY is set but no Qdrant URL: pass --qdrant-url or set QDRANT_URL")
        if embedded not in EMBEDDED_BACKENDS:
            raise StoreError(f"unknown embedded backend '{embedded}': use one of {', '.join(EMBEDDED_BACKENDS)}")
        return cls(path=None if url else data_root / "qdrant", url=url, api_key=api_key, collection=collection,
                   embedded=embedded)

    @property
    def where(self) -> str:
        if self.url:
            return self.url
        return f"embedded Qdrant{' Edge' if self.embedded == 'edge' else ''} at {self.path}"


@dataclass
class StoredPoint:
    domain: str
    payload: dict[str, Any]
    vector: np.ndarray | None = None
    score: float | None = None


class LogoStore:
    """Open once, use, close. All methods are keyed by domain; ids never leak to callers."""

    def __init__(self, config: StoreConfig) -> None:
        from qdrant_client import QdrantClient

        self.config = config
        self.collection = config.collection
        try:
            if config.url:
                self.client = QdrantClient(url=config.url, api_key=config.api_key, timeout=30)
                self.client.get_collections()  # fail now, in one line, if the server is unreachable
            else:
                assert config.path is not None
                config.path.mkdir(parents=True, exist_ok=True)
                self.client = self._embedded_client(config)
        except StoreError:
            raise
        except Exception as exc:  # connection refused, lock held, bad URL...
            raise StoreError(f"cannot open {config.where}: {_one_line(exc)}") from None

    @staticmethod
    def _embedded_client(config: StoreConfig) -> Any:
        if config.embedded == "edge":
            from indexer.edge import EdgeClient

            return EdgeClient(config.path, config.collection)  # type: ignore[arg-type]
        if config.embedded != "local":
            raise StoreError(f"unknown embedded backend '{config.embedded}': use one of {', '.join(EMBEDDED_BACKENDS)}")
        from qdrant_client import QdrantClient

        return QdrantClient(path=str(config.path))

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        try:
            self.client.close()
        except Exception:
            pass

    def __enter__(self) -> LogoStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_embedded(self) -> bool:
        return not self.config.url

    # -- schema ----------------------------------------------------------------------------------
    def exists(self) -> bool:
        return bool(self.client.collection_exists(self.collection))

    def ensure_collection(self) -> None:
        """Create the collection and its payload indexes, or check that an existing one matches."""
        from qdrant_client import models

        indexed: set[str] = set()
        if self.exists():
            info = self.client.get_collection(self.collection)
            self._check_schema(info)
            indexed = set(getattr(info, "payload_schema", None) or {})
        else:
            self.client.create_collection(
                self.collection,
                vectors_config={VECTOR_NAME: models.VectorParams(size=self.config.vector_size,
                                                                 distance=models.Distance.COSINE)},
            )
        if self.config.url or self.config.embedded == "edge":  # qdrant-client's local mode has none (it scans)
            for name in KEYWORD_INDEXES:
                if name not in indexed:  # also on a collection made before the index existed
                    self.client.create_payload_index(self.collection, name, models.PayloadSchemaType.KEYWORD)

    def _check_schema(self, info: Any) -> None:
        vectors = info.config.params.vectors
        params = vectors.get(VECTOR_NAME) if isinstance(vectors, dict) else None
        if params is None:
            raise StoreError(
                f"collection '{self.collection}' in {self.config.where} has no vector named '{VECTOR_NAME}'; "
                "use another --collection or delete it"
            )
        if params.size != self.config.vector_size:
            raise StoreError(
                f"collection '{self.collection}' holds {params.size}-d vectors, this model makes "
                f"{self.config.vector_size}-d; use another --collection or delete it"
            )

    def count(self) -> int:
        if not self.exists():
            return 0
        return int(self.client.count(self.collection, exact=True).count)

    # -- writes ----------------------------------------------------------------------------------
    def upsert(self, items: Sequence[tuple[dict[str, Any], np.ndarray]]) -> None:
        """Each item is (payload with a 'domain' key, vector); the point id is derived from the domain."""
        from qdrant_client import models

        for start in range(0, len(items), UPSERT_BATCH):
            batch = items[start:start + UPSERT_BATCH]
            if isinstance(self.client, EdgeClient):
                rows = np.asarray([vector for _, vector in batch], dtype=np.float32).tolist()
                self.client.upsert_rows(self.collection, [
                    (point_id(payload["domain"]), {VECTOR_NAME: row}, payload)
                    for (payload, _), row in zip(batch, rows, strict=True)
                ])
                continue
            points = [
                models.PointStruct(id=point_id(payload["domain"]), payload=payload,
                                   vector={VECTOR_NAME: np.asarray(vector, dtype=np.float32).tolist()})
                for payload, vector in batch
            ]
            self.client.upsert(self.collection, points=points, wait=True)

    def delete(self, domains: Iterable[str]) -> None:
        from qdrant_client import models

        ids = [point_id(domain) for domain in domains]
        if ids:
            self.client.delete(self.collection, points_selector=models.PointIdsList(points=ids), wait=True)

    def set_payload(self, domains: Sequence[str], values: dict[str, Any]) -> None:
        """Same payload values for many domains at once (e.g. one cluster label)."""
        if domains:
            self.client.set_payload(self.collection, payload=values,
                                    points=[point_id(domain) for domain in domains], wait=True)

    # -- reads -----------------------------------------------------------------------------------
    def get(self, domains: Sequence[str], with_vectors: bool = False) -> dict[str, StoredPoint]:
        if not domains or not self.exists():
            return {}
        records = self.client.retrieve(self.collection, ids=[point_id(d) for d in domains],
                                       with_payload=True, with_vectors=[VECTOR_NAME] if with_vectors else False)
        return {r.payload["domain"]: _point(r) for r in records if r.payload}

    def scroll(self, with_vectors: bool = True, batch: int = 1024) -> Iterator[StoredPoint]:
        """Every point, batched; vectors as float32 arrays."""
        if not self.exists():
            return
        offset = None
        while True:
            records, offset = self.client.scroll(self.collection, limit=batch, offset=offset, with_payload=True,
                                                 with_vectors=[VECTOR_NAME] if with_vectors else False)
            for record in records:
                yield _point(record)
            if offset is None:
                break

    def search(self, vector: np.ndarray, limit: int = 10, exclude: str | None = None,
               min_score: float | None = None) -> list[StoredPoint]:
        from qdrant_client import models

        query_filter = None
        if exclude is not None:
            query_filter = models.Filter(must_not=[models.HasIdCondition(has_id=[point_id(exclude)])])
        result = self.client.query_points(self.collection, query=np.asarray(vector, dtype=np.float32).tolist(),
                                          using=VECTOR_NAME, limit=limit, query_filter=query_filter,
                                          score_threshold=min_score, with_payload=True)
        return [_point(p) for p in result.points]


def _point(record: Any) -> StoredPoint:
    vector = None
    raw = getattr(record, "vector", None)
    if isinstance(raw, dict) and VECTOR_NAME in raw:
        vector = np.asarray(raw[VECTOR_NAME], dtype=np.float32)
    payload = dict(record.payload or {})
    return StoredPoint(domain=payload.get("domain", ""), payload=payload, vector=vector,
                       score=getattr(record, "score", None))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0] if text else ''}"[:300]
